"""Options of the training sub-commands: declared once, resolved flag > environment > default.

Each training command (``label``, ``train-baselines``, ``relabel``, ``train-sft``) lists its
options as ``Opt`` records; ``add_options`` registers them through ``add_option`` so every
help line names its environment variable, and ``resolve`` fills what the user did not pass
from the environment, then from the default, and converts to the option's type.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from finfeed.commands._options import add_option


def parse_bool(value: str | bool) -> bool:
    if isinstance(value, bool):
        return value
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean, got {value!r}")


@dataclass(frozen=True)
class Opt:
    """One option: ``--dest-with-dashes``, its environment variable, type and default."""

    dest: str
    env: str
    help: str
    type: Callable[[str], Any] = str
    default: Any = None
    required: bool = False
    choices: Sequence[str] | None = None
    flag: bool = False  # a switch: present -> True (the environment takes 1/0, true/false)
    short: str | None = None


def add_options(parser: argparse.ArgumentParser, opts: Sequence[Opt]) -> None:
    for o in opts:
        flags = [o.short] if o.short else []
        flags.append("--" + o.dest.replace("_", "-"))
        text = o.help
        if o.required:
            text += " (required)"
        elif o.default is not None and not o.flag:
            text += f" (default {o.default})"
        kw: dict[str, Any] = {"dest": o.dest}
        if o.flag:
            kw.update(action="store_const", const=True)
        else:
            kw["type"] = o.type
            if o.choices:
                kw["choices"] = list(o.choices)
        add_option(parser, *flags, env=o.env, help=text, **kw)


def resolve(
    args: argparse.Namespace, opts: Sequence[Opt], parser: argparse.ArgumentParser | None = None
) -> argparse.Namespace:
    """A namespace with every option set: the flag, else the environment, else the default."""
    values = vars(args).copy()
    for o in opts:
        if values.get(o.dest) is not None:
            continue
        raw = os.environ.get(o.env)
        if raw is not None and raw != "":
            try:
                values[o.dest] = parse_bool(raw) if o.flag else o.type(raw)
            except (ValueError, argparse.ArgumentTypeError) as exc:
                raise SystemExit(f"{o.env}={raw!r}: {exc}") from exc
            if o.choices and values[o.dest] not in o.choices:
                raise SystemExit(f"{o.env}={raw!r}: choose from {list(o.choices)}")
        elif o.required:
            message = f"--{o.dest.replace('_', '-')} (or {o.env}) is required"
            if parser is not None:
                parser.error(message)
            raise SystemExit(message)
        else:
            values[o.dest] = bool(o.default) if o.flag else o.default
    return argparse.Namespace(**values)


def command(
    subparsers: Any,
    name: str,
    *,
    help: str,
    description: str,
    opts: Sequence[Opt],
    run: Callable[[argparse.Namespace], int],
) -> argparse.ArgumentParser:
    """Add a sub-command whose ``func`` resolves its options before calling ``run``."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name, help=help, description=description
    )
    add_options(parser, opts)

    def func(args: argparse.Namespace) -> int:
        return run(resolve(args, opts, parser))

    parser.set_defaults(func=func)
    return parser

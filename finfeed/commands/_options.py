"""Shared option helpers: every option shows the environment variable that sets it."""

from __future__ import annotations

import argparse
from typing import Any


def add_option(
    parser: argparse.ArgumentParser, *flags: str, env: str, help: str, **kw: Any
) -> None:
    """``add_argument`` whose help names ``env``; the default stays None so settings fill it."""
    kw.setdefault("default", None)
    parser.add_argument(*flags, help=f"{help} [env: {env}]", **kw)


def overrides(args: argparse.Namespace, **mapping: str) -> dict[str, Any]:
    """Settings keyword arguments from the flags the user gave (``field=attr``)."""
    out: dict[str, Any] = {}
    for field, attr in mapping.items():
        value = getattr(args, attr, None)
        if value is not None:
            out[field] = value
    return out


def add_classifier_options(parser: argparse.ArgumentParser) -> None:
    """--backend, --aspects, --aspects-file, --batch-size, --model-path, --sglang-url."""
    add_option(
        parser,
        "--backend",
        env="FINFEED_BACKEND",
        choices=["embedded", "transformers", "sglang"],
        help="classifier backend (default embedded)",
    )
    add_option(
        parser,
        "--aspects",
        env="FINFEED_ASPECTS",
        help="comma-separated aspects (default sentiment,forward_looking,prediction)",
    )
    add_option(
        parser,
        "--aspects-file",
        env="FINFEED_ASPECTS_FILE",
        help="YAML/JSON file declaring more aspects",
    )
    add_option(
        parser,
        "--batch-size",
        env="FINFEED_BATCH_SIZE",
        type=int,
        help="texts per classifier call (default 64)",
    )
    add_option(
        parser,
        "--model-paths",
        env="FINFEED_MODEL_PATHS",
        help="transformers backend: local model dir, or aspect=dir,aspect=dir",
    )
    add_option(
        parser, "--device", env="FINFEED_DEVICE", help="transformers backend: cpu, cuda, cuda:N"
    )
    add_option(parser, "--sglang-url", env="FINFEED_SGLANG_URL", help="SGLang server URL")
    add_option(
        parser,
        "--sglang-urls",
        env="FINFEED_SGLANG_URLS",
        help="one SGLang server per aspect: aspect=url,aspect=url (others use --sglang-url)",
    )
    add_option(
        parser,
        "--sglang-tokenizer",
        env="FINFEED_SGLANG_TOKENIZER_PATH",
        help="local tokenizer directory, needed by the generate and score modes",
    )
    add_option(
        parser,
        "--sglang-mode",
        env="FINFEED_SGLANG_MODE",
        choices=["chat", "generate", "score"],
        help="SGLang endpoint used for label probabilities (default chat)",
    )


def classifier_settings(args: argparse.Namespace) -> Any:
    from finfeed.settings import ClassifierSettings

    return ClassifierSettings(
        **overrides(
            args,
            backend="backend",
            aspects="aspects",
            aspects_file="aspects_file",
            batch_size="batch_size",
            model_paths="model_paths",
            device="device",
            sglang_url="sglang_url",
            sglang_mode="sglang_mode",
            sglang_urls="sglang_urls",
            sglang_tokenizer_path="sglang_tokenizer",
        )
    )

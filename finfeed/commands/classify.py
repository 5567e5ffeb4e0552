"""``finfeed classify``: score texts on aspects, one-off or over a JSON Lines file.

``finfeed classify "Apple beats estimates"`` prints each aspect's label and probabilities.
``finfeed classify --input in.jsonl --output out.jsonl`` reads ``{"id": ..., "text": ...}``
lines (other fields pass through) and writes one line per input line, in input order, with
every requested aspect keyed by name::

    {"id": "a1", "text": "...", "sentiment": {"label": "positive", "probs": {...},
     "model": "...", "model_version": "..."}, "forward_looking": {...}, "prediction": {...}}

A bad line (invalid JSON, not an object, missing / empty / non-string ``text``) becomes
``{"line": n, "id": ..., "error": {"reason": "...", "detail": "..."}}`` in its place; the run
goes on. Input is streamed in chunks of the batch size, so memory stays constant.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from finfeed.commands._options import add_classifier_options, add_option, classifier_settings

_LONG_INPUT_BYTES = 1 << 20  # show progress for inputs over 1 MiB even without a TTY


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "classify",
        help="score texts on aspects (sentiment, forward-looking, prediction)",
        description="Score texts given as arguments, or a JSON Lines file of {id, text} "
        "records, with the configured classifier backend.",
    )
    parser.add_argument("texts", nargs="*", metavar="TEXT", help="texts to score")
    add_option(
        parser,
        "--input",
        "-i",
        env="FINFEED_CLASSIFY_INPUT",
        help="JSON Lines file of {id, text, ...} records ('-' = stdin)",
    )
    add_option(
        parser,
        "--output",
        "-o",
        env="FINFEED_CLASSIFY_OUTPUT",
        help="where to write scored JSON Lines ('-' or absent = stdout)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print TEXT results as JSON lines, not bars"
    )
    add_classifier_options(parser)
    parser.set_defaults(func=run)


@dataclass(frozen=True, slots=True)
class ParsedLine:
    """One input line: a record to score, or the error record that replaces it."""

    line: int
    record: dict[str, Any] | None
    error: dict[str, Any] | None = None


def parse_line(n: int, raw: str, text_field: str = "text") -> ParsedLine:
    """Validate one JSON Lines record; problems become an error record, never an exception."""

    def bad(reason: str, detail: str, rec: Any = None) -> ParsedLine:
        rid = rec.get("id") if isinstance(rec, dict) else None
        return ParsedLine(
            n, None, {"line": n, "id": rid, "error": {"reason": reason, "detail": detail}}
        )

    if not raw.strip():
        return bad("blank_line", "the line is empty")
    try:
        rec = json.loads(raw)
    except ValueError as exc:
        return bad("invalid_json", str(exc))
    if not isinstance(rec, dict):
        return bad("not_an_object", f"expected a JSON object, got {type(rec).__name__}")
    if text_field not in rec:
        return bad("missing_text", f"no {text_field!r} field", rec)
    text = rec[text_field]
    if not isinstance(text, str):
        return bad("text_not_string", f"{text_field!r} is {type(text).__name__}", rec)
    if not text.strip():
        return bad("empty_text", f"{text_field!r} is empty", rec)
    return ParsedLine(n, rec)


def chunks(lines: Iterable[str], size: int) -> Iterator[list[ParsedLine]]:
    batch: list[ParsedLine] = []
    for n, raw in enumerate(lines, start=1):
        batch.append(parse_line(n, raw.rstrip("\r\n")))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def score_chunk(
    classifier: Any, aspects: Sequence[Any], chunk: list[ParsedLine]
) -> list[dict[str, Any]]:
    """Output records for a chunk, in input order (error records in place of bad lines)."""
    good = [p for p in chunk if p.record is not None]
    scores = (
        classifier.classify([str(p.record["text"]) for p in good if p.record], aspects)
        if good
        else []
    )
    by_line = {p.line: s for p, s in zip(good, scores, strict=True)}
    out: list[dict[str, Any]] = []
    for p in chunk:
        if p.record is None:
            assert p.error is not None
            out.append(p.error)
            continue
        rec = dict(p.record)
        for aspect in aspects:
            rec[aspect.name] = by_line[p.line][aspect.name].to_dict()
        out.append(rec)
    return out


def _bar(p: float, width: int = 24) -> str:
    full = round(p * width)
    return "█" * full + "·" * (width - full)


def format_scores(text: str, scores: Any, aspects: Sequence[Any]) -> str:
    lines = [text if len(text) <= 100 else text[:97] + "..."]
    for aspect in aspects:
        score = scores[aspect.name]
        lines.append(
            f"  {aspect.name}: {score.label} ({score.confidence:.1%})  [{score.model_version}]"
        )
        width = max(len(lab) for lab in aspect.labels)
        for lab in aspect.labels:
            p = float(score.probs[lab])
            lines.append(f"    {lab:<{width}} {_bar(p)} {p:6.1%}")
    return "\n".join(lines)


def _open_output(path: str | None) -> tuple[IO[str], bool]:
    if path in (None, "-"):
        return sys.stdout, False
    return open(path, "w", encoding="utf-8"), True


def run(args: argparse.Namespace) -> int:
    from finfeed.classifiers import build_classifier, resolve_aspects
    from models.errors import ClassifierError
    from pipeline.errors import ConfigError

    args.input = args.input or os.environ.get("FINFEED_CLASSIFY_INPUT") or None
    args.output = args.output or os.environ.get("FINFEED_CLASSIFY_OUTPUT") or None
    if not args.texts and not args.input:
        print("finfeed classify: give TEXT arguments or --input FILE", file=sys.stderr)
        return 2
    try:
        settings = classifier_settings(args)
        aspects = resolve_aspects(settings)
        classifier = build_classifier(settings, aspects)
    except (ConfigError, ClassifierError, ValueError) as exc:
        print(f"finfeed classify: {exc}", file=sys.stderr)
        return 2
    try:
        if args.texts:
            results = classifier.classify(args.texts, aspects)
            for text, scores in zip(args.texts, results, strict=True):
                if args.json:
                    payload = {"text": text, **{a.name: scores[a.name].to_dict() for a in aspects}}
                    print(json.dumps(payload, ensure_ascii=False))
                else:
                    print(format_scores(text, scores, aspects))
            if not args.input:
                return 0
        return _classify_file(args, classifier, aspects, settings.batch_size)
    except ClassifierError as exc:
        print(f"finfeed classify: classifier failed: {exc}", file=sys.stderr)
        return 1
    finally:
        classifier.close()


def _classify_file(
    args: argparse.Namespace, classifier: Any, aspects: Sequence[Any], batch: int
) -> int:
    from tqdm import tqdm

    if args.input == "-":
        source: IO[str] = sys.stdin
        long_input = False
    else:
        path = Path(args.input)
        try:
            source = open(path, encoding="utf-8", errors="replace")  # noqa: SIM115
        except OSError as exc:
            print(f"finfeed classify: cannot read {path}: {exc}", file=sys.stderr)
            return 2
        long_input = path.stat().st_size > _LONG_INPUT_BYTES
    out, close_out = _open_output(args.output)
    progress = tqdm(
        unit="line",
        file=sys.stderr,
        disable=not (sys.stderr.isatty() or long_input),
        desc="classify",
    )
    errors = written = 0
    try:
        for chunk in chunks(source, batch):
            for rec in score_chunk(classifier, aspects, chunk):
                out.write(json.dumps(rec, ensure_ascii=False) + "\n")
                written += 1
            errors += sum(p.record is None for p in chunk)
            out.flush()
            progress.update(len(chunk))
    finally:
        progress.close()
        if source is not sys.stdin:
            source.close()
        if close_out:
            out.close()
    print(f"finfeed classify: {written} lines written, {errors} bad lines", file=sys.stderr)
    return 0

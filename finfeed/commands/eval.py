"""``finfeed eval``: accuracy, macro/weighted F1, per-class report and confusion matrix.

Scores a labelled JSON Lines file (``{"text": ..., "label": ...}``) on one aspect with the
configured backend and compares with the labels (``training.metrics.evaluate``). Labels may
be the aspect's canonical names or its model label strings (``forward-looking`` -> ``yes``);
rows with other labels, or without usable text, are reported and skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from finfeed.commands._options import add_classifier_options, add_option, classifier_settings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="evaluate a backend on a labelled JSON Lines file",
        description="Score a labelled JSON Lines file on one aspect and print accuracy, "
        "macro-F1, weighted-F1, a per-class report and the confusion matrix.",
    )
    add_option(parser, "--input", "-i", env="FINFEED_EVAL_INPUT", help="labelled JSON Lines file")
    add_option(
        parser, "--aspect", env="FINFEED_EVAL_ASPECT", help="aspect to evaluate (default sentiment)"
    )
    add_option(
        parser,
        "--label-field",
        env="FINFEED_EVAL_LABEL_FIELD",
        help="field holding the true label (default label)",
    )
    add_option(
        parser,
        "--text-field",
        env="FINFEED_EVAL_TEXT_FIELD",
        help="field holding the text (default text)",
    )
    add_option(
        parser,
        "--limit",
        env="FINFEED_EVAL_LIMIT",
        type=int,
        help="evaluate the first N usable rows only",
    )
    add_option(
        parser,
        "--json-out",
        env="FINFEED_EVAL_JSON_OUT",
        help="also write the report as JSON to this file",
    )
    add_classifier_options(parser)
    parser.set_defaults(func=run)


def _opt(args: argparse.Namespace, name: str, env: str, default: Any = None) -> Any:
    value = getattr(args, name, None)
    if value is None:
        value = os.environ.get(env) or default
    return value


def run(args: argparse.Namespace) -> int:
    from finfeed.classifiers import build_classifier
    from models.errors import ClassifierError
    from pipeline.errors import ConfigError
    from training.metrics import evaluate

    source = _opt(args, "input", "FINFEED_EVAL_INPUT")
    if not source:
        print("finfeed eval: --input is required", file=sys.stderr)
        return 2
    aspect_name = _opt(args, "aspect", "FINFEED_EVAL_ASPECT", "sentiment")
    label_field = _opt(args, "label_field", "FINFEED_EVAL_LABEL_FIELD", "label")
    text_field = _opt(args, "text_field", "FINFEED_EVAL_TEXT_FIELD", "text")
    limit = _opt(args, "limit", "FINFEED_EVAL_LIMIT")
    limit = int(limit) if limit is not None else None
    json_out = _opt(args, "json_out", "FINFEED_EVAL_JSON_OUT")
    args.aspects = aspect_name  # evaluate exactly this aspect
    try:
        settings = classifier_settings(args)
        from finfeed.classifiers import resolve_aspects

        (aspect,) = resolve_aspects(settings)
        classifier = build_classifier(settings, (aspect,))
    except (ConfigError, ClassifierError, ValueError) as exc:
        print(f"finfeed eval: {exc}", file=sys.stderr)
        return 2
    to_canonical = {lab: lab for lab in aspect.labels}
    to_canonical.update({surface: lab for lab, surface in aspect.model_labels.items()})
    skipped_labels: Counter[str] = Counter()
    skipped_rows: Counter[str] = Counter()
    y_true: list[str] = []
    y_pred: list[str] = []
    batch_texts: list[str] = []
    batch_labels: list[str] = []

    def flush() -> None:
        if not batch_texts:
            return
        scores = classifier.classify(batch_texts, [aspect])
        y_pred.extend(s[aspect.name].label for s in scores)
        y_true.extend(batch_labels)
        batch_texts.clear()
        batch_labels.clear()

    try:
        with open(Path(source), encoding="utf-8", errors="replace") as fh:
            for raw in fh:
                if limit is not None and len(y_true) + len(batch_texts) >= limit:
                    break
                try:
                    row = json.loads(raw)
                except ValueError:
                    skipped_rows["invalid_json"] += 1
                    continue
                if not isinstance(row, dict):
                    skipped_rows["not_an_object"] += 1
                    continue
                text, label = row.get(text_field), row.get(label_field)
                if not isinstance(text, str) or not text.strip():
                    skipped_rows["missing_text"] += 1
                    continue
                canonical = to_canonical.get(str(label)) if label is not None else None
                if canonical is None:
                    skipped_labels[str(label)] += 1
                    continue
                batch_texts.append(text)
                batch_labels.append(canonical)
                if len(batch_texts) >= settings.batch_size:
                    flush()
            flush()
    except OSError as exc:
        print(f"finfeed eval: cannot read {source}: {exc}", file=sys.stderr)
        return 2
    except ClassifierError as exc:
        print(f"finfeed eval: classifier failed: {exc}", file=sys.stderr)
        return 1
    finally:
        classifier.close()
    if skipped_labels:
        detail = ", ".join(f"{lab!r} x{n}" for lab, n in skipped_labels.most_common())
        print(
            f"skipped {sum(skipped_labels.values())} rows with labels outside {list(aspect.labels)}: {detail}"
        )
    if skipped_rows:
        print(f"skipped {sum(skipped_rows.values())} unusable rows: {dict(skipped_rows)}")
    if not y_true:
        print("finfeed eval: no usable rows", file=sys.stderr)
        return 1
    report = evaluate(y_true, y_pred, labels=aspect.labels)
    print(f"aspect={aspect.name}  backend={settings.backend}  input={source}")
    print(report.format())
    if json_out:
        payload = {
            "aspect": aspect.name,
            "backend": settings.backend,
            "input": str(source),
            **report.to_dict(),
            "skipped": {"labels": dict(skipped_labels), "rows": dict(skipped_rows)},
        }
        Path(json_out).write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return 0

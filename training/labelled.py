"""Labelled rows for the retraining jobs: read, normalise labels, split, write.

Every job in ``training/`` (LLM labelling, baselines, active learning, SFT) reads and writes
JSON Lines, one object a line, with a text field and one label field per aspect. Labels may
be an aspect's canonical names (``yes``) or its model label strings (``forward-looking``);
``canonical_label`` maps both to the canonical name so files written by any tool agree.

Splits are deterministic: a row's ``split`` field wins (``test`` rows are held out and never
trained on, as ``training/data/LABELLING.md`` requires); otherwise a stable hash of the text
puts a fixed fraction of rows in validation, the same on every machine and every run.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pipeline.aspects import Aspect
from training.errors import DataError

_NON_WORD = re.compile(r"[\s_\-]+")


@dataclass(frozen=True, slots=True)
class LabelledRow:
    """One text with the labels it carries (aspect name -> canonical label)."""

    text: str
    labels: Mapping[str, str]
    id: str = ""
    split: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def with_label(self, aspect: str, label: str) -> LabelledRow:
        labels = dict(self.labels)
        labels[aspect] = label
        return replace(self, labels=labels)


def _norm(value: str) -> str:
    return _NON_WORD.sub(" ", value.strip().strip(".!\"'`").lower()).strip()


def canonical_label(aspect: Aspect, value: object) -> str | None:
    """``value`` as one of ``aspect.labels`` (canonical or model label, any case), else None."""
    if not isinstance(value, str) or not value.strip():
        return None
    wanted = _norm(value)
    for label in aspect.labels:
        if wanted in (_norm(label), _norm(aspect.model_labels[label])):
            return label
    return None


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-empty line; a malformed line raises ``DataError``."""
    try:
        fh = path.open(encoding="utf-8")
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc
    with fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{n}: not JSON: {exc}") from exc
            if not isinstance(obj, dict):
                raise DataError(f"{path}:{n}: expected a JSON object")
            yield n, obj


def write_jsonl(path: Path, rows: Iterable[Mapping[str, Any]]) -> int:
    """Write rows (UTF-8, one object a line) atomically; returns the count."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    n = 0
    with tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    tmp.replace(path)
    return n


def label_field_for(aspect: Aspect, fields: Mapping[str, str] | None) -> str:
    """The field holding ``aspect``'s label: as given, else the aspect's name."""
    if fields and aspect.name in fields:
        return fields[aspect.name]
    return aspect.name


def load_rows(
    paths: Sequence[Path],
    aspects: Sequence[Aspect],
    *,
    text_field: str = "text",
    label_fields: Mapping[str, str] | None = None,
    require_all: bool = False,
) -> list[LabelledRow]:
    """Rows of one or more JSONL files (a directory means its ``*.jsonl`` files, sorted).

    A row is kept when it has text and at least one usable label (all of them with
    ``require_all``); labels are canonicalised. A single-aspect file may keep its label in
    ``label`` instead of the aspect's name.
    """
    files: list[Path] = []
    for p in paths:
        files.extend(sorted(p.glob("*.jsonl")) if p.is_dir() else [p])
    if not files:
        raise DataError(f"no JSON Lines files in {[str(p) for p in paths]}")
    rows: list[LabelledRow] = []
    for path in files:
        for n, obj in read_jsonl(path):
            text = obj.get(text_field)
            if not isinstance(text, str) or not text.strip():
                continue
            labels: dict[str, str] = {}
            for aspect in aspects:
                key = label_field_for(aspect, label_fields)
                raw = obj.get(key, obj.get("label") if len(aspects) == 1 else None)
                label = canonical_label(aspect, raw)
                if label is not None:
                    labels[aspect.name] = label
            if not labels or (require_all and len(labels) != len(aspects)):
                continue
            rows.append(
                LabelledRow(
                    text=text.strip(),
                    labels=labels,
                    id=str(obj.get("id", f"{path.stem}:{n}")),
                    split=str(obj.get("split", "")),
                    extra=obj,
                )
            )
    if not rows:
        names = [a.name for a in aspects]
        raise DataError(f"no usable rows (text + a {names} label) in {[str(f) for f in files]}")
    return rows


def stable_fraction(text: str, salt: str = "finfeed-training") -> float:
    """A number in [0, 1) fixed by the text: the same split on every machine and run."""
    digest = hashlib.sha256(f"{salt}:{text}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass(frozen=True, slots=True)
class Split:
    train: list[LabelledRow]
    val: list[LabelledRow]
    test: list[LabelledRow]


def split_rows(rows: Sequence[LabelledRow], val_fraction: float = 0.1) -> Split:
    """``test`` rows by their split field; of the rest, a stable ``val_fraction`` validates."""
    if not 0.0 <= val_fraction < 1.0:
        raise DataError(f"val_fraction must be in [0, 1), got {val_fraction}")
    train: list[LabelledRow] = []
    val: list[LabelledRow] = []
    test: list[LabelledRow] = []
    for row in rows:
        if row.split == "test":
            test.append(row)
        elif row.split in ("val", "validation", "dev") or (
            row.split != "train-only" and stable_fraction(row.text) < val_fraction
        ):
            val.append(row)
        else:
            train.append(row)
    return Split(train=train, val=val, test=test)


def class_balance(rows: Iterable[LabelledRow], aspect: str) -> dict[str, int]:
    """Label counts for one aspect (the method checks balance at each scale-up)."""
    counts = Counter(r.labels[aspect] for r in rows if aspect in r.labels)
    return dict(sorted(counts.items()))

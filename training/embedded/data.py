"""Training data for the embedded model: load, split, mix, tokenise, batch.

Sources and how they are mixed (the model card repeats this):

- ``tfns``: TFNS train (finance news tweets). 10 % is carved off as a dev split for model
  selection. TFNS validation is never trained on and never used for selection; it is reported
  once at the end.
- ``sentfin``: SEntFiN headlines. Split by a stable hash of the text into 80 % train, 10 % dev
  and 10 % held-out test (reported once). Its annotators call some reported losses neutral
  ("X Q3 net loss at Rs 38 crore") where TFNS and news benchmarks call them negative, and
  such a loss *is* material under finfeed's label definition: training rows labelled neutral
  that mention a loss are dropped (46 of 9,451) rather than taught.
- ``aspects``: the project's hand-labelled rows (``training/data/aspects/*.jsonl``) with all
  three aspects; ``split == "train"`` rows train (10 % of them dev), ``test`` rows report.
  They are few, so training repeats them ``aspects_oversample`` times per epoch.

Every example carries the labels it has (sentiment only for tfns/sentfin) and a per-source
loss weight.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.aspects import BUILTIN_ASPECTS, DEFAULT_ASPECT_NAMES
from training.embedded.config import TrainConfig

# Heads, in pipeline.aspects order: sentiment, forward_looking, prediction.
ASPECT_LABELS: dict[str, tuple[str, ...]] = {
    name: BUILTIN_ASPECTS[name].labels for name in DEFAULT_ASPECT_NAMES
}
SENTIMENT_LABELS = ASPECT_LABELS["sentiment"]
_LOSS = re.compile(r"\bloss(es)?\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    labels: Mapping[str, str]  # aspect name -> label, only the aspects this row is labelled on
    source: str
    weight: float = 1.0


@dataclass
class Splits:
    """Examples per split; dev/test keyed by source so metrics are reported per source."""

    train: list[Example] = field(default_factory=list)
    dev: dict[str, list[Example]] = field(default_factory=dict)
    test: dict[str, list[Example]] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        by_source: dict[str, int] = {}
        for ex in self.train:
            by_source[ex.source] = by_source.get(ex.source, 0) + 1
        return {
            "train": by_source,
            "dev": {k: len(v) for k, v in self.dev.items()},
            "test": {k: len(v) for k, v in self.test.items()},
        }


def bucket(text: str, salt: str = "finfeed") -> float:
    """A stable number in [0, 1) from the text: deterministic splits across runs and machines."""
    digest = hashlib.sha256(f"{salt}:{text}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{n}: not JSON: {exc}") from exc
    return rows


def _sentiment_rows(path: Path) -> list[tuple[str, str]]:
    out = []
    for row in read_jsonl(path):
        text, label = str(row.get("text", "")).strip(), row.get("label")
        if text and label in SENTIMENT_LABELS:
            out.append((text, str(label)))
    return out


def aspect_rows(directory: Path) -> list[dict[str, Any]]:
    """Hand-labelled rows with all three aspects; malformed rows are skipped."""
    rows: list[dict[str, Any]] = []
    if not directory.is_dir():
        return rows
    for path in sorted(directory.glob("*.jsonl")):
        for row in read_jsonl(path):
            if (
                str(row.get("text", "")).strip()
                and row.get("split") in {"train", "test"}
                and row.get("sentiment") in SENTIMENT_LABELS
                and row.get("forward_looking") in {"yes", "no"}
                and row.get("prediction") in {"yes", "no"}
            ):
                rows.append(row)
    return rows


def build_splits(data_dir: Path, aspects_dir: Path, config: TrainConfig) -> Splits:
    """All sources, split and weighted as the module docstring says."""
    splits = Splits()
    weights = config.source_weights

    tfns = _sentiment_rows(data_dir / "tfns" / "train.jsonl")
    for text, label in tfns:
        ex = Example(text, {"sentiment": label}, "tfns", weights.get("tfns", 1.0))
        if bucket(text) < config.dev_frac:
            splits.dev.setdefault("tfns", []).append(ex)
        else:
            splits.train.append(ex)
    splits.test["tfns_validation"] = [
        Example(text, {"sentiment": label}, "tfns")
        for text, label in _sentiment_rows(data_dir / "tfns" / "validation.jsonl")
    ]

    for text, label in _sentiment_rows(data_dir / "sentfin" / "sentences.jsonl"):
        ex = Example(text, {"sentiment": label}, "sentfin", weights.get("sentfin", 1.0))
        u = bucket(text, salt="sentfin")
        if u < config.sentfin_test_frac:
            splits.test.setdefault("sentfin_test", []).append(ex)
        elif u < config.sentfin_test_frac + config.dev_frac:
            splits.dev.setdefault("sentfin", []).append(ex)
        elif not (config.drop_sentfin_neutral_losses and label == "neutral" and _LOSS.search(text)):
            splits.train.append(ex)

    seen: set[str] = set()
    for row in aspect_rows(aspects_dir):
        text = str(row["text"]).strip()
        if text in seen:
            continue
        seen.add(text)
        labels = {a: str(row[a]) for a in ("sentiment", "forward_looking", "prediction")}
        ex = Example(text, labels, "aspects", weights.get("aspects", 1.0))
        if row["split"] == "test":
            splits.test.setdefault("aspects_test", []).append(ex)
        elif bucket(text, salt="aspects") < config.dev_frac:
            splits.dev.setdefault("aspects", []).append(ex)
        else:
            splits.train.extend([ex] * config.aspects_oversample)

    if config.limit is not None:
        rng = random.Random(config.seed)
        rng.shuffle(splits.train)
        splits.train = splits.train[: config.limit]
        splits.dev = {k: v[: max(50, config.limit // 10)] for k, v in splits.dev.items()}
    return splits


@dataclass(frozen=True, slots=True)
class Encoded:
    """Token ids plus per-aspect label indices (-100 where a row is not labelled)."""

    ids: list[int]
    targets: Mapping[str, int]
    weight: float
    # teacher probabilities per aspect (knowledge distillation); empty without teachers
    soft: Mapping[str, tuple[float, ...]] = field(default_factory=dict)


def encode(
    examples: Sequence[Example],
    tokenizer: Any,
    labels: Mapping[str, Sequence[str]],
    max_length: int,
) -> list[Encoded]:
    from models.embedded import normalize_text

    ids = tokenizer(
        [normalize_text(ex.text) for ex in examples], truncation=True, max_length=max_length
    )["input_ids"]
    out = []
    for ex, row_ids in zip(examples, ids, strict=True):
        targets = {
            name: (list(names).index(ex.labels[name]) if name in ex.labels else -100)
            for name, names in labels.items()
        }
        out.append(Encoded(list(row_ids), targets, ex.weight))
    return out


def length_bucketed_batches(
    items: Sequence[Encoded], batch_size: int, rng: random.Random, pool: int = 50
) -> Iterator[list[Encoded]]:
    """Shuffled batches of similar length: shuffle, sort within pools of ``pool`` batches,
    cut, then shuffle the batches so lengths do not march through the epoch in order."""
    order = list(range(len(items)))
    rng.shuffle(order)
    batches: list[list[Encoded]] = []
    span = batch_size * pool
    for start in range(0, len(order), span):
        chunk = sorted(order[start : start + span], key=lambda i: len(items[i].ids))
        for b in range(0, len(chunk), batch_size):
            batches.append([items[i] for i in chunk[b : b + batch_size]])
    rng.shuffle(batches)
    yield from batches

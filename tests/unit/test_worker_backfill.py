"""Backfill: files through validate / dedupe / score into Parquet, every input accounted."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from finfeed.demo import SAMPLE_FEED
from pipeline.aspects import Aspect, AspectRegistry
from pipeline.scores import AspectScore, AspectScores
from workers.backfill import Backfill, BackfillError, BackfillOptions

ASPECTS = AspectRegistry().select(None)


class KeywordClassifier:
    """Deterministic: 'beat'/'raise' positive, 'miss'/'cut' negative, else neutral."""

    name = "keywords"

    def __init__(self) -> None:
        self.texts = 0

    def supports(self, aspect: Aspect) -> bool:
        return True

    def classify(self, texts: Sequence[str], aspects: Sequence[Aspect]) -> list[AspectScores]:
        self.texts += len(texts)
        out = []
        for t in texts:
            low = t.lower()
            pos = float(any(w in low for w in ("beat", "raise", "record")))
            neg = float(any(w in low for w in ("miss", "cut", "recall")))
            scores: AspectScores = {}
            for a in aspects:
                if a.name == "sentiment":
                    probs = {"positive": 0.1 + pos, "negative": 0.1 + neg, "neutral": 0.5}
                else:
                    probs = {"yes": 0.2 + float("expect" in low), "no": 0.6}
                scores[a.name] = AspectScore.from_probs(a, probs, "keywords", "k1")
            out.append(scores)
        return out

    def close(self) -> None:
        pass


NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _run(tmp_path: Path, source: Path, **kw: object) -> tuple[Backfill, KeywordClassifier]:
    classifier = KeywordClassifier()
    options = BackfillOptions(input=source, output=tmp_path / "out", batch_size=16, **kw)  # type: ignore[arg-type]
    backfill = Backfill(classifier, ASPECTS, options, clock=lambda: NOW)
    backfill.run()
    return backfill, classifier


def test_sample_feed_is_fully_accounted_for(tmp_path: Path) -> None:
    backfill, classifier = _run(tmp_path, SAMPLE_FEED)
    stats = backfill.stats
    lines = [ln for ln in SAMPLE_FEED.read_bytes().splitlines() if ln.strip()]
    assert stats.input == len(lines)
    out = tmp_path / "out"
    enriched = pl.read_parquet(out / "enriched")
    dups = pl.read_parquet(out / "duplicates")
    dead = pl.read_parquet(out / "deadletter")
    points = pl.read_parquet(out / "timeseries")
    assert (enriched.height, dups.height, dead.height) == (
        stats.enriched,
        stats.duplicates,
        stats.dead_letter,
    )
    assert enriched.height + dups.height + dead.height == len(lines)
    assert enriched["id"].n_unique() == enriched.height
    assert not set(enriched["id"]) & set(dups["id"])
    assert set(dups["canonical_id"]) <= set(enriched["id"])
    assert classifier.texts == enriched.height  # duplicates and dead letters were not scored
    # without a broker timestamp, a message lacking published_at cannot be placed in time
    assert "missing_published_at" in set(dead["reason"])
    assert all(raw in lines for raw in dead["raw"].to_list())
    # scores as columns: label, signed score and every probability
    row = enriched.row(0, named=True)
    assert row["sentiment_label"] in {"negative", "neutral", "positive"}
    assert row["sentiment_score"] == pytest.approx(
        row["sentiment_p_positive"] - row["sentiment_p_negative"]
    )
    assert json.loads(row["record"])["id"] == row["id"]
    # one point per (snippet, company); knowledge time = when the backfill scored it
    assert points.height == stats.timeseries_points > 0
    assert set(points["snippet_id"]) <= set(enriched["id"])
    assert points["knowledge_time"].unique().to_list() == [NOW]


def test_event_knowledge_time_and_parquet_input(tmp_path: Path) -> None:
    rows = [
        {
            "id": "p1",
            "text": "Nvidia beat estimates and will raise guidance",
            "published_at": datetime(2026, 3, 2, 14, 0),
            "tickers": ["NVDA"],
        },
        {
            "id": "p2",
            "text": "Nvidia beat estimates and will raise guidance",
            "published_at": datetime(2026, 3, 2, 18, 0),
            "tickers": ["NVDA"],
        },
        {
            "id": "p3",
            "text": "Ford cut its outlook after a recall of 80,000 trucks",
            "published_at": datetime(2026, 3, 3, 9, 0),
            "tickers": ["F"],
        },
        {"id": "p4", "text": "", "published_at": datetime(2026, 3, 3, 9, 0), "tickers": []},
    ]
    source = tmp_path / "in.parquet"
    pq.write_table(pa.Table.from_pylist(rows), source)
    backfill, _ = _run(tmp_path, source, knowledge_time="event")
    assert (backfill.stats.enriched, backfill.stats.duplicates, backfill.stats.dead_letter) == (
        2,
        1,
        1,
    )
    points = pl.read_parquet(tmp_path / "out" / "timeseries").sort("company")
    assert points["company"].to_list() == ["F", "NVDA"]
    # as if scored live: knowledge time equals the (naive = UTC) publication time
    assert (points["knowledge_time"] == points["event_time"]).all()
    assert points.filter(pl.col("company") == "F")["sentiment_label"].to_list() == ["negative"]
    dups = pl.read_parquet(tmp_path / "out" / "duplicates")
    assert dups.select("id", "canonical_id", "kind").rows() == [("p2", "p1", "exact")]


def test_refuses_to_mix_with_an_earlier_run(tmp_path: Path) -> None:
    _run(tmp_path, SAMPLE_FEED)
    with pytest.raises(BackfillError, match="overwrite"):
        _run(tmp_path, SAMPLE_FEED)
    backfill, _ = _run(tmp_path, SAMPLE_FEED, overwrite=True)
    assert len(list((tmp_path / "out" / "enriched").glob("*.parquet"))) == 1
    assert pl.read_parquet(tmp_path / "out" / "enriched").height == backfill.stats.enriched

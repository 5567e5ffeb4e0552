"""Enricher: every input ends in exactly one outcome; a poison snippet is isolated."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from models.errors import BackpressureError
from pipeline.aspects import SENTIMENT, Aspect
from pipeline.dedupe import InMemoryDedupeStore
from pipeline.records import SourcePosition
from pipeline.scores import AspectScore, AspectScores
from workers.enricher import Enricher, RawInput, input_tickers

NOW = datetime(2026, 11, 5, 12, 0, tzinfo=UTC)


class RuleClassifier:
    """Negative when the text says 'falls', else positive; refuses texts with POISON."""

    name = "rules"

    def __init__(self, backpressure: int = 0) -> None:
        self.batches: list[int] = []
        self.backpressure = backpressure

    def supports(self, aspect: Aspect) -> bool:
        return aspect.name == "sentiment"

    def classify(self, texts: Sequence[str], aspects: Sequence[Aspect]) -> list[AspectScores]:
        self.batches.append(len(texts))
        if self.backpressure:
            self.backpressure -= 1
            raise BackpressureError("busy")
        if any("POISON" in t for t in texts):
            raise ValueError("tokenizer choked")
        out: list[AspectScores] = []
        for t in texts:
            probs = (
                {"negative": 0.8, "neutral": 0.1, "positive": 0.1}
                if "falls" in t
                else {"positive": 0.7, "neutral": 0.2, "negative": 0.1}
            )
            out.append({a.name: AspectScore.from_probs(a, probs, "rules", "1") for a in aspects})
        return out

    def close(self) -> None:
        pass


def _raw(i: int, value: bytes) -> RawInput[int]:
    return RawInput(value=value, position=SourcePosition("raw", 0, i), timestamp=NOW, token=i)


def _doc(sid: str, text: str, **kw: object) -> bytes:
    return json.dumps(
        {"id": sid, "text": text, "published_at": "2026-11-05T10:00:00Z", **kw}
    ).encode()


def _enricher(classifier: RuleClassifier) -> Enricher:
    return Enricher(
        classifier,
        (SENTIMENT,),
        InMemoryDedupeStore(clock=lambda: NOW),
        tag_companies=input_tickers,
        clock=lambda: NOW,
    )


def test_prepare_sorts_every_input_into_one_outcome() -> None:
    enricher = _enricher(RuleClassifier())
    inputs = [
        _raw(
            0, _doc("a", "Tesla shares fall after the recall of 2 million cars", tickers=["tsla"])
        ),
        _raw(1, _doc("b", "Tesla shares fall after the recall of 2 million cars")),
        _raw(2, b"{broken"),
        _raw(3, _doc("c", "Apple opens a new campus in Austin with 5,000 jobs", tickers=["$AAPL"])),
        _raw(4, None),  # tombstone: no value at all
    ]
    out = enricher.prepare(inputs)
    assert [p.token for p in out.unique] == [0, 3]
    assert [(d.id, d.canonical_id, t) for d, t in out.duplicates] == [("b", "a", 1)]
    assert sorted((t, d.reason) for d, t in out.dead_letters) == [
        (2, "invalid_json"),
        (4, "invalid_json"),
    ]
    assert out.dead_letters[0][0].source == SourcePosition("raw", 0, 2)
    assert out.unique[0].companies == ("TSLA",) and out.unique[1].companies == ("AAPL",)


def test_poison_snippet_is_isolated_and_the_rest_is_scored() -> None:
    classifier = RuleClassifier()
    enricher = _enricher(classifier)
    texts = [f"Company {i} shares rise on new orders number {i}" for i in range(7)]
    texts[5] = "POISON " + texts[5]
    prepared = enricher.prepare([_raw(i, _doc(f"s{i}", t)) for i, t in enumerate(texts)])
    scored = enricher.score(prepared.unique)
    assert sorted(p.token for p, _ in scored.scored) == [0, 1, 2, 3, 4, 6]
    assert [(d.reason, t) for d, t in scored.failed] == [("processing_error", 5)]
    assert "tokenizer choked" in scored.failed[0][0].detail
    assert scored.calls > 1 and classifier.batches[0] == 7
    records = enricher.finish(scored.scored, NOW)
    assert [r.id for r, _, _ in records] == [f"s{i}" for i in (0, 1, 2, 3, 4, 6)]


def test_backpressure_propagates_without_isolating() -> None:
    classifier = RuleClassifier(backpressure=1)
    enricher = _enricher(classifier)
    prepared = enricher.prepare(
        [_raw(i, _doc(f"s{i}", f"Bank {i} falls on loan losses {i}")) for i in range(4)]
    )
    with pytest.raises(BackpressureError):
        enricher.score(prepared.unique)
    assert classifier.batches == [4]  # one call, not bisected into dead letters
    scored = enricher.score(prepared.unique)
    assert len(scored.scored) == 4 and not scored.failed
    assert all(s["sentiment"].label == "negative" for _, s in scored.scored)


def test_finish_builds_one_point_per_company() -> None:
    enricher = _enricher(RuleClassifier())
    prepared = enricher.prepare(
        [_raw(0, _doc("m", "Microsoft and Nvidia expand their AI deal", tickers=["MSFT", "NVDA"]))]
    )
    scored = enricher.score(prepared.unique)
    [(record, points, token)] = enricher.finish(scored.scored, NOW)
    assert token == 0 and record.companies == ("MSFT", "NVDA")
    assert [p.company for p in points] == ["MSFT", "NVDA"]
    assert {p.knowledge_time for p in points} == {NOW}
    assert len({p.id for p in points}) == 2

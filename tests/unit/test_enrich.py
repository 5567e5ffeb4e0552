"""Record builders: deterministic ids, the three times, points per company, dead letters."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from pipeline.aspects import FORWARD_LOOKING, SENTIMENT
from pipeline.contract import ContractLimits, parse_snippet
from pipeline.dedupe import DedupeDecision
from pipeline.enrich import (
    INTERNAL_ERROR_REASON,
    build_deadletter,
    build_duplicate,
    build_enriched,
    build_timeseries,
)
from pipeline.errors import ContractError, PipelineError
from pipeline.records import (
    DeadLetterRecord,
    DuplicateRecord,
    EnrichedRecord,
    SourcePosition,
    TimeseriesPoint,
)
from pipeline.scores import AspectScore

EVENT = datetime(2026, 11, 3, 14, 0, tzinfo=UTC)
INGEST = EVENT + timedelta(seconds=2)
PROCESSED = EVENT + timedelta(seconds=3)
POS = SourcePosition("news.raw", 2, 1881)


def snippet(text: str = "Apple and Microsoft beat estimates", **extra: object):
    raw = json.dumps(
        {
            "id": "s1",
            "text": text,
            "published_at": "2026-11-03T14:00:00Z",
            "source": "reuters",
            **extra,
        }
    )
    return parse_snippet(raw.encode(), kafka_timestamp=None, now=EVENT, limits=ContractLimits())


def scores(version: str = "v1") -> dict[str, AspectScore]:
    return {
        "sentiment": AspectScore.from_probs(
            SENTIMENT, {"positive": 0.7, "neutral": 0.2, "negative": 0.1}, "m", version
        ),
        "forward_looking": AspectScore.from_probs(
            FORWARD_LOOKING, {"yes": 0.2, "no": 0.8}, "m", version
        ),
    }


def test_enriched_record_carries_times_scores_and_companies() -> None:
    rec = build_enriched(
        snippet(lang="en"), scores(), ["AAPL", "MSFT", "AAPL", ""], INGEST, PROCESSED
    )
    assert rec.id == "s1"
    assert rec.companies == ("AAPL", "MSFT")
    wire = rec.to_dict()
    assert wire["event_time"] == "2026-11-03T14:00:00.000Z"
    assert wire["ingest_time"] == "2026-11-03T14:00:02.000Z"
    assert wire["processed_time"] == "2026-11-03T14:00:03.000Z"
    assert wire["aspects"]["sentiment"]["label"] == "positive"
    assert wire["model_version"] == "forward_looking=v1;sentiment=v1"
    assert wire["snippet"]["lang"] == "en"
    again = EnrichedRecord.from_dict(json.loads(json.dumps(wire)))
    assert again.to_dict() == wire


def test_enriched_converts_times_to_utc_and_rejects_naive_or_empty() -> None:
    plus_two = INGEST.astimezone(timezone(timedelta(hours=2)))
    assert build_enriched(
        snippet(), scores(), [], plus_two, PROCESSED
    ).ingested_at.utcoffset() == timedelta(0)
    with pytest.raises(PipelineError):
        build_enriched(snippet(), scores(), [], datetime(2026, 11, 3), PROCESSED)
    with pytest.raises(PipelineError):
        build_enriched(snippet(), {}, ["AAPL"], INGEST, PROCESSED)


def test_one_timeseries_point_per_company_with_knowledge_time() -> None:
    rec = build_enriched(snippet(), scores(), ["AAPL", "MSFT"], INGEST, PROCESSED)
    points = build_timeseries(rec)
    assert [p.company for p in points] == ["AAPL", "MSFT"]
    assert all(p.event_time == EVENT and p.knowledge_time == PROCESSED for p in points)
    assert all(p.snippet_id == "s1" and p.source == "reuters" for p in points)
    assert len({p.id for p in points}) == 2
    assert build_timeseries(build_enriched(snippet(), scores(), [], INGEST, PROCESSED)) == []
    assert TimeseriesPoint.from_dict(json.loads(json.dumps(points[0].to_dict()))).id == points[0].id


def test_reprocessing_gives_the_same_ids_and_a_rescore_a_new_point() -> None:
    first = build_timeseries(build_enriched(snippet(), scores("v1"), ["AAPL"], INGEST, PROCESSED))[
        0
    ]
    replay = build_timeseries(
        build_enriched(snippet(), scores("v1"), ["AAPL"], INGEST, PROCESSED + timedelta(hours=1))
    )[0]
    rescored = build_timeseries(
        build_enriched(snippet(), scores("v2"), ["AAPL"], INGEST, PROCESSED + timedelta(days=30))
    )[0]
    assert replay.id == first.id  # at-least-once replay: consumers drop the repeat
    assert rescored.id != first.id  # a new model's view is a new, appended point
    assert rescored.knowledge_time > first.knowledge_time


def test_duplicate_record_names_the_canonical_id() -> None:
    dup = build_duplicate(snippet(), DedupeDecision("canon-1", "near", 0.61), PROCESSED, POS)
    wire = dup.to_dict()
    assert (wire["id"], wire["canonical_id"], wire["kind"], wire["similarity"]) == (
        "s1",
        "canon-1",
        "near",
        0.61,
    )
    assert wire["source"] == {"topic": "news.raw", "partition": 2, "offset": 1881}
    assert wire["event_time"] == "2026-11-03T14:00:00.000Z"
    assert DuplicateRecord.from_dict(wire) == dup


def test_duplicate_requires_a_duplicate_decision() -> None:
    with pytest.raises(PipelineError):
        build_duplicate(snippet(), DedupeDecision.unique(), PROCESSED)
    with pytest.raises(PipelineError):
        build_duplicate(snippet(), DedupeDecision("s1", "exact", 1.0), PROCESSED)


def test_deadletter_keeps_bytes_position_and_reason() -> None:
    raw = b'{"text": "caf\xe9"'
    with pytest.raises(ContractError) as info:
        parse_snippet(raw, kafka_timestamp=None, now=EVENT, limits=ContractLimits())
    rec = build_deadletter(info.value, raw, POS, PROCESSED)
    wire = rec.to_dict()
    assert wire["reason"] == "invalid_utf8"
    assert base64.b64decode(wire["raw_b64"]) == raw
    assert wire["raw_text"] is None
    assert wire["source"]["offset"] == 1881
    assert DeadLetterRecord.from_dict(wire) == rec
    # same position -> same id (a redelivered bad message is dropped by consumers)
    assert build_deadletter(info.value, raw, POS, PROCESSED + timedelta(minutes=5)).id == rec.id
    assert (
        build_deadletter(info.value, raw, SourcePosition("news.raw", 2, 1882), PROCESSED).id
        != rec.id
    )
    # without a position the id follows the bytes
    assert (
        build_deadletter(info.value, raw, None, PROCESSED).id
        == build_deadletter(info.value, raw, None, EVENT).id
    )


def test_deadletter_for_an_unexpected_error() -> None:
    rec = build_deadletter(RuntimeError("tokenizer exploded"), b'{"text": "x"}', POS, PROCESSED)
    assert rec.reason == INTERNAL_ERROR_REASON
    assert "RuntimeError" in rec.detail and "tokenizer exploded" in rec.detail
    assert rec.to_dict()["raw_text"] == '{"text": "x"}'

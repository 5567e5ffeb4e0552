"""``RecordEncoder`` writes exactly what each record's ``to_dict`` writes.

The worker encodes a batch's records together (shared scores and times converted once);
consumers must not be able to tell: same dicts, same JSON bytes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from finfeed import serialization
from pipeline.aspects import AspectRegistry
from pipeline.enrich import build_enriched, build_timeseries
from pipeline.records import RecordEncoder, Snippet, TimeseriesPoint, to_rfc3339
from pipeline.scores import AspectScore

ASPECTS = AspectRegistry().select(None)
T0 = datetime(2026, 11, 3, 14, 0, 5, 123456, tzinfo=UTC)


def scores(p: float, version: str = "1") -> dict[str, AspectScore]:
    out = {}
    for i, aspect in enumerate(ASPECTS):
        probs = {
            lab: (p if j == i % len(aspect.labels) else 1 - p)
            for j, lab in enumerate(aspect.labels)
        }
        out[aspect.name] = AspectScore.from_probs(aspect, probs, f"m-{aspect.name}", version)
    return out


def snippet(i: int, published: datetime) -> Snippet:
    return Snippet(
        id=f"s{i}",
        text=f"Story {i} about Apple and Microsoft",
        published_at=published,
        source="wire" if i % 2 else None,
        url=None,
        tickers=("AAPL", "MSFT")[: 1 + i % 2],
        companies=(),
        extra={"lang": "en", "n": i} if i % 3 else {},
    )


def test_encoder_equals_to_dict_for_records_and_points() -> None:
    encoder = RecordEncoder()
    processed = T0 + timedelta(seconds=3)
    tz = timezone(timedelta(hours=-5))
    for i in range(30):
        published = (T0 - timedelta(minutes=i, microseconds=999 * i)).astimezone(
            tz if i % 4 == 0 else UTC
        )
        record = build_enriched(
            snippet(i, published),
            scores(0.5 + i / 100),
            ("AAPL", "MSFT")[: 1 + i % 2],
            T0 + timedelta(milliseconds=i),
            processed,
        )
        points = build_timeseries(record)
        # a point with scores of its own (a re-score) is encoded from its own scores
        points.append(
            TimeseriesPoint(f"s{i}", "NVDA", published, processed, scores(0.9, "2"), None)
        )
        got, got_points = encoder.enriched(record, points)
        assert got == record.to_dict()
        assert got_points == [p.to_dict() for p in points]
        assert serialization.dumps(got) == serialization.dumps(record.to_dict())
        assert [serialization.dumps(d) for d in got_points] == [
            serialization.dumps(p.to_dict()) for p in points
        ]
        assert got_points[-1]["model_version"] != got["model_version"]


def test_to_rfc3339_is_utc_with_milliseconds() -> None:
    ts = datetime(2026, 1, 2, 3, 4, 5, 678999, tzinfo=UTC)
    assert to_rfc3339(ts) == "2026-01-02T03:04:05.678Z"
    assert to_rfc3339(ts.astimezone(timezone(timedelta(hours=9, minutes=30)))) == (
        "2026-01-02T03:04:05.678Z"
    )
    assert to_rfc3339(datetime(2026, 1, 2, tzinfo=UTC)) == "2026-01-02T00:00:00.000Z"
    with pytest.raises(ValueError):
        to_rfc3339(datetime(2026, 1, 2))  # naive: refused

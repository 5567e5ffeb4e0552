"""Pure rolling aggregates: score, filters, windows, point in time, versions, idempotency."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipeline.aggregates import (
    CompanyState,
    Contribution,
    RollingAggregate,
    RollingAggregator,
    bucket_index,
    format_window,
    parse_aspect_filter,
    parse_window,
    snippet_score,
    to_ms,
)
from pipeline.errors import ConfigError
from pipeline.records import TimeseriesPoint
from pipeline.scores import AspectScore

T0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def point(
    snippet: str,
    *,
    event: datetime,
    known: datetime,
    pos: float,
    neg: float,
    fl: bool = False,
    pred: bool = False,
    version: str = "v1",
    company: str = "TSLA",
) -> TimeseriesPoint:
    neu = max(0.0, 1.0 - pos - neg)
    probs = {"negative": neg, "neutral": neu, "positive": pos}
    label = max(probs, key=lambda k: probs[k])

    def yn(flag: bool) -> AspectScore:
        return AspectScore(
            "yes" if flag else "no", {"no": 0.0 + (not flag), "yes": 0.0 + flag}, "m", version
        )

    return TimeseriesPoint(
        snippet_id=snippet,
        company=company,
        event_time=event,
        knowledge_time=known,
        scores={
            "sentiment": AspectScore(label, probs, "m", version),
            "forward_looking": yn(fl),
            "prediction": yn(pred),
        },
    )


def test_snippet_score_is_expectation_of_signed_label() -> None:
    p = point("a", event=T0, known=T0, pos=0.7, neg=0.1)
    assert snippet_score(p.scores) == pytest.approx(0.6)
    p = point("b", event=T0, known=T0, pos=0.0, neg=1.0)
    assert snippet_score(p.scores) == pytest.approx(-1.0)


def test_parse_window_and_filter() -> None:
    assert parse_window("7d") == timedelta(days=7)
    assert parse_window("36h") == timedelta(hours=36)
    assert parse_window("90m") == timedelta(minutes=90)
    assert format_window(timedelta(hours=36)) == "36h"
    assert format_window(timedelta(days=7)) == "7d"
    for bad in ("", "7", "d7", "-1d", "0d", "7y"):
        with pytest.raises(ConfigError):
            parse_window(bad)
    assert parse_aspect_filter("forward-looking") == "forward_looking"
    assert parse_aspect_filter("predictions") == "prediction"
    with pytest.raises(ConfigError):
        parse_aspect_filter("bogus")


def test_window_bounds_are_exclusive_start_inclusive_end() -> None:
    state = CompanyState("TSLA")
    for i, ev in enumerate(
        (T0 - timedelta(days=7), T0 - timedelta(days=7) + timedelta(milliseconds=1), T0)
    ):
        state.add(Contribution.from_point(point(f"s{i}", event=ev, known=ev, pos=1, neg=0)), 86400)
    agg = state.aggregate("all", window=timedelta(days=7), as_of=T0)
    assert agg.count == 2
    assert agg.window_start == T0 - timedelta(days=7)
    assert agg.mean_score == pytest.approx(1.0)


def test_as_of_hides_what_was_not_known_yet() -> None:
    state = CompanyState("TSLA")
    early = point("a", event=T0 - timedelta(days=1), known=T0 - timedelta(days=1), pos=0.9, neg=0.0)
    late = point("b", event=T0 - timedelta(days=2), known=T0 + timedelta(hours=5), pos=0.0, neg=0.8)
    for p in (early, late):
        state.add(Contribution.from_point(p), 86400)
    then = state.aggregate("all", window=timedelta(days=7), as_of=T0)
    assert (then.count, then.mean_score) == (1, pytest.approx(0.9))
    assert then.last_knowledge_time == early.knowledge_time
    later = state.aggregate("all", window=timedelta(days=7), as_of=T0 + timedelta(hours=6))
    assert later.count == 2
    assert later.mean_score == pytest.approx((0.9 - 0.8) / 2)
    assert (later.negative, later.neutral, later.positive) == (1, 0, 1)


def test_rescore_by_newer_model_replaces_older_version_from_its_knowledge_time() -> None:
    state = CompanyState("TSLA")
    ev = T0 - timedelta(days=1)
    v1 = point("a", event=ev, known=ev, pos=0.9, neg=0.0, fl=True, version="v1")
    v2 = point(
        "a", event=ev, known=T0 + timedelta(hours=1), pos=0.0, neg=0.6, fl=False, version="v2"
    )
    assert v1.id != v2.id
    for p in (v2, v1):  # arrival order must not matter
        state.add(Contribution.from_point(p), 86400)
    before = state.aggregate("forward_looking", window=timedelta(days=7), as_of=T0)
    assert (before.count, before.mean_score) == (1, pytest.approx(0.9))
    after_all = state.aggregate("all", window=timedelta(days=7), as_of=T0 + timedelta(hours=2))
    assert (after_all.count, after_all.mean_score) == (1, pytest.approx(-0.6))
    after_fl = state.aggregate(
        "forward_looking", window=timedelta(days=7), as_of=T0 + timedelta(hours=2)
    )
    assert after_fl.count == 0 and after_fl.mean_score is None


def test_keyed_function_is_idempotent_and_uses_injected_clock() -> None:
    now = [T0]
    agg = RollingAggregator(clock=lambda: now[0])
    p = point(
        "a",
        event=T0 - timedelta(hours=3),
        known=T0 - timedelta(hours=2),
        pos=0.5,
        neg=0.1,
        pred=True,
    )
    state, out = agg.apply(None, p)
    assert [a.aspect for a in out] == ["all", "forward_looking", "prediction"]
    assert [a.count for a in out] == [1, 0, 1]
    assert all(a.as_of == T0 for a in out)
    state, again = agg.apply(state, p)
    assert again == []
    assert state.aggregate("all", window=timedelta(days=7), as_of=T0).count == 1
    now[0] = T0 + timedelta(days=8)
    state, out = agg.apply(state, point("b", event=now[0], known=now[0], pos=0, neg=0))
    assert out[0].count == 1  # the first snippet slid out of the window


def test_late_event_lands_in_its_own_bucket_and_retention_drops_old_ones() -> None:
    now = [T0]
    agg = RollingAggregator(retention=timedelta(days=30), clock=lambda: now[0])
    late = point("old", event=T0 - timedelta(days=3), known=T0, pos=1, neg=0)
    state, _ = agg.apply(None, late)
    key = ("old", bucket_index(to_ms(late.event_time), 86400))
    assert key in state.versions
    series = [
        state.aggregate("all", window=timedelta(days=1), as_of=T0, end=T0 - timedelta(days=d)).count
        for d in range(5)
    ]
    assert series == [0, 0, 0, 1, 0]  # window (T0-4d, T0-3d] holds it
    now[0] = T0 + timedelta(days=40)
    state, _ = agg.apply(state, point("new", event=now[0], known=now[0], pos=0, neg=0))
    assert key not in state.versions


def test_rolling_aggregate_roundtrips_through_json() -> None:
    state = CompanyState("TSLA")
    state.add(Contribution.from_point(point("a", event=T0, known=T0, pos=0.25, neg=0.5)), 86400)
    agg = state.aggregate("all", window=timedelta(hours=36), as_of=T0 + timedelta(minutes=1))
    data = agg.to_dict()
    assert data["window"] == "36h"
    assert data["label_mix"] == {"negative": 1, "neutral": 0, "positive": 0}
    back = RollingAggregate.from_dict(data)
    assert back.count == agg.count
    assert back.mean_score == pytest.approx(-0.25)
    assert back.window_start == agg.window_start and back.as_of == agg.as_of

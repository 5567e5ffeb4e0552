"""The Redis aggregate store answers like an independent recomputation from the points."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from finfeed.settings import AggregateSettings
from pipeline.aggregates import ASPECT_FILTERS, RollingAggregate
from tests.integration.aggregate_reference import Reference, make_point, scenario
from workers.aggregate_store import AggregateStore, AggregateStoreError

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def _check(agg: RollingAggregate, ref: Reference) -> None:
    exp = ref.expected(agg.symbol, agg.aspect, agg.window_start, agg.window_end, agg.as_of)
    where = f"{agg.symbol}/{agg.aspect} ({agg.window_start}, {agg.window_end}] as of {agg.as_of}"
    assert agg.count == exp.count, where
    assert (agg.negative, agg.neutral, agg.positive) == (exp.negative, exp.neutral, exp.positive), (
        where
    )
    if exp.mean is None:
        assert agg.mean_score is None, where
    else:
        assert agg.mean_score == pytest.approx(exp.mean, abs=2e-6), where
    last = (
        None if agg.last_knowledge_time is None else int(agg.last_knowledge_time.timestamp() * 1000)
    )
    assert last == exp.last_knowledge_ms, where


@pytest.mark.parametrize("bucket_seconds", [86_400, 3_600])
def test_queries_match_reference_with_late_duplicate_and_rescored_points(
    redis_client, bucket_seconds: int
) -> None:  # type: ignore[no-untyped-def]
    settings = AggregateSettings(bucket_seconds=bucket_seconds)
    store = AggregateStore(redis_client, settings, prefix="t:", clock=lambda: NOW)
    points = scenario(7, now=NOW)
    # apply in several batches, then re-apply a slice: nothing may change
    for i in range(0, len(points), 64):
        store.apply(points[i : i + 64])
    assert store.apply(points[:50]) == []
    ref = Reference(points, bucket_seconds)
    rng = random.Random(3)
    windows = [timedelta(days=7), timedelta(hours=36), timedelta(minutes=90), timedelta(days=30)]
    checked = 0
    for symbol in ("TSLA", "AAPL", "MSFT"):
        for aspect in ASPECT_FILTERS:
            _check(store.query(symbol, aspect=aspect), ref)  # "now" (injected clock)
            for _ in range(12):
                as_of = NOW - timedelta(milliseconds=rng.randrange(0, 21 * 86_400_000))
                window = rng.choice(windows)
                agg = store.query(symbol, aspect=aspect, window=window, as_of=as_of)
                assert agg.as_of == as_of and agg.window_end == as_of
                _check(agg, ref)
                checked += agg.count
    assert checked > 200  # the scenario exercised non-empty windows


def test_as_of_cutoff_and_rescore_exact(redis_client) -> None:  # type: ignore[no-untyped-def]
    store = AggregateStore(redis_client, AggregateSettings(), prefix="t:", clock=lambda: NOW)
    rng = random.Random(1)
    ev = NOW - timedelta(days=2)
    v1 = make_point(rng, "NVDA", "s1", ev, ev + timedelta(minutes=1), "v1")
    v2 = make_point(rng, "NVDA", "s1", ev, ev + timedelta(days=1), "v2")
    out = store.apply([v1])
    assert [a.aspect for a in out] == list(ASPECT_FILTERS) and out[0].count == 1
    store.apply([v2])
    s1 = v1.scores["sentiment"].probs
    s2 = v2.scores["sentiment"].probs
    before = store.query("NVDA", as_of=ev + timedelta(hours=1))
    after = store.query("NVDA", as_of=ev + timedelta(days=1, hours=1))
    assert before.count == after.count == 1
    assert before.mean_score == pytest.approx(s1["positive"] - s1["negative"], abs=1e-6)
    assert after.mean_score == pytest.approx(s2["positive"] - s2["negative"], abs=1e-6)
    known = v1.knowledge_time
    assert store.query("NVDA", as_of=known).count == 1  # known exactly at T counts
    assert store.query("NVDA", as_of=known - timedelta(milliseconds=1)).count == 0
    week = timedelta(days=7)  # (T - 7d, T]: ev counts until T = ev + 7d, exclusive
    assert store.query("NVDA", as_of=ev + week - timedelta(milliseconds=1)).count == 1
    assert store.query("NVDA", as_of=ev + week).count == 0
    # a late point for an old day lands in that day's bucket, not today's
    late = make_point(rng, "NVDA", "s2", NOW - timedelta(days=10), NOW - timedelta(minutes=5), "v1")
    store.apply([late])
    day = store.window(
        "NVDA", start=late.event_time - timedelta(hours=1), end=late.event_time + timedelta(hours=1)
    )
    assert day.count == 1
    assert (
        store.window(
            "NVDA",
            start=late.event_time - timedelta(hours=1),
            end=late.event_time,
            as_of=NOW - timedelta(hours=1),
        ).count
        == 0
    )  # not known an hour ago
    assert set(store.symbols()) == {"NVDA"}


def test_retention_expires_old_buckets_and_errors_are_typed(redis_client) -> None:  # type: ignore[no-untyped-def]
    store = AggregateStore(redis_client, AggregateSettings(retention_days=30), prefix="t:")
    rng = random.Random(2)
    now = datetime.now(UTC)
    old = make_point(rng, "IBM", "old", now - timedelta(days=40), now - timedelta(days=40), "v1")
    recent = make_point(rng, "IBM", "new", now - timedelta(days=1), now - timedelta(days=1), "v1")
    store.apply([old, recent])
    keys = sorted(k.decode() for k in redis_client.keys("t:agg:{IBM}:*"))
    assert len(keys) == 1  # the 40-day-old bucket expired at once
    assert 0 < redis_client.ttl(keys[0]) <= 30 * 86_400
    with pytest.raises(AggregateStoreError):
        store.window("IBM", start=now, end=now - timedelta(days=1))
    with pytest.raises(AggregateStoreError):
        store.series("IBM", start=now - timedelta(days=1), end=now, step=timedelta(0))


def test_series_and_movers_match_reference(redis_client) -> None:  # type: ignore[no-untyped-def]
    store = AggregateStore(redis_client, AggregateSettings(), prefix="t:", clock=lambda: NOW)
    points = scenario(11, now=NOW, companies=("A", "B", "C", "D"), n=400)
    store.apply(points)
    ref = Reference(points)
    day0 = NOW.replace(hour=0, minute=0, second=0) - timedelta(days=14)
    as_of = NOW - timedelta(days=2)
    for pit in (False, True):
        rows = store.series(
            "A", aspect="forward_looking", start=day0, end=day0 + timedelta(days=14),
            step=timedelta(days=1), as_of=as_of, point_in_time=pit,
        )  # fmt: skip
        assert len(rows) == 14
        for avg, vol in rows:
            assert avg.window == timedelta(days=7) and vol.window == timedelta(days=1)
            assert avg.as_of == (min(avg.window_end, as_of) if pit else as_of)
            _check(avg, ref)
            _check(vol, ref)
    movers = store.movers(window=timedelta(days=5), min_count=3, limit=10)
    assert movers
    changes = [abs(change) for _, _, change in movers]
    assert changes == sorted(changes, reverse=True)
    for cur, prev, change in movers:
        _check(cur, ref)
        _check(prev, ref)
        assert prev.window_end == cur.window_start
        assert change == pytest.approx(cur.mean_score - prev.mean_score)


def test_query_cli_reads_redis(redis_client, redis_url: str, capsys) -> None:  # type: ignore[no-untyped-def]
    import json

    from finfeed.cli import main

    store = AggregateStore(redis_client, AggregateSettings(), prefix="cli:")
    points = scenario(13, now=NOW, companies=("TSLA", "AAPL"), n=120)
    store.apply(points)
    ref = Reference(points)
    as_of = NOW - timedelta(days=2)
    argv = ["query", "tsla", "AAPL", "--window", "36h", "--aspect", "prediction"]
    argv += [
        "--as-of",
        as_of.isoformat(),
        "--json",
        "--redis-url",
        redis_url,
        "--key-prefix",
        "cli:",
    ]
    assert main(argv) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [json.loads(x)["symbol"] for x in lines] == ["TSLA", "AAPL"]
    for line in lines:
        _check(RollingAggregate.from_dict(json.loads(line)), ref)
    assert main(["query", "TSLA", "--window", "soon", "--redis-url", redis_url]) == 2
    assert main(["query", "TSLA", "--redis-url", redis_url, "--key-prefix", "cli:"]) == 0
    assert "TSLA" in capsys.readouterr().out


def test_export_cli_writes_point_in_time_parquet(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    import polars as pl

    from finfeed.cli import main

    points = scenario(17, now=NOW, companies=("TSLA", "AAPL"), n=200)
    src = tmp_path / "points.jsonl"
    src.write_text("".join(json.dumps(p.to_dict()) + "\n" for p in points) + "not json\n")
    day0 = (NOW - timedelta(days=12)).date()
    end = NOW.replace(hour=0, minute=0, second=0)
    argv = ["export", "--from", day0.isoformat(), "--to", end.isoformat(), "--input", str(src)]
    argv += ["--output", str(tmp_path / "out"), "--format", "parquet"]
    assert main(argv) == 0
    ts = pl.read_parquet(tmp_path / "out" / "timeseries.parquet")
    start = datetime(day0.year, day0.month, day0.day, tzinfo=UTC)
    unique = {p.id: p for p in reversed(points)}
    expected_ids = {i for i, p in unique.items() if start <= p.event_time < end}
    assert set(ts["point_id"]) == expected_ids and ts.height == len(expected_ids)
    row = ts.row(0, named=True)
    p = unique[row["point_id"]]
    assert row["knowledge_time"] == p.knowledge_time
    assert row["sentiment_p_positive"] == pytest.approx(p.scores["sentiment"].probs["positive"])
    assert row["score"] == pytest.approx(
        p.scores["sentiment"].probs["positive"] - p.scores["sentiment"].probs["negative"], abs=1e-6
    )
    daily = pl.read_parquet(tmp_path / "out" / "daily_aggregates.parquet")
    assert daily.height == 2 * 3 * 12  # companies x filters x days
    assert (daily["as_of"] == daily["window_end"]).all()  # point in time
    ref = Reference(points)
    for r in daily.iter_rows(named=True):
        exp = ref.expected(
            r["company"], r["aspect"], r["window_start"], r["window_end"], r["as_of"]
        )
        assert r["count"] == exp.count
        if exp.mean is not None:
            assert r["mean_score"] == pytest.approx(exp.mean, abs=2e-6)

"""Benchmark the Redis aggregate store: query latency at scale, and the cost of an update.

Loads N points (default 1,000,000) over C companies (default 5,000) into an embedded
Redis with pipelined Lua applies, then measures, from one client, round-trip latency of

- "now" queries (7-day window ending now), companies drawn uniformly and by popularity;
- ``as_of`` queries (7-day window as known at a random time of the past year);
- 30-day windows;

and the cost of incremental updates: one point per round trip (what a lone update costs)
and pipelined batches of 500 (the aggregator's path), as microseconds per point and points
per second. Company popularity follows a Zipf law (s = 1), so the busiest company gets
about a tenth of all points; events span the past year, 5 % arrive days late and 3 % are
re-scored by a newer model.

    .venv/bin/python bench/bench_aggregates.py                 # full size
    .venv/bin/python bench/bench_aggregates.py --points 100000 --companies 1000
    .venv/bin/python bench/bench_aggregates.py --redis-url redis://host:6379/0 --json
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from finfeed.settings import AggregateSettings
from pipeline.aggregates import ASPECT_FILTERS, Contribution, to_ms
from pipeline.records import record_id
from workers.aggregate_store import AggregateStore

DAY_MS = 86_400_000


def zipf_weights(n: int, s: float = 1.0) -> list[float]:
    return [1.0 / (rank**s) for rank in range(1, n + 1)]


def make_contributions(
    rng: random.Random,
    companies: list[str],
    weights: list[float],
    n: int,
    now_ms: int,
    start: int = 0,
) -> list[Contribution]:
    picks = rng.choices(companies, weights=weights, k=n)
    out: list[Contribution] = []
    for i, company in enumerate(picks, start=start):
        event = now_ms - rng.randrange(0, 365 * DAY_MS)
        lag = rng.randrange(1_000, 600_000)
        if rng.random() < 0.05:
            lag = rng.randrange(DAY_MS, 5 * DAY_MS)
        known = min(now_ms - 1, event + lag)
        snippet = f"s{i:08x}"
        c = Contribution(
            point_id=record_id("ts", snippet, company, "v1"),
            snippet_id=snippet,
            company=company,
            event_ms=event,
            knowledge_ms=known,
            score_units=rng.randrange(-1_000_000, 1_000_001),
            label=rng.randrange(3),
            forward_looking=rng.random() < 0.3,
            prediction=rng.random() < 0.15,
        )
        out.append(c)
        if rng.random() < 0.03:  # re-scored later by a newer model
            out.append(
                Contribution(
                    point_id=record_id("ts", snippet, company, "v2"),
                    snippet_id=snippet,
                    company=company,
                    event_ms=event,
                    knowledge_ms=min(now_ms - 1, known + rng.randrange(DAY_MS, 30 * DAY_MS)),
                    score_units=rng.randrange(-1_000_000, 1_000_001),
                    label=rng.randrange(3),
                    forward_looking=rng.random() < 0.3,
                    prediction=rng.random() < 0.15,
                )
            )
    return out


def percentiles(samples_s: list[float]) -> dict[str, float]:
    ms = sorted(x * 1000 for x in samples_s)
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return {"p50_ms": round(q[49], 3), "p99_ms": round(q[98], 3), "max_ms": round(ms[-1], 3)}


def timed(fn: Any, calls: list[Any]) -> list[float]:
    out = []
    for args in calls:
        t0 = time.perf_counter()
        fn(*args)
        out.append(time.perf_counter() - t0)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--companies", type=int, default=5_000)
    parser.add_argument("--queries", type=int, default=2_000, help="queries per measured kind")
    parser.add_argument("--redis-url", default=None, help="existing Redis (default: embedded)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import redis

    from workers.embedded import EmbeddedRedis

    server = None
    url = args.redis_url
    if url is None:
        server = EmbeddedRedis().start()
        url = server.url
    client = redis.Redis.from_url(url)
    prefix = "bench:"
    settings = AggregateSettings()
    now = datetime.now(UTC)
    store = AggregateStore(client, settings, prefix, clock=lambda: now)
    store.clear()
    rng = random.Random(args.seed)
    companies = [f"C{i:05d}" for i in range(args.companies)]
    weights = zipf_weights(args.companies)
    now_ms = to_ms(now)
    figures: dict[str, Any] = {"points_requested": args.points, "companies": args.companies}
    try:
        # -- load ---------------------------------------------------------------------
        t0 = time.perf_counter()
        loaded, chunk = 0, 100_000
        while loaded < args.points:
            batch = make_contributions(
                rng, companies, weights, min(chunk, args.points - loaded), now_ms, loaded
            )
            for i in range(0, len(batch), 2_000):
                store.apply_contributions(batch[i : i + 2_000])
            loaded += min(chunk, args.points - loaded)
            figures["points_stored"] = figures.get("points_stored", 0) + len(batch)
            print(
                f"  loaded {loaded:,} snippets ({figures['points_stored']:,} points)",
                file=sys.stderr,
            )
        load_s = time.perf_counter() - t0
        figures["load_s"] = round(load_s, 1)
        figures["load_points_per_s"] = round(figures["points_stored"] / load_s)
        info = client.info("memory")
        figures["redis_used_memory_mb"] = round(info["used_memory"] / 2**20, 1)
        figures["redis_keys"] = client.dbsize()

        # -- queries ------------------------------------------------------------------
        week = timedelta(days=7)
        uniform = [rng.choice(companies) for _ in range(args.queries)]
        popular = rng.choices(companies, weights=weights, k=args.queries)
        aspects = [rng.choice(ASPECT_FILTERS) for _ in range(args.queries)]
        as_ofs = [
            now - timedelta(milliseconds=rng.randrange(0, 300 * DAY_MS))
            for _ in range(args.queries)
        ]

        def q(symbol: str, aspect: Any, as_of: Any, window: timedelta = week) -> None:
            store.query(symbol, aspect=aspect, window=window, as_of=as_of)

        timed(q, [(s, "all", None) for s in uniform[:200]])  # warm up (script load, caches)
        kinds = {
            "now_uniform": [(s, a, None) for s, a in zip(uniform, aspects, strict=True)],
            "now_popular": [(s, a, None) for s, a in zip(popular, aspects, strict=True)],
            "as_of_uniform": [(s, a, t) for s, a, t in zip(uniform, aspects, as_ofs, strict=True)],
            "as_of_popular": [(s, a, t) for s, a, t in zip(popular, aspects, as_ofs, strict=True)],
            "now_30d_popular": [
                (s, a, None, timedelta(days=30)) for s, a in zip(popular, aspects, strict=True)
            ],
        }
        for name, calls in kinds.items():
            figures[f"query_{name}"] = percentiles(timed(q, calls))
        top = store.query(companies[0], window=week)
        figures["busiest_company_points_in_7d"] = top.count

        # -- incremental updates ------------------------------------------------------
        fresh = make_contributions(rng, companies, weights, 20_500, now_ms, 10**8)
        singles = fresh[:500]
        t0 = time.perf_counter()
        for c in singles:
            store.apply_contributions([c])
        one = (time.perf_counter() - t0) / len(singles)
        rest = fresh[500:]
        t0 = time.perf_counter()
        for i in range(0, len(rest), 500):
            store.apply_contributions(rest[i : i + 500])
        piped = (time.perf_counter() - t0) / len(rest)
        t0 = time.perf_counter()
        for i in range(0, len(rest), 500):
            store.apply_contributions(rest[i : i + 500])  # re-delivery: idempotent no-ops
        redo = (time.perf_counter() - t0) / len(rest)
        figures["update_single_us_per_point"] = round(one * 1e6, 1)
        figures["update_single_points_per_s"] = round(1 / one)
        figures["update_pipelined_us_per_point"] = round(piped * 1e6, 1)
        figures["update_pipelined_points_per_s"] = round(1 / piped)
        figures["redelivery_us_per_point"] = round(redo * 1e6, 1)
    finally:
        client.close()
        if server is not None:
            server.stop()

    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        for key, value in figures.items():
            print(f"{key:>34}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

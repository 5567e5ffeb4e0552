"""``finfeed demo``: the whole stream on one machine, with no services to install.

Starts the embedded Kafka-protocol broker and Redis on free ports, the configured
classifier (the embedded CPU model by default), publishes the sample feed that ships with
finfeed, runs the enrichment worker and the aggregator as in-process tasks until every
input is accounted for, reads the output topics back, and shuts everything down.

``run_demo`` returns the summary as a dict; ``format_summary`` renders it for people.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from finfeed import serialization
from finfeed.settings import (
    AggregateSettings,
    ClassifierSettings,
    KafkaSettings,
    RedisSettings,
    WorkerSettings,
)

log = logging.getLogger(__name__)

SAMPLE_FEED = Path(__file__).resolve().parent / "data" / "sample_feed.jsonl"
DEMO_PARTITIONS = 3


@dataclass
class DemoOptions:
    feed: Path = SAMPLE_FEED
    partitions: int = DEMO_PARTITIONS
    timeout_s: float = 300.0
    top_companies: int = 12
    classifier: ClassifierSettings = field(default_factory=ClassifierSettings)
    classifier_override: Any = None  # a ready ``Classifier`` (tests); else built from settings
    progress: Callable[[str], None] = lambda _msg: None
    # After the summary, keep the embedded Redis up and serve the API and chart page on this
    # port until interrupted; ``on_summary`` receives the summary before serving starts.
    serve_port: int | None = None
    on_summary: Callable[[dict[str, Any]], None] = lambda _summary: None


async def _read_outputs(
    kafka: KafkaSettings, topics: list[str], expected: int, timeout_s: float
) -> tuple[dict[str, list[dict[str, Any]]], dict[Any, int]]:
    """Every record of ``topics`` from the beginning (without a group) until ``expected``;
    also one past the last offset seen in each partition."""
    from aiokafka import AIOKafkaConsumer

    from workers.kafka import client_kwargs

    consumer = AIOKafkaConsumer(
        *topics,
        **client_kwargs(kafka),
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    out: dict[str, list[dict[str, Any]]] = {t: [] for t in topics}
    ends: dict[Any, int] = {}
    seen = 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    quiet_since = loop.time()
    try:
        while loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for tp, msgs in batch.items():
                for m in msgs:
                    out[tp.topic].append(serialization.loads(m.value))
                    seen += 1
                    quiet_since = loop.time()
                if msgs:
                    ends[tp] = msgs[-1].offset + 1
            if seen >= expected and loop.time() - quiet_since > 0.3:
                break
    finally:
        await consumer.stop()
    return out, ends


def _aggregate_summary(
    redis_client: Any, agg: AggregateSettings, prefix: str, symbols: list[str], window_end: datetime
) -> dict[str, dict[str, Any]]:
    """Per-company 7-day averages of P(positive) - P(negative), from the aggregate store.

    The window is the 7 days up to the feed's last event time, as known now (every point of
    the demo was scored just now, so knowledge time is today).
    """
    from pipeline.aggregates import AspectFilter
    from workers.aggregate_store import AggregateStore

    store = AggregateStore(redis_client, agg, prefix)
    now = datetime.now(UTC)
    start = window_end - timedelta(days=7)
    filters: tuple[AspectFilter, ...] = ("all", "forward_looking")
    requests = [(s, f, start, window_end, now) for s in symbols for f in filters]
    results = store.query_many(requests)
    out: dict[str, dict[str, Any]] = {}
    for (symbol, aspect, *_), agg_ in zip(requests, results, strict=True):
        entry = out.setdefault(symbol, {})
        key = "" if aspect == "all" else "_forward_looking"
        entry[f"avg_7d{key}"] = None if agg_.mean_score is None else round(agg_.mean_score, 4)
        entry[f"count_7d{key}"] = agg_.count
    return out


async def run_demo(options: DemoOptions) -> dict[str, Any]:
    """Run the demo end to end; the summary dict (counts, labels, companies, timings)."""
    from workers.aggregator import run_aggregator
    from workers.embedded import EmbeddedBroker, EmbeddedRedis
    from workers.feed import produce_lines, read_lines
    from workers.kafka import ensure_topics
    from workers.redis_conn import connect_redis, with_url
    from workers.runtime import assemble_worker, batch_policy, classifier_for
    from workers.worker import WorkerTuning

    say = options.progress
    started = time.perf_counter()
    lines = read_lines(options.feed)
    with EmbeddedBroker() as broker, EmbeddedRedis() as redis_server:
        say(f"broker on {broker.bootstrap}, Redis on {redis_server.url}")
        kafka = KafkaSettings(
            bootstrap=broker.bootstrap,
            group_id="finfeed-demo",
            client_id="finfeed-demo",
            session_timeout_ms=6_000,  # the embedded broker joins groups in half of this
            heartbeat_interval_ms=500,
        )
        redis_cfg = with_url(RedisSettings(), redis_server.url)
        worker_cfg = WorkerSettings(metrics_port=0)
        agg_cfg = AggregateSettings()
        topics_task = asyncio.create_task(ensure_topics(kafka, partitions=options.partitions))
        if options.classifier_override is not None:
            classifier, aspects = options.classifier_override, None
        else:
            say(f"loading the {options.classifier.backend} classifier")
            classifier, aspects = await asyncio.to_thread(classifier_for, options.classifier)
        if aspects is None:
            from finfeed.classifiers import resolve_aspects

            aspects = resolve_aspects(options.classifier)
        await topics_task
        loaded = time.perf_counter()
        client = connect_redis(redis_cfg)
        try:
            policy = batch_policy(worker_cfg, options.classifier)
            worker = assemble_worker(
                kafka,
                worker_cfg,
                redis_cfg,
                client,
                classifier,
                aspects,
                policy,
                tuning=WorkerTuning(
                    poll_timeout_ms=100, commit_interval_s=0.5, drain_timeout_s=5.0
                ),
            )
            stop_worker, stop_agg = asyncio.Event(), asyncio.Event()
            worker_task = asyncio.create_task(worker.run(stop_worker))
            agg_task = asyncio.create_task(
                run_aggregator(
                    kafka, redis_server.url, agg_cfg, stop=stop_agg, prefix=redis_cfg.key_prefix
                )
            )
            say(f"publishing {len(lines)} messages from {options.feed.name} to {kafka.topic_raw}")
            t_produce = time.perf_counter()
            await produce_lines(kafka, kafka.topic_raw, lines)

            def drained() -> bool:
                return worker.stats.accounted >= len(lines) or worker_task.done()

            loop = asyncio.get_running_loop()
            deadline = loop.time() + options.timeout_s
            while not drained() and loop.time() < deadline:  # noqa: ASYNC110 - polls counters
                await asyncio.sleep(0.05)
            t_drained = time.perf_counter()
            stop_worker.set()
            stats = await worker_task  # raises if the worker failed
            if stats.accounted < len(lines):
                raise TimeoutError(
                    f"only {stats.accounted} of {len(lines)} inputs accounted for within {options.timeout_s:.0f}s"
                )
            say(
                f"worker drained the feed: {stats.accounted} inputs in {t_drained - t_produce:.1f}s"
            )
            outputs, ends = await _read_outputs(
                kafka,
                [
                    kafka.topic_enriched,
                    kafka.topic_duplicates,
                    kafka.topic_deadletter,
                    kafka.topic_timeseries,
                ],
                stats.accounted + stats.timeseries_points,
                timeout_s=30,
            )
            # the aggregator has caught up once its group committed every time-series offset
            ts_ends = {tp: end for tp, end in ends.items() if tp.topic == kafka.topic_timeseries}
            agg_stats = await _wait_for_aggregator(kafka, ts_ends, stop_agg, agg_task)
            summary = _summarise(lines, stats, outputs)
            companies = [c for c, _ in summary["companies_top"]]
            last_event = _feed_end(outputs[kafka.topic_enriched])
            aggregates = _aggregate_summary(
                client, agg_cfg, redis_cfg.key_prefix, companies, last_event
            )
            summary["companies"] = {
                sym: {"snippets": n, **aggregates.get(sym, {})}
                for sym, n in summary.pop("companies_top")
            }
            summary["window_end"] = last_event.isoformat().replace("+00:00", "Z")
            summary["timings_s"] = {
                "total": round(time.perf_counter() - started, 2),
                "startup": round(loaded - started, 2),
                "drain": round(t_drained - t_produce, 2),
            }
            summary["backend"] = getattr(classifier, "name", options.classifier.backend)
            summary["aggregator"] = agg_stats
            if options.serve_port is not None:
                options.on_summary(summary)
                await _serve(options, client, agg_cfg, redis_cfg.key_prefix, classifier, aspects)
        finally:
            client.close()
            if options.classifier_override is None:
                classifier.close()
    return summary


async def _serve(
    options: DemoOptions,
    client: Any,
    agg: AggregateSettings,
    prefix: str,
    classifier: Any,
    aspects: Any,
) -> None:
    """Serve the API and chart page over the demo's Redis until interrupted."""
    import uvicorn

    from finfeed.api.app import create_app
    from finfeed.settings import ApiSettings
    from workers.aggregate_store import AggregateStore

    api = ApiSettings(port=options.serve_port or 8000)
    app = create_app(api, AggregateStore(client, agg, prefix), lambda: classifier, tuple(aspects))
    options.progress(
        f"serving the demo's aggregates on http://{api.host}:{api.port}/ui "
        "(API docs at /docs); Ctrl-C stops"
    )
    server = uvicorn.Server(
        uvicorn.Config(app, host=api.host, port=api.port, log_level="warning", access_log=False)
    )
    await server.serve()


async def _wait_for_aggregator(
    kafka: KafkaSettings,
    ends: dict[Any, int],
    stop: asyncio.Event,
    task: asyncio.Task[Any],
    timeout_s: float = 30.0,
) -> dict[str, int]:
    """Wait until the aggregator's group committed every time-series offset, then stop it."""
    from aiokafka import AIOKafkaConsumer

    from workers.aggregator import GROUP_ID
    from workers.kafka import client_kwargs

    probe = AIOKafkaConsumer(**client_kwargs(kafka), group_id=GROUP_ID, enable_auto_commit=False)
    await probe.start()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    try:
        while loop.time() < deadline and not task.done():
            committed = [await probe.committed(tp) for tp in ends]
            if all(
                c is not None and c >= end for c, end in zip(committed, ends.values(), strict=True)
            ):
                break
            await asyncio.sleep(0.2)
        else:
            log.warning("the aggregator did not catch up within %.0fs", timeout_s)
    finally:
        await probe.stop()
    stop.set()
    result: dict[str, int] = await asyncio.wait_for(task, 15)
    return result


def _feed_end(enriched: list[dict[str, Any]]) -> datetime:
    """The latest event time of the feed's own history.

    Inputs without ``published_at`` take their Kafka timestamp (now); they would pull the
    window to today, so event times within a minute of their ingest time are left out.
    """
    ends = []
    for rec in enriched:
        event = datetime.fromisoformat(rec["event_time"].replace("Z", "+00:00"))
        ingest = datetime.fromisoformat(rec["ingest_time"].replace("Z", "+00:00"))
        if ingest - event > timedelta(minutes=1):
            ends.append(event)
    return max(ends, default=datetime.now(UTC))


def _summarise(
    lines: list[bytes], stats: Any, outputs: dict[str, list[dict[str, Any]]]
) -> dict[str, Any]:
    enriched, dups, dead, points = outputs.values()
    labels: dict[str, Counter[str]] = {}
    for rec in enriched:
        for aspect, score in rec["aspects"].items():
            labels.setdefault(aspect, Counter())[score["label"]] += 1
    per_company = Counter(p["company"] for p in points)
    return {
        "input": len(lines),
        "enriched": stats.enriched,
        "duplicates": stats.duplicates,
        "dead_letter": stats.dead_letter,
        "timeseries_points": stats.timeseries_points,
        "duplicates_by_kind": dict(Counter(r["kind"] for r in dups)),
        "dead_letter_by_reason": dict(sorted(Counter(r["reason"] for r in dead).items())),
        "labels": {a: dict(sorted(c.items())) for a, c in labels.items()},
        "records_on_topics": {
            "enriched": len({r["id"] for r in enriched}),
            "duplicates": len({r["id"] for r in dups}),
            "dead_letter": len({r["id"] for r in dead}),
        },
        "companies_top": per_company.most_common(12),
    }


def format_summary(s: dict[str, Any]) -> str:
    """The summary for people."""
    lines = [
        "",
        f"finfeed demo: {s['input']} raw messages through broker + Redis + worker ({s['backend']})",
        "",
        f"  enriched      {s['enriched']:>5}   (unique snippets scored, {s['timeseries_points']} company points)",
        f"  duplicates    {s['duplicates']:>5}   "
        + ", ".join(f"{k} {v}" for k, v in sorted(s["duplicates_by_kind"].items())),
        f"  dead letters  {s['dead_letter']:>5}   "
        + ", ".join(f"{k} {v}" for k, v in s["dead_letter_by_reason"].items()),
        f"  accounted     {s['enriched'] + s['duplicates'] + s['dead_letter']:>5} of {s['input']}",
        "",
    ]
    for aspect, counts in s["labels"].items():
        total = sum(counts.values()) or 1
        mix = "  ".join(f"{k} {100 * v / total:.0f}%" for k, v in counts.items())
        lines.append(f"  {aspect:<16} {mix}")
    lines += [
        "",
        f"  7-day average sentiment (P(pos) - P(neg)) up to {s['window_end']}, as known now:",
        "",
    ]
    lines.append(
        f"  {'company':<8} {'snippets':>8} {'7d avg':>8} {'n':>4}   {'fwd-looking avg':>15} {'n':>4}"
    )
    for sym, c in s["companies"].items():
        avg = "-" if c.get("avg_7d") is None else f"{c['avg_7d']:+.3f}"
        fwd = (
            "-"
            if c.get("avg_7d_forward_looking") is None
            else f"{c['avg_7d_forward_looking']:+.3f}"
        )
        lines.append(
            f"  {sym:<8} {c['snippets']:>8} {avg:>8} {c.get('count_7d', 0):>4}   {fwd:>15} {c.get('count_7d_forward_looking', 0):>4}"
        )
    t = s["timings_s"]
    lines += [
        "",
        f"  total {t['total']:.1f}s: startup {t['startup']:.1f}s, stream {t['drain']:.1f}s "
        "(including the consumer-group join)",
        "",
    ]
    return "\n".join(lines)

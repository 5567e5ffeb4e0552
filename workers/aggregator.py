"""The aggregator: ``sentiment.timeseries`` in, Redis rolling aggregates, ``sentiment.aggregates`` out.

Each fetched batch goes through three steps in a fixed order (at-least-once, idempotent):

1. apply the points to the ``AggregateStore`` (a point id already applied is a no-op, so
   a batch re-delivered after a crash changes nothing);
2. produce each changed company's updated aggregates (one per aspect filter, keyed by the
   company) to ``sentiment.aggregates`` and wait for the broker's acknowledgements;
3. only then commit the batch's offsets.

A record that is not a valid ``TimeseriesPoint`` becomes a dead letter (reason
``invalid_timeseries_point``) on the dead-letter topic; it never stops the stream.

``rebuild_aggregates`` empties the store and replays ``sentiment.timeseries`` from the
beginning with a fresh, group-less consumer up to the end offsets seen at its start.
Because every write is idempotent and a company's points keep their order within a
partition, the rebuilt store answers exactly as the one it replaces, ``as_of`` included.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from finfeed.settings import AggregateSettings, KafkaSettings, RedisSettings
from pipeline.records import DeadLetterRecord, SourcePosition, TimeseriesPoint
from workers.aggregate_store import AggregateStore
from workers.errors import ServiceError

log = logging.getLogger(__name__)

GROUP_ID = "finfeed-aggregates"
FETCH_MAX_RECORDS = 2_000
PRUNE_EVERY_S = 3600.0  # how often the symbol index drops companies past the retention


def _client_kwargs(kafka: KafkaSettings) -> dict[str, Any]:
    from workers.kafka import client_kwargs

    return client_kwargs(kafka)


def _connect(redis: str | RedisSettings) -> Any:
    """A checked client from settings (password, TLS) or a bare URL."""
    from workers.redis_conn import connect_redis

    settings = redis if isinstance(redis, RedisSettings) else RedisSettings(url=redis)
    try:
        return connect_redis(settings)
    except ServiceError as exc:
        raise ServiceError(f"cannot reach Redis for the aggregates: {exc}") from exc


def decode_points(
    messages: Sequence[Any], now: datetime
) -> tuple[list[TimeseriesPoint], list[DeadLetterRecord]]:
    """Parse consumed records; the ones that are not valid points become dead letters."""
    points: list[TimeseriesPoint] = []
    dead: list[DeadLetterRecord] = []
    for msg in messages:
        try:
            data = json.loads(msg.value)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            point = TimeseriesPoint.from_dict(data)
            if "sentiment" not in point.scores:
                raise ValueError("no sentiment score")
            points.append(point)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            pos = SourcePosition(msg.topic, msg.partition, msg.offset)
            dead.append(
                DeadLetterRecord("invalid_timeseries_point", str(exc), msg.value or b"", pos, now)
            )
    return points, dead


async def run_aggregator(
    kafka: KafkaSettings,
    redis_url: str | RedisSettings,
    agg: AggregateSettings,
    *,
    stop: asyncio.Event | None = None,
    idle_exit_s: float | None = None,
    prefix: str = "finfeed:",
    group_id: str = GROUP_ID,
    prune_every_s: float = PRUNE_EVERY_S,
) -> dict[str, int]:
    """Consume ``sentiment.timeseries`` until ``stop`` is set (or idle for ``idle_exit_s``).

    At start and every ``prune_every_s`` the symbol index forgets companies with nothing
    known within the retention (their buckets expire by themselves).

    Returns counters: ``consumed``, ``applied`` (points that changed the store),
    ``published`` (aggregates produced), ``invalid`` (dead letters), ``commits``,
    ``pruned`` (symbols forgotten).
    """
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
    from aiokafka.errors import CommitFailedError, KafkaError

    stop = stop or asyncio.Event()
    store = AggregateStore(_connect(redis_url), agg, prefix)
    common = _client_kwargs(kafka)
    consumer = AIOKafkaConsumer(
        kafka.topic_timeseries,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=kafka.session_timeout_ms,
        heartbeat_interval_ms=kafka.heartbeat_interval_ms,
        max_poll_records=FETCH_MAX_RECORDS,
        **common,
    )
    producer = AIOKafkaProducer(acks="all", linger_ms=5, **common)
    stats = {
        "consumed": 0, "applied": 0, "published": 0, "invalid": 0, "commits": 0, "pruned": 0
    }  # fmt: skip
    try:
        await consumer.start()
        await producer.start()
    except KafkaError as exc:
        await consumer.stop()
        await producer.stop()
        raise ServiceError(f"cannot reach Kafka at {kafka.bootstrap}: {exc}") from exc
    last_data = time.monotonic()
    last_prune: float | None = None
    try:
        while not stop.is_set():
            if last_prune is None or time.monotonic() - last_prune >= prune_every_s:
                stats["pruned"] += await asyncio.to_thread(store.prune_symbols)
                last_prune = time.monotonic()
            batch = await consumer.getmany(timeout_ms=500, max_records=FETCH_MAX_RECORDS)
            messages = [m for msgs in batch.values() for m in msgs]
            if not messages:
                if idle_exit_s is not None and time.monotonic() - last_data >= idle_exit_s:
                    break
                continue
            last_data = time.monotonic()
            stats["consumed"] += len(messages)
            points, dead = decode_points(messages, datetime.now(UTC))
            # 1. Redis first: idempotent, so a crash before the commit only replays no-ops.
            changed = await asyncio.to_thread(store.apply_quiet, points)
            stats["applied"] += sum(changed)
            symbols = list(
                dict.fromkeys(p.company for p, c in zip(points, changed, strict=True) if c)
            )
            aggregates = await asyncio.to_thread(_current_aggregates, store, symbols)
            # 2. Produce the updated aggregates and dead letters; wait for every ack.
            futures = [
                await producer.send(
                    kafka.topic_aggregates,
                    json.dumps(a.to_dict()).encode(),
                    key=a.symbol.encode(),
                )
                for a in aggregates
            ]
            futures += [
                await producer.send(
                    kafka.topic_deadletter, json.dumps(d.to_dict()).encode(), key=d.id.encode()
                )
                for d in dead
            ]
            if futures:
                await asyncio.gather(*futures)
            stats["published"] += len(aggregates)
            stats["invalid"] += len(dead)
            # 3. Only now commit: one past the last offset of each partition in the batch.
            offsets = {
                TopicPartition(tp.topic, tp.partition): msgs[-1].offset + 1
                for tp, msgs in batch.items()
                if msgs
            }
            try:
                await consumer.commit(offsets)
                stats["commits"] += 1
            except CommitFailedError as exc:  # rebalanced: the new owner replays (no-ops)
                log.warning("offset commit failed after a rebalance: %s", exc)
    finally:
        await consumer.stop()
        await producer.stop()
        store.client.close()
    return stats


def _current_aggregates(store: AggregateStore, symbols: list[str]) -> list[Any]:
    if not symbols:
        return []
    now = store.clock()
    window = store.default_window
    from pipeline.aggregates import ASPECT_FILTERS

    return store.query_many(
        [(s, f, now - window, now, now) for s in symbols for f in ASPECT_FILTERS]
    )


async def rebuild_aggregates(
    kafka: KafkaSettings,
    redis_url: str | RedisSettings,
    agg: AggregateSettings,
    *,
    prefix: str = "finfeed:",
    clear: bool = True,
    progress: Any = None,
) -> dict[str, int]:
    """Empty the aggregate store and replay ``sentiment.timeseries`` from the beginning.

    Reads with a fresh consumer (no group, nothing committed) up to the end offsets seen
    at the start. Returns ``deleted`` keys, ``consumed`` records, ``applied`` points and
    ``invalid`` records. ``progress(consumed, total)`` is called after each batch.
    """
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.errors import KafkaError

    client = _connect(redis_url)
    store = AggregateStore(client, agg, prefix)
    consumer = AIOKafkaConsumer(
        group_id=None, enable_auto_commit=False, auto_offset_reset="earliest",
        **_client_kwargs(kafka),
    )  # fmt: skip
    stats = {"deleted": 0, "consumed": 0, "applied": 0, "invalid": 0}
    try:
        await consumer.start()
    except KafkaError as exc:
        await consumer.stop()
        client.close()
        raise ServiceError(f"cannot reach Kafka at {kafka.bootstrap}: {exc}") from exc
    try:
        topics = await consumer.topics()
        if kafka.topic_timeseries not in topics:
            raise ServiceError(f"topic {kafka.topic_timeseries} does not exist")
        parts = consumer.partitions_for_topic(kafka.topic_timeseries) or set()
        tps = [TopicPartition(kafka.topic_timeseries, p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        begin = await consumer.beginning_offsets(tps)
        end = await consumer.end_offsets(tps)
        total = sum(end[tp] - begin[tp] for tp in tps)
        if clear:
            stats["deleted"] = await asyncio.to_thread(store.clear)
        # Read past the end offsets seen at the start until a poll comes back empty: some
        # brokers report a batch-aligned end offset, and records appended meanwhile are
        # harmless (idempotent; the live aggregator applies them too).
        while True:
            batch = await consumer.getmany(timeout_ms=1000, max_records=FETCH_MAX_RECORDS)
            messages = [m for msgs in batch.values() for m in msgs]
            if not messages:
                positions = [await consumer.position(tp) for tp in tps]
                if all(pos >= end[tp] for pos, tp in zip(positions, tps, strict=True)):
                    break
                continue
            stats["consumed"] += len(messages)
            points, dead = decode_points(messages, datetime.now(UTC))
            stats["invalid"] += len(dead)
            changed = await asyncio.to_thread(store.apply_quiet, points)
            stats["applied"] += sum(changed)
            if progress is not None:
                progress(stats["consumed"], total)
    finally:
        await consumer.stop()
        client.close()
    return stats

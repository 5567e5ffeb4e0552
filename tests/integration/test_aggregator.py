"""The aggregator and ``rebuild-aggregates`` through the real broker and real Redis."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from finfeed.settings import AggregateSettings, KafkaSettings
from pipeline.aggregates import ASPECT_FILTERS
from tests.integration.aggregate_reference import Reference, scenario
from workers.aggregate_store import AggregateStore
from workers.aggregator import rebuild_aggregates, run_aggregator

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)


def _settings(bootstrap: str) -> KafkaSettings:
    tag = uuid.uuid4().hex[:8]
    return KafkaSettings(
        bootstrap=bootstrap,
        topic_timeseries=f"ts-{tag}",
        topic_aggregates=f"agg-{tag}",
        topic_deadletter=f"dl-{tag}",
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
    )


async def _produce(kafka: KafkaSettings, partitions: int, records: list[tuple[str, bytes]]) -> None:
    from aiokafka import AIOKafkaProducer

    from workers.kafka import ensure_topics

    await ensure_topics(
        kafka,
        partitions=partitions,
        topics=[kafka.topic_timeseries, kafka.topic_aggregates, kafka.topic_deadletter],
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all")
    await producer.start()
    try:
        for key, value in records:
            await producer.send(kafka.topic_timeseries, value, key=key.encode())
        await producer.flush()
    finally:
        await producer.stop()


async def _read_all(kafka: KafkaSettings, topic: str) -> list[tuple[bytes, bytes]]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap, group_id=None)
    await consumer.start()
    try:
        await consumer.topics()
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        out: list[tuple[bytes, bytes]] = []
        async with asyncio.timeout(30):
            while True:  # past the reported end offsets until a poll is empty (see rebuild)
                batch = await consumer.getmany(timeout_ms=500)
                got = [(m.key, m.value) for msgs in batch.values() for m in msgs]
                out.extend(got)
                if not got and all([await consumer.position(tp) >= end[tp] for tp in tps]):
                    break
        return out
    finally:
        await consumer.stop()


def _snapshot(store: AggregateStore) -> list[dict[str, object]]:
    rng = random.Random(5)
    answers = []
    for symbol in ("TSLA", "AAPL", "MSFT"):
        for aspect in ASPECT_FILTERS:
            for _ in range(8):
                as_of = NOW - timedelta(milliseconds=rng.randrange(0, 20 * 86_400_000))
                answers.append(store.query(symbol, aspect=aspect, as_of=as_of).to_dict())
            answers.append(store.query(symbol, aspect=aspect, as_of=NOW).to_dict())
    return answers


@pytest.mark.parametrize("partitions", [1, 3])
async def test_aggregator_then_rebuild_gives_identical_answers(
    kafka_bootstrap: str, redis_url: str, redis_client, partitions: int, capsys
) -> None:  # type: ignore[no-untyped-def]
    kafka = _settings(kafka_bootstrap)
    agg = AggregateSettings()
    points = scenario(21, now=NOW, n=240)
    records = [(p.company, json.dumps(p.to_dict()).encode()) for p in points]
    records.insert(17, ("TSLA", b"{not json"))
    await _produce(kafka, partitions, records)
    # a company last heard of before the retention: the aggregator's prune forgets it
    stale_ms = int((NOW - timedelta(days=agg.retention_days + 1)).timestamp() * 1000)
    redis_client.zadd("ag:agg:symbols", {"OLDCO": stale_ms})

    stats = await run_aggregator(kafka, redis_url, agg, idle_exit_s=2.0, prefix="ag:")
    assert stats["pruned"] == 1 and redis_client.zscore("ag:agg:symbols", "OLDCO") is None
    assert stats["consumed"] == len(records)
    assert stats["invalid"] == 1
    assert stats["applied"] == len({p.id for p in points})  # redeliveries were no-ops
    assert stats["commits"] >= 1

    store = AggregateStore(redis_client, agg, prefix="ag:")
    ref = Reference(points)
    for symbol in ("TSLA", "AAPL", "MSFT"):
        for aspect in ASPECT_FILTERS:
            got = store.query(symbol, aspect=aspect, as_of=NOW - timedelta(days=3))
            exp = ref.expected(symbol, aspect, got.window_start, got.window_end, got.as_of)
            assert (got.count, got.positive) == (exp.count, exp.positive)

    published = await _read_all(kafka, kafka.topic_aggregates)
    assert published and {k.decode() for k, _ in published} == {"TSLA", "AAPL", "MSFT"}
    last = {}
    for key, value in published:
        data = json.loads(value)
        assert data["symbol"] == key.decode()
        last[(data["symbol"], data["aspect"])] = data
    assert set(last) == {(s, f) for s in ("TSLA", "AAPL", "MSFT") for f in ASPECT_FILTERS}
    for (symbol, aspect), data in last.items():  # the newest published aggregate is current
        assert data["count"] == store.query(symbol, aspect=aspect).count
    dead = await _read_all(kafka, kafka.topic_deadletter)
    assert [json.loads(v)["reason"] for _, v in dead] == ["invalid_timeseries_point"]

    # committed: a restart in the same group reads nothing new
    again = await run_aggregator(kafka, redis_url, agg, idle_exit_s=1.0, prefix="ag:")
    assert again["consumed"] == 0

    before = _snapshot(store)
    redis_client.set("ag:agg:{ZZZ}:b:1", "stale")  # rebuild also drops what it did not write
    if partitions == 1:
        rebuilt = await rebuild_aggregates(kafka, redis_url, agg, prefix="ag:")
    else:  # through the CLI, as an operator runs it
        from finfeed.cli import main

        capsys.readouterr()
        argv = ["rebuild-aggregates", "--bootstrap", kafka.bootstrap, "--topic-timeseries"]
        argv += [kafka.topic_timeseries, "--redis-url", redis_url, "--key-prefix", "ag:", "--json"]
        assert await asyncio.to_thread(main, argv) == 0
        rebuilt = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rebuilt["consumed"] == len(records) and rebuilt["invalid"] == 1
    assert rebuilt["deleted"] > 0
    assert redis_client.exists("ag:agg:{ZZZ}:b:1") == 0
    assert _snapshot(store) == before

"""A third-party Kafka client (librdkafka via confluent-kafka) feeds the worker and reads
its output: the wire format is plain Kafka + JSON, not an aiokafka private contract."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from tests.integration.test_worker_support import (
    LexiconClassifier,
    kafka_settings_for_test,
    make_worker,
    mixed_feed,
    wait_for,
)
from workers.kafka import confluent_config, ensure_topics

pytestmark = pytest.mark.integration


def _produce(conf: dict, topic: str, messages: list[tuple[str | None, bytes]]) -> None:
    from confluent_kafka import Producer

    errors: list[object] = []
    producer = Producer({**conf, "acks": "all", "linger.ms": 5})
    for key, value in messages:
        producer.produce(
            topic, value=value, key=key, on_delivery=lambda e, m: e and errors.append(e)
        )
    assert producer.flush(20) == 0
    assert not errors, errors


def _consume(
    conf: dict, topic: str, expected: int, timeout_s: float = 30
) -> list[tuple[str, dict]]:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer({**conf, "group.id": f"reader-{topic}", "enable.auto.commit": False})
    # assign (no group join): read the single partition from the beginning
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    got: list[tuple[str, dict]] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(got) < expected and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None or msg.error():
                continue
            got.append((msg.key().decode(), json.loads(msg.value())))
    finally:
        consumer.close()
    return got


async def test_confluent_kafka_produces_input_and_reads_output(
    kafka_bootstrap: str, redis_client
) -> None:
    kafka = kafka_settings_for_test(kafka_bootstrap)
    await ensure_topics(kafka, partitions=1)  # one ordered log: originals come first
    feed = mixed_feed(n_unique=8)
    conf = confluent_config(kafka)
    await asyncio.to_thread(_produce, conf, kafka.topic_raw, feed.messages)

    worker = make_worker(kafka, redis_client, LexiconClassifier())
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        assert await wait_for(lambda: worker.stats.accounted >= feed.total, 40), worker.stats
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)

    enriched = await asyncio.to_thread(_consume, conf, kafka.topic_enriched, len(feed.unique))
    assert sorted(k for k, _ in enriched) == sorted(feed.unique)
    for key, record in enriched:
        assert record["id"] == key
        assert record["aspects"]["sentiment"]["label"] in {"negative", "neutral", "positive"}
    dead = await asyncio.to_thread(_consume, conf, kafka.topic_deadletter, feed.malformed)
    assert len(dead) == feed.malformed

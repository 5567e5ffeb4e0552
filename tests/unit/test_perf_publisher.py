"""The publisher's murmur2 and key -> partition memo choose what Kafka's partitioner does."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from aiokafka.partitioner import murmur2 as reference_murmur2

from workers.publisher import BatchPublisher, murmur2


def test_murmur2_equals_the_kafka_reference() -> None:
    rng = random.Random(3)
    keys = [b"", b"a", b"ab", b"abc", b"abcd", b"AAPL", "Zürich €".encode()]
    keys += [rng.randbytes(rng.randint(0, 70)) for _ in range(3000)]
    for key in keys:
        assert murmur2(key) == reference_murmur2(key), key
    # known values of the Java client (org.apache.kafka.common.utils.Utils.murmur2)
    assert murmur2(b"21") == (-973932308) & 0xFFFFFFFF
    assert murmur2(b"foobar") == (-790332482) & 0xFFFFFFFF


class FakeBatch:
    def __init__(self) -> None:
        self.records: list[tuple[bytes, bytes]] = []

    def append(self, *, key: bytes, value: bytes, timestamp: Any) -> object:
        self.records.append((key, value))
        return object()


class FakeProducer:
    def __init__(self, partitions: dict[str, set[int]]) -> None:
        self.parts = partitions
        self.sent: list[tuple[str, int, list[tuple[bytes, bytes]]]] = []

    async def partitions_for(self, topic: str) -> set[int]:
        return self.parts[topic]

    def create_batch(self) -> FakeBatch:
        return FakeBatch()

    async def send_batch(self, batch: FakeBatch, topic: str, *, partition: int) -> Any:
        self.sent.append((topic, partition, batch.records))
        return asyncio.get_running_loop().create_future()


def test_records_land_where_the_default_partitioner_puts_them() -> None:
    producer = FakeProducer({"ts": {0, 1, 2, 3, 4}, "enriched": {0, 1, 2}})
    publisher = BatchPublisher(producer)
    rng = random.Random(4)
    companies = [f"C{i}".encode() for i in range(40)]
    rows = [("ts", rng.choice(companies), b"v%d" % i) for i in range(500)]
    rows += [("enriched", b"id-%d" % i, b"e") for i in range(300)]

    async def run() -> None:
        await publisher.publish(rows)
        await publisher.publish(rows[:50])  # memo hits this time

    asyncio.run(run())
    for topic, partition, records in producer.sent:
        n = len(producer.parts[topic])
        for key, _ in records:
            assert (reference_murmur2(key) & 0x7FFFFFFF) % n == partition
    assert sum(len(r) for _, _, r in producer.sent) == len(rows) + 50

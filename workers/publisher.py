"""Publishing many keyed records at once: one record batch per (topic, partition).

``producer.send`` costs tens of microseconds per record in Python (partitioning, a future
per record, accumulator bookkeeping). The worker publishes whole micro-batches, so it
appends records straight into aiokafka's (C-accelerated) ``BatchBuilder``s, one per
partition, and submits each with ``send_batch``: one future per batch. Partitions are
chosen exactly as the default partitioner does (murmur2 of the key, like the Java client),
so keys land where any other Kafka client would put them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

from aiokafka.partitioner import murmur2

from workers.errors import WorkerError

# Kafka's default message.max.bytes is ~1 MB per record batch; stay clearly below it.
DEFAULT_MAX_RECORD_BYTES = 900_000
_PARTITION_REFRESH_S = 60.0


class RecordTooLargeError(WorkerError):
    """One encoded record is larger than the configured output limit."""


class BatchPublisher:
    """Groups ``(topic, key, value)`` records into per-partition batches and submits them."""

    def __init__(self, producer: Any, *, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> None:
        self._producer = producer
        self.max_record_bytes = max_record_bytes
        self._partitions: dict[str, tuple[float, list[int]]] = {}

    async def partitions(self, topic: str) -> list[int]:
        """The topic's partitions, sorted; refreshed from metadata once a minute."""
        now = time.monotonic()
        cached = self._partitions.get(topic)
        if cached is not None and now - cached[0] < _PARTITION_REFRESH_S:
            return cached[1]
        parts = sorted(await self._producer.partitions_for(topic))
        if not parts:
            raise WorkerError(f"topic {topic!r} has no partitions")
        self._partitions[topic] = (now, parts)
        return parts

    def partition_for(self, key: bytes, partitions: list[int]) -> int:
        index: int = (murmur2(key) & 0x7FFFFFFF) % len(partitions)
        return partitions[index]

    async def publish(
        self, records: Iterable[tuple[str, bytes, bytes]]
    ) -> list[asyncio.Future[Any]]:
        """Queue ``records`` for the broker; futures resolve when their batches are acked.

        Records of one key keep their order (same partition, appended in order). Raises
        ``RecordTooLargeError`` before queuing anything if a record exceeds the limit.
        """
        producer = self._producer
        builders: dict[tuple[str, int], Any] = {}
        futures: list[asyncio.Future[Any]] = []
        parts_of: dict[str, list[int]] = {}
        rows = list(records)
        for topic, _key, value in rows:
            if len(value) > self.max_record_bytes:
                raise RecordTooLargeError(
                    f"a {topic} record of {len(value)} bytes exceeds {self.max_record_bytes}"
                )
            if topic not in parts_of:
                parts_of[topic] = await self.partitions(topic)
        for topic, key, value in rows:
            partition = self.partition_for(key, parts_of[topic])
            slot = (topic, partition)
            builder = builders.get(slot)
            if builder is None:
                builder = builders[slot] = producer.create_batch()
            if builder.append(key=key, value=value, timestamp=None) is None:
                # the batch is full: submit it, continue in a fresh one
                futures.append(await producer.send_batch(builder, topic, partition=partition))
                builder = builders[slot] = producer.create_batch()
                if builder.append(key=key, value=value, timestamp=None) is None:
                    raise RecordTooLargeError(
                        f"a {topic} record of {len(value)} bytes does not fit a producer batch"
                    )
        for (topic, partition), builder in builders.items():
            futures.append(await producer.send_batch(builder, topic, partition=partition))
        return futures

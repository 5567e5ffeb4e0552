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
import struct
import time
from collections.abc import Iterable
from typing import Any

from workers.errors import WorkerError

# Kafka's default message.max.bytes is ~1 MB per record batch; stay clearly below it.
DEFAULT_MAX_RECORD_BYTES = 900_000
_PARTITION_REFRESH_S = 60.0
_MEMO_KEYS = 65_536  # remembered key -> partition choices per topic


_M = 0x5BD1E995
_MASK = 0xFFFFFFFF
_BLOCKS: dict[int, struct.Struct] = {}


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (the Java client's ``Utils.murmur2``, as ``aiokafka.partitioner``
    computes it), a few times faster: the 4-byte blocks are unpacked in one call."""
    length = len(data)
    h = (0x9747B28C ^ length) & _MASK
    blocks = length >> 2
    if blocks:
        unpack = _BLOCKS.get(blocks)
        if unpack is None:
            unpack = _BLOCKS[blocks] = struct.Struct(f"<{blocks}I")
        for k in unpack.unpack_from(data):
            k = (k * _M) & _MASK
            k = ((k ^ (k >> 24)) * _M) & _MASK
            h = ((h * _M) & _MASK) ^ k
    tail = length & 3
    if tail:
        end = length & ~3
        if tail == 3:
            h ^= data[end + 2] << 16
        if tail >= 2:
            h ^= data[end + 1] << 8
        h = ((h ^ data[end]) * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    return h ^ (h >> 15)


class RecordTooLargeError(WorkerError):
    """One encoded record is larger than the configured output limit."""


class BatchPublisher:
    """Groups ``(topic, key, value)`` records into per-partition batches and submits them."""

    def __init__(self, producer: Any, *, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> None:
        self._producer = producer
        self.max_record_bytes = max_record_bytes
        self._partitions: dict[str, tuple[float, list[int]]] = {}
        self._memo: dict[str, tuple[list[int], dict[bytes, int]]] = {}

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

    def _partitioner(self, topic: str, partitions: list[int]) -> dict[bytes, int]:
        """A bounded key -> partition memo for ``topic`` (company keys repeat constantly);
        a fresh one whenever the topic's partitions change."""
        cached = self._memo.get(topic)
        if cached is None or cached[0] is not partitions:
            cached = self._memo[topic] = (partitions, {})
        memo = cached[1]
        if len(memo) >= _MEMO_KEYS:
            memo.clear()
        return memo

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
        memos = {topic: self._partitioner(topic, parts) for topic, parts in parts_of.items()}
        for topic, key, value in rows:
            memo = memos[topic]
            partition = memo.get(key)
            if partition is None:
                partition = memo[key] = self.partition_for(key, parts_of[topic])
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

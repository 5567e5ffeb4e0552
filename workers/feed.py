"""Raw feeds into Kafka: one line of a JSON Lines file is one raw message.

Used by ``finfeed produce``, ``finfeed demo`` and the benchmark. Lines are sent byte for
byte (malformed lines stay malformed), keyed by their ``id`` when they have one.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from finfeed import serialization
from finfeed.settings import KafkaSettings
from workers.kafka import client_kwargs

_ACK_EVERY = 10_000


def message_key(line: bytes) -> bytes | None:
    """The line's ``id`` (string or integer) as the message key, when it has one."""
    try:
        doc = serialization.loads(line)
    except ValueError:
        return None
    if isinstance(doc, dict):
        value = doc.get("id")
        if isinstance(value, str) and value.strip():
            return value.strip().encode("utf-8")
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value).encode("ascii")
    return None


def read_lines(path: str | Path) -> list[bytes]:
    """Non-blank lines without their line ending, as bytes (invalid UTF-8 survives)."""
    return list(iter_lines(path))


def iter_lines(path: str | Path) -> Iterator[bytes]:
    """``read_lines`` streamed: constant memory for files of any size."""
    if str(path) == "-":
        yield from (line.rstrip(b"\r\n") for line in sys.stdin.buffer if line.strip())
        return
    with open(path, "rb") as stream:
        yield from (line.rstrip(b"\r\n") for line in stream if line.strip())


async def produce_lines(
    kafka: KafkaSettings,
    topic: str,
    lines: Iterable[bytes],
    *,
    keys: Sequence[bytes | None] | None = None,
    producer: Any = None,
) -> int:
    """Publish ``lines`` and wait for every acknowledgement; returns how many were sent."""
    from aiokafka import AIOKafkaProducer

    own = producer is None
    if own:
        producer = AIOKafkaProducer(
            **client_kwargs(kafka),
            acks="all",
            linger_ms=10,
            max_batch_size=512 * 1024,
            max_request_size=4 << 20,
        )
        await producer.start()
    sent = 0
    try:
        futures = []
        for i, line in enumerate(lines):
            key = keys[i] if keys is not None else message_key(line)
            futures.append(await producer.send(topic, value=line, key=key))
            sent += 1
            if len(futures) >= _ACK_EVERY:  # bound memory on big files
                await asyncio.gather(*futures)
                futures = []
        await asyncio.gather(*futures)
    finally:
        if own:
            await producer.stop()
    return sent

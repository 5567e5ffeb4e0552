"""The embedded broker and Redis start on free ports and speak their protocols."""

from __future__ import annotations

import asyncio
import uuid

import pytest

pytestmark = pytest.mark.integration


def test_redis_roundtrip(redis_client) -> None:  # type: ignore[no-untyped-def]
    redis_client.set("finfeed:probe", "1", ex=60)
    assert redis_client.get("finfeed:probe") == b"1"
    assert 0 < redis_client.ttl("finfeed:probe") <= 60


def test_broker_produce_consume_across_partitions(kafka_bootstrap: str) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    topic = f"probe-{uuid.uuid4().hex[:8]}"

    async def scenario() -> list[bytes]:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
        await admin.close()
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        await producer.start()
        for i in range(30):
            await producer.send(topic, f"m{i}".encode(), key=f"k{i}".encode())
        await producer.flush()
        await producer.stop()
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=kafka_bootstrap,
            group_id=f"g-{topic}",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            session_timeout_ms=6000,
            heartbeat_interval_ms=500,
        )
        await consumer.start()
        got: list[bytes] = []
        try:
            async with asyncio.timeout(30):
                while len(got) < 30:
                    batch = await consumer.getmany(timeout_ms=500)
                    for msgs in batch.values():
                        got.extend(m.value for m in msgs)
        finally:
            await consumer.stop()
        return got

    got = asyncio.run(scenario())
    assert sorted(got) == sorted(f"m{i}".encode() for i in range(30))


def _alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def test_embedded_redis_stops_even_with_clients_connected() -> None:
    import redis

    from workers.embedded import EmbeddedRedis

    server = EmbeddedRedis().start()
    client = redis.Redis.from_url(server.url)
    client.ping()
    pid = server._server.pid  # type: ignore[union-attr]
    assert _alive(pid)
    server.stop()
    assert not _alive(pid)
    client.close()


def test_embedded_broker_process_ends_on_exit() -> None:
    from workers.embedded import EmbeddedBroker

    with EmbeddedBroker() as broker:
        proc = broker._proc
        assert proc is not None and proc.poll() is None
    assert proc.poll() is not None


def test_embedded_redis_with_a_database_file_keeps_its_data(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import redis

    from workers.embedded import EmbeddedRedis

    path = tmp_path / "finfeed.rdb"
    with EmbeddedRedis(db_path=path) as server:
        client = redis.Redis.from_url(server.url)
        client.set("finfeed:kept", "yes")
        client.close()
    with EmbeddedRedis(db_path=path) as server:
        client = redis.Redis.from_url(server.url)
        assert client.get("finfeed:kept") == b"yes"
        client.close()

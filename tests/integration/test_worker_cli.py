"""The CLI end to end on the real broker and Redis: ``finfeed produce`` feeds the raw
topic, ``finfeed worker`` (a real process, embedded classifier) enriches it and stops
cleanly on SIGTERM after committing, ``finfeed tail`` prints the output."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import httpx
import pytest

from finfeed.cli import main as finfeed
from tests.integration.test_worker_support import (
    committed_offsets,
    end_offsets,
    kafka_settings_for_test,
    mixed_feed,
)
from workers.embedded import free_port
from workers.kafka import ensure_topics

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


async def test_produce_worker_sigterm_tail(
    kafka_bootstrap: str, redis_url: str, redis_client, tmp_path: Path, capsys
) -> None:
    kafka = kafka_settings_for_test(kafka_bootstrap)
    await ensure_topics(kafka, partitions=2)
    feed = mixed_feed(n_unique=12)
    feed_file = tmp_path / "feed.jsonl"
    feed_file.write_bytes(b"\n".join(v for _, v in feed.messages) + b"\n")

    args = [
        "produce",
        str(feed_file),
        "--bootstrap",
        kafka.bootstrap,
        "--topic-raw",
        kafka.topic_raw,
    ]
    assert await asyncio.to_thread(finfeed, args) == 0
    assert json.loads(capsys.readouterr().out) == {"produced": feed.total, "topic": kafka.topic_raw}

    port = free_port()
    env = dict(
        os.environ,
        PYTHONPATH=str(REPO),
        FINFEED_KAFKA_BOOTSTRAP=kafka.bootstrap,
        FINFEED_KAFKA_GROUP_ID=kafka.group_id,
        FINFEED_KAFKA_TOPIC_RAW=kafka.topic_raw,
        FINFEED_KAFKA_TOPIC_ENRICHED=kafka.topic_enriched,
        FINFEED_KAFKA_TOPIC_TIMESERIES=kafka.topic_timeseries,
        FINFEED_KAFKA_TOPIC_DUPLICATES=kafka.topic_duplicates,
        FINFEED_KAFKA_TOPIC_DEADLETTER=kafka.topic_deadletter,
        FINFEED_KAFKA_SESSION_TIMEOUT_MS="6000",
        FINFEED_KAFKA_HEARTBEAT_INTERVAL_MS="500",
        FINFEED_REDIS_URL=redis_url,
        FINFEED_REDIS_KEY_PREFIX="cli-test:",
        FINFEED_METRICS_PORT=str(port),
        FINFEED_THREADS="1",
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "finfeed.cli", "worker", env=env, cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    health: dict = {}
    try:
        async with httpx.AsyncClient() as client:

            async def accounted() -> bool:
                nonlocal health
                try:
                    health = (await client.get(f"http://127.0.0.1:{port}/healthz")).json()
                except httpx.HTTPError:
                    return False
                return health["stats"]["accounted"] >= feed.total

            loop = asyncio.get_running_loop()
            deadline = loop.time() + 120  # first run may export the embedded model to ONNX
            while not await accounted() and loop.time() < deadline and proc.returncode is None:  # noqa: ASYNC110
                await asyncio.sleep(0.2)
        assert health.get("status") == "ok", health
        assert health["stats"]["enriched"] == len(feed.unique)
        proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()[-2000:]
    final = json.loads(out.decode().strip().splitlines()[-1])
    assert final["stopped"] is True and final["accounted"] == feed.total
    assert await committed_offsets(kafka) == await end_offsets(kafka)

    args = ["tail", kafka.topic_enriched, "--from-beginning", "-n", str(len(feed.unique))]
    args += ["--idle-exit", "10", "--bootstrap", kafka.bootstrap]
    assert await asyncio.to_thread(finfeed, args) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    ids = [json.loads(line)["id"] for line in lines]
    assert len(ids) == len(set(ids)) == len(feed.unique)
    for copy_id, original_id in feed.duplicates.items():  # one of each pair was enriched
        assert len({copy_id, original_id} & set(ids)) == 1
    record = json.loads(lines[0])
    assert record["aspects"]["sentiment"]["model"] and record["processed_time"]

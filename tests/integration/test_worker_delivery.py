"""Delivery guarantees on the real broker and Redis: redelivery after a crash,
backpressure from the classifier, and two workers sharing one group."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.integration.test_worker_support import (
    FlakyClassifier,
    LexiconClassifier,
    committed_offsets,
    end_offsets,
    interleave,
    kafka_settings_for_test,
    make_worker,
    mixed_feed,
    produce,
    read_topics,
    wait_for,
)
from workers.kafka import ensure_topics

pytestmark = pytest.mark.integration

SUPPORT = Path(__file__).with_name("test_worker_support.py")
REPO = Path(__file__).resolve().parents[2]


async def test_crash_before_commit_redelivers_without_double_counting(
    kafka_bootstrap: str, redis_url: str, redis_client
) -> None:
    kafka = kafka_settings_for_test(kafka_bootstrap)
    await ensure_topics(kafka, partitions=2)
    feed = mixed_feed(n_unique=16)
    await produce(kafka, interleave(feed))
    prefix = "finfeed-redeliver:"
    cfg = {"kafka": kafka.model_dump(mode="json"), "redis_url": redis_url, "prefix": prefix}
    env = dict(os.environ, PYTHONPATH=str(REPO))
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        str(SUPPORT),
        json.dumps(cfg),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=env,
        cwd=REPO,
    )
    try:
        # wait until the child published outputs for every input, then kill it hard:
        # its outputs are acknowledged, its offsets never committed
        reached = False
        assert child.stdout is not None
        async with asyncio.timeout(60):
            while line := await child.stdout.readline():
                if json.loads(line)["accounted"] >= feed.total:
                    reached = True
                    break
        assert reached, "the child worker did not process the feed"
    finally:
        child.send_signal(signal.SIGKILL)
        await asyncio.wait_for(child.wait(), 10)
    assert all(v is None for v in (await committed_offsets(kafka)).values())

    # restart: the new worker gets every input again
    worker = make_worker(kafka, redis_client, LexiconClassifier(), prefix=prefix)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    assert await wait_for(lambda: worker.stats.accounted >= feed.total, 40), worker.stats
    stop.set()
    await asyncio.wait_for(task, 20)

    out = await read_topics(
        kafka,
        [
            kafka.topic_enriched,
            kafka.topic_duplicates,
            kafka.topic_deadletter,
            kafka.topic_timeseries,
        ],
    )
    enriched = out[kafka.topic_enriched]
    # everything was published twice (once per run) ...
    assert len(enriched) == 2 * len(feed.unique)
    # ... under the same record ids, so a consumer that dedupes by id counts each once
    by_id = Counter(r["id"] for r in enriched)
    assert len(by_id) == len(feed.unique) and set(by_id.values()) == {2}
    for sid in by_id:  # same scores both times; only the knowledge time differs
        first, again = (r for r in enriched if r["id"] == sid)
        assert first["aspects"] == again["aspects"]
        assert first["event_time"] == again["event_time"]
    # the second run took the same dedupe decisions (its own claims are not duplicates)
    dups = Counter((r["id"], r["canonical_id"]) for r in out[kafka.topic_duplicates])
    assert len(dups) == len(feed.duplicates) and set(dups.values()) == {2}
    for copy_id, original_id in feed.duplicates.items():
        assert len({copy_id, original_id} & set(by_id)) == 1
    dead = Counter(r["id"] for r in out[kafka.topic_deadletter])
    assert len(dead) == feed.malformed and set(dead.values()) == {2}
    points = Counter(r["id"] for r in out[kafka.topic_timeseries])
    assert set(points.values()) == {2}
    assert await committed_offsets(kafka) == await end_offsets(kafka)


async def test_backpressure_pauses_and_loses_nothing(kafka_bootstrap: str, redis_client) -> None:
    kafka = kafka_settings_for_test(kafka_bootstrap)
    await ensure_topics(kafka, partitions=1)
    feed = mixed_feed(n_unique=12)
    only_unique = feed.messages[: len(feed.unique)]
    await produce(kafka, only_unique)
    classifier = FlakyClassifier(failures=6, retry_after=0.25)
    worker = make_worker(kafka, redis_client, classifier, max_batch=4)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        # while the classifier refuses, input is paused and no offset is committed
        assert await wait_for(lambda: classifier.rejected >= 2, 30)
        assert worker._consumer.paused(), "partitions should be paused under backpressure"
        assert worker.metrics.paused._value.get() == 1.0
        assert all(v in (None, 0) for v in (await committed_offsets(kafka)).values())
        assert worker.stats.enriched == 0
        assert await wait_for(lambda: worker.stats.accounted >= len(only_unique), 40)
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)
    assert classifier.rejected == 6
    assert not worker._consumer or not worker._pause_reasons
    out = await read_topics(kafka, [kafka.topic_enriched])
    assert sorted(r["id"] for r in out[kafka.topic_enriched]) == sorted(feed.unique)
    assert await committed_offsets(kafka) == {0: len(only_unique)}


async def test_two_workers_share_the_partitions_of_one_group(
    kafka_bootstrap: str, redis_client
) -> None:
    kafka = kafka_settings_for_test(kafka_bootstrap)
    await ensure_topics(kafka, partitions=4)
    feed = mixed_feed(n_unique=40)
    messages = interleave(feed)
    first, second = messages[: len(messages) // 2], messages[len(messages) // 2 :]
    a = make_worker(kafka, redis_client, LexiconClassifier())
    b = make_worker(kafka, redis_client, LexiconClassifier())
    stop = asyncio.Event()
    task_a = asyncio.create_task(a.run(stop))
    await produce(kafka, first)
    assert await wait_for(lambda: a.stats.accounted >= len(first), 30)
    task_b = asyncio.create_task(b.run(stop))  # joins: the group rebalances
    assert await wait_for(lambda: len(b._consumer.assignment() if b._consumer else ()) > 0, 30)
    await produce(kafka, second)
    try:
        assert await wait_for(lambda: a.stats.accounted + b.stats.accounted >= feed.total, 40)
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(task_a, task_b), 30)
    assert b.stats.consumed > 0 and a.stats.consumed > 0
    out = await read_topics(
        kafka, [kafka.topic_enriched, kafka.topic_duplicates, kafka.topic_deadletter]
    )
    enriched = {r["id"] for r in out[kafka.topic_enriched]}
    dups = {r["id"] for r in out[kafka.topic_duplicates]}
    assert (
        len(enriched) + len(dups) + len({r["id"] for r in out[kafka.topic_deadletter]})
        == feed.total
    )
    # the shared Redis store makes both workers agree: one of each reprint pair survives
    for copy_id, original_id in feed.duplicates.items():
        assert len({copy_id, original_id} & enriched) == 1
    assert await committed_offsets(kafka) == await end_offsets(kafka)

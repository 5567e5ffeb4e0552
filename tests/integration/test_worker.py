"""The enrichment worker on the real broker and Redis: accounting, keys, ids, commits."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest

from pipeline.contract import REASONS
from tests.integration.test_worker_support import (
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


@pytest.mark.parametrize("partitions", [1, 3])
async def test_every_input_lands_in_exactly_one_outcome(
    kafka_bootstrap: str, redis_client, partitions: int
) -> None:
    kafka = kafka_settings_for_test(kafka_bootstrap)
    await ensure_topics(kafka, partitions=partitions)
    feed = mixed_feed()
    await produce(kafka, interleave(feed))
    classifier = LexiconClassifier()
    worker = make_worker(kafka, redis_client, classifier)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    assert await wait_for(lambda: worker.stats.accounted >= feed.total, 40), worker.stats
    stop.set()
    stats = await asyncio.wait_for(task, 20)

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
    dups = out[kafka.topic_duplicates]
    dead = out[kafka.topic_deadletter]
    points = out[kafka.topic_timeseries]

    enriched_ids = [r["id"] for r in enriched]
    dup_ids = [r["id"] for r in dups]
    # exactly once each, and every input accounted for
    assert len(set(enriched_ids)) == len(enriched_ids)
    assert len(set(dup_ids)) == len(dup_ids)
    assert len(enriched) + len(dups) + len(dead) == feed.total
    assert not set(enriched_ids) & set(dup_ids)
    assert len(dead) == feed.malformed
    # each reprint pair ends as one enriched original and one duplicate naming it
    for copy_id, original_id in feed.duplicates.items():
        pair = {copy_id, original_id}
        assert len(pair & set(enriched_ids)) == 1, pair
        dup = next(r for r in dups if r["id"] in pair)
        assert dup["canonical_id"] in pair and dup["canonical_id"] != dup["id"]
        if partitions == 1:  # a single ordered log: the original always comes first
            assert dup["id"] == copy_id and dup["canonical_id"] == original_id
        assert dup["kind"] == ("exact" if "-x" in copy_id else "near")
    # records are keyed by snippet id; points by company
    assert all(r["_key"] == r["id"] for r in enriched)
    assert all(r["_key"] == r["id"] for r in dups)
    assert points and all(p["_key"] == p["company"] for p in points)
    assert {p["snippet_id"] for p in points} <= set(enriched_ids)
    assert stats.timeseries_points == len(points)
    # enriched records carry every aspect's label and probabilities, and the three times
    for r in enriched:
        assert set(r["aspects"]) == {"sentiment", "forward_looking", "prediction"}
        assert abs(sum(r["aspects"]["sentiment"]["probs"].values()) - 1) < 1e-3
        assert r["event_time"] and r["ingest_time"] and r["processed_time"]
    # dead letters keep the original bytes, where they came from, and a known reason
    produced = {v for _, v in feed.messages}
    for r in dead:
        assert r["reason"] in REASONS
        assert base64.b64decode(r["raw_b64"]) in produced
        assert r["source"]["topic"] == kafka.topic_raw and r["source"]["offset"] >= 0
    # the classifier only saw unique snippets
    assert classifier.texts_seen == len(enriched)
    # offsets committed exactly to the end of every partition
    ends = await end_offsets(kafka)
    assert await committed_offsets(kafka) == ends
    assert sum(ends.values()) == feed.total


async def test_health_and_metrics_endpoint(kafka_bootstrap: str, redis_client) -> None:
    import httpx

    from workers.embedded import free_port

    kafka = kafka_settings_for_test(kafka_bootstrap)
    await ensure_topics(kafka, partitions=2)
    feed = mixed_feed(n_unique=8)
    await produce(kafka, feed.messages)
    worker = make_worker(kafka, redis_client, LexiconClassifier())
    worker.metrics_port = free_port()
    worker.metrics_host = "127.0.0.1"
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        assert await wait_for(lambda: worker.stats.accounted >= feed.total, 30)
        base = f"http://127.0.0.1:{worker.health_port}"
        async with httpx.AsyncClient() as client:
            health = await client.get(f"{base}/healthz")
            metrics = await client.get(f"{base}/metrics")
            missing = await client.get(f"{base}/nope")
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "ok" and body["stats"]["accounted"] == feed.total
    text = metrics.text
    assert f"finfeed_worker_enriched_total {float(len(feed.unique))}" in text
    assert 'finfeed_worker_dead_lettered_total{reason="invalid_json"} 1.0' in text
    assert "finfeed_worker_classifier_seconds_bucket" in text
    assert "finfeed_worker_consumer_lag{" in text
    assert missing.status_code == 404
    json.loads(health.text)

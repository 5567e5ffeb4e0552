"""Shared helpers of the worker integration tests (no tests here).

- ``LexiconClassifier``: a small deterministic scorer that honestly implements
  ``models.base.Classifier`` (word counts -> label distributions), so pipeline tests do not
  need model weights and their expected labels follow from the text.
- ``FlakyClassifier``: raises ``BackpressureError`` a given number of times, then scores.
- ``mixed_feed``: unique snippets, exact reprints, near copies and malformed messages,
  with the outcome each one must end in.
- Kafka helpers on the real broker: per-test topics and groups, produce, read back.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from finfeed.settings import KafkaSettings
from models.errors import BackpressureError
from pipeline.aspects import Aspect
from pipeline.scores import AspectScore, AspectScores

POSITIVE = {"beats", "record", "surges", "raises", "growth", "strong", "upgrade", "gains"}
NEGATIVE = {"misses", "cuts", "falls", "recall", "lawsuit", "weak", "downgrade", "loss"}
FUTURE = {"will", "expects", "plans", "outlook", "guidance", "next"}
PREDICT = {"forecast", "predicts", "estimate", "target", "expects"}


class LexiconClassifier:
    """Deterministic word-count scorer for sentiment / forward_looking / prediction."""

    name = "lexicon"
    version = "lexicon-1"

    def __init__(self) -> None:
        self.calls = 0
        self.texts_seen = 0
        self._lock = threading.Lock()

    def supports(self, aspect: Aspect) -> bool:
        return aspect.name in {"sentiment", "forward_looking", "prediction"}

    def classify(self, texts: Sequence[str], aspects: Sequence[Aspect]) -> list[AspectScores]:
        with self._lock:
            self.calls += 1
            self.texts_seen += len(texts)
        out: list[AspectScores] = []
        for text in texts:
            words = {w.strip(".,;:!?()").lower() for w in text.split()}
            scores: AspectScores = {}
            for aspect in aspects:
                if aspect.name == "sentiment":
                    pos, neg = len(words & POSITIVE), len(words & NEGATIVE)
                    probs = {"positive": 1 + 2 * pos, "negative": 1 + 2 * neg, "neutral": 1.5}
                elif aspect.name == "forward_looking":
                    hit = len(words & FUTURE)
                    probs = {"yes": 1 + 3 * hit, "no": 2}
                else:
                    hit = len(words & PREDICT)
                    probs = {"yes": 1 + 3 * hit, "no": 2}
                scores[aspect.name] = AspectScore.from_probs(aspect, probs, self.name, self.version)
            out.append(scores)
        return out

    def close(self) -> None:
        pass


class FlakyClassifier(LexiconClassifier):
    """Raises ``BackpressureError`` on its first ``failures`` calls, then scores."""

    name = "flaky"

    def __init__(self, failures: int, retry_after: float | None = 0.2) -> None:
        super().__init__()
        self.failures_left = failures
        self.rejected = 0
        self.retry_after = retry_after

    def classify(self, texts: Sequence[str], aspects: Sequence[Aspect]) -> list[AspectScores]:
        with self._lock:
            if self.failures_left > 0:
                self.failures_left -= 1
                self.rejected += 1
                raise BackpressureError("model server overloaded", retry_after=self.retry_after)
        return super().classify(texts, aspects)


COMPANIES = [
    ("AAPL", "Apple"),
    ("MSFT", "Microsoft"),
    ("NVDA", "Nvidia"),
    ("TSLA", "Tesla"),
    ("AMZN", "Amazon"),
    ("JPM", "JPMorgan"),
    ("XOM", "Exxon Mobil"),
    ("PFE", "Pfizer"),
]
STORIES = [
    "{name} beats quarterly revenue estimates on strong demand for its flagship products",
    "{name} cuts full-year guidance as weak consumer spending weighs on margins",
    "{name} expects record growth next year and plans to raise its dividend",
    "Analysts set a new price target for {name} after the company announced a buyback of ${n} billion",
    "{name} faces a lawsuit over alleged patent infringement filed in federal court in {city}",
    "{name} shares fall after regulators open a probe into its accounting for {n} subsidiaries",
]
CLAUSES = [
    "the stock moved {n} percent in early trading",
    "management will host a call with investors on Thursday",
    "the board also approved {n} new store openings",
    "traders in London reacted cautiously before the open",
    "the filing lists {n} risk factors, most of them unchanged",
]
VOCAB = [
    "capital",
    "liquidity",
    "tariff",
    "semiconductor",
    "refinery",
    "pipeline",
    "vaccine",
    "subscriber",
    "cloud",
    "datacenter",
    "lithium",
    "freight",
    "inventory",
    "warehouse",
    "franchise",
    "royalty",
    "spectrum",
    "satellite",
    "mortgage",
    "deposit",
    "underwriting",
    "premium",
    "reinsurance",
    "biosimilar",
    "oncology",
    "turbine",
    "crude",
    "shale",
    "drilling",
    "lease",
    "rental",
    "advertising",
    "streaming",
    "console",
    "handset",
    "wafer",
    "foundry",
    "battery",
    "charger",
    "autopilot",
    "robotaxi",
    "payments",
    "wallet",
    "brokerage",
    "custody",
    "treasury",
    "bond",
    "coupon",
    "yield",
    "spread",
    "hedge",
    "derivative",
    "swap",
    "option",
    "warrant",
    "convertible",
    "rating",
    "outlook",
    "audit",
    "controller",
    "ledger",
    "pension",
    "annuity",
    "copper",
    "nickel",
    "cobalt",
    "grain",
    "fertilizer",
    "shipping",
    "container",
    "port",
    "airline",
    "cargo",
    "hotel",
    "casino",
    "cruise",
    "pharmacy",
    "clinic",
    "hospital",
]
CITIES = ["Delaware", "Texas", "California", "New York", "Illinois", "Ohio", "Nevada", "Utah"]


@dataclass
class Feed:
    """Raw messages (as produced) and the outcome expected for each input id."""

    messages: list[tuple[str | None, bytes]] = field(default_factory=list)  # (key, value)
    unique: set[str] = field(default_factory=set)
    duplicates: dict[str, str] = field(default_factory=dict)  # id -> canonical id
    malformed: int = 0

    @property
    def total(self) -> int:
        return len(self.messages)


def mixed_feed(n_unique: int = 24, tag: str | None = None) -> Feed:
    """Unique stories, exact reprints and near copies of some, and malformed messages."""
    tag = tag or uuid.uuid4().hex[:8]
    feed = Feed()
    originals: list[tuple[str, str, str]] = []
    for i in range(n_unique):
        symbol, name = COMPANIES[i % len(COMPANIES)]
        template = STORIES[(i // len(COMPANIES)) % len(STORIES)]
        text = template.format(name=name, n=i + 2, city=CITIES[i % len(CITIES)])
        rng = random.Random(i)
        text = f"{text}; {CLAUSES[i % len(CLAUSES)].format(n=3 * i + 7)}: {' '.join(rng.sample(VOCAB, 12))}"
        sid = f"{tag}-u{i}"
        day = 1 + i % 9
        doc = {
            "id": sid,
            "text": text,
            "published_at": f"2026-11-0{day}T{10 + i % 10}:00:00Z",
            "source": "wire",
            "tickers": [symbol],
        }
        feed.messages.append((sid, json.dumps(doc).encode()))
        feed.unique.add(sid)
        originals.append((sid, text, symbol, f"2026-11-0{day}T{12 + i % 10}:30:00Z"))
    for j, (sid, text, _symbol, later) in enumerate(originals[: n_unique // 4]):
        rid = f"{tag}-x{j}"
        doc = {"id": rid, "text": text, "published_at": later, "source": "reprint"}
        feed.messages.append((rid, json.dumps(doc).encode()))
        feed.duplicates[rid] = sid
    for j, (sid, text, symbol, later) in enumerate(originals[n_unique // 4 : n_unique // 2]):
        nid = f"{tag}-n{j}"
        near = f"UPDATE 1-{text} ${symbol}"
        doc = {"id": nid, "text": near, "published_at": later, "source": "blog"}
        feed.messages.append((nid, json.dumps(doc).encode()))
        feed.duplicates[nid] = sid
    bad: list[bytes] = [
        b"{not json",
        b"\xff\xfe\x00junk",
        json.dumps({"text": ""}).encode(),
        json.dumps({"headline": "no text field"}).encode(),
        json.dumps([1, 2, 3]).encode(),
        json.dumps({"text": "from the future", "published_at": "2999-01-01T00:00:00Z"}).encode(),
    ]
    for value in bad:
        feed.messages.append((None, value))
    feed.malformed = len(bad)
    return feed


def interleave(feed: Feed) -> list[tuple[str | None, bytes]]:
    """Originals first (so canonical ids are deterministic), then the rest shuffled in."""
    n = len(feed.unique)
    originals, rest = feed.messages[:n], feed.messages[n:]
    out = list(originals)
    for i, m in enumerate(rest):
        out.insert(n + (i * 7) % (len(out) - n + 1), m)
    return out


def kafka_settings_for_test(bootstrap: str, partitions: int = 1, **kw: Any) -> KafkaSettings:
    """Fresh topics and group per test; short session timeouts (Tansu waits half of it)."""
    t = uuid.uuid4().hex[:8]
    return KafkaSettings(
        bootstrap=bootstrap,
        group_id=f"finfeed-test-{t}",
        client_id=f"finfeed-test-{t}",
        topic_raw=f"raw-{t}",
        topic_enriched=f"enriched-{t}",
        topic_timeseries=f"ts-{t}",
        topic_duplicates=f"dups-{t}",
        topic_deadletter=f"dead-{t}",
        topic_aggregates=f"agg-{t}",
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
        **kw,
    )


async def produce(kafka: KafkaSettings, messages: Sequence[tuple[str | None, bytes]]) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = [
            await producer.send(kafka.topic_raw, value=v, key=k.encode() if k else None)
            for k, v in messages
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def read_topics(
    kafka: KafkaSettings, topics: Sequence[str], *, idle_s: float = 1.5, timeout_s: float = 30.0
) -> dict[str, list[dict[str, Any]]]:
    """Every record of ``topics`` from the beginning, until nothing new arrives for idle_s."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=kafka.bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    out: dict[str, list[dict[str, Any]]] = {t: [] for t in topics}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    last = loop.time()
    try:
        while loop.time() < deadline and loop.time() - last < idle_s:
            batch = await consumer.getmany(timeout_ms=200)
            for tp, msgs in batch.items():
                for m in msgs:
                    rec = json.loads(m.value)
                    rec["_key"] = m.key.decode() if m.key else None
                    out[tp.topic].append(rec)
                    last = loop.time()
    finally:
        await consumer.stop()
    return out


async def wait_for(predicate: Any, timeout_s: float, interval: float = 0.05) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        if predicate():
            return True
        await asyncio.sleep(interval)
    return bool(predicate())


TEST_TUNING: dict[str, Any] = {
    "poll_timeout_ms": 100,
    "commit_interval_s": 0.2,
    "drain_timeout_s": 5.0,
    "shutdown_timeout_s": 10.0,
    "backoff_initial_s": 0.05,
    "backoff_max_s": 0.5,
}


def make_worker(
    kafka: KafkaSettings,
    redis_client: Any,
    classifier: Any,
    *,
    prefix: str = "finfeed-test:",
    max_batch: int = 8,
    max_wait_ms: int = 20,
    **tuning: Any,
) -> Any:
    """A worker on the real broker and Redis with the given classifier and small batches."""
    from datetime import timedelta

    from pipeline.aspects import AspectRegistry
    from pipeline.batching import MicroBatchPolicy
    from workers.dedupe_store import RedisDedupeStore
    from workers.enricher import EnrichConfig, Enricher, company_tagging
    from workers.worker import EnrichmentWorker, WorkerTuning

    enricher = Enricher(
        classifier,
        AspectRegistry().select(None),
        RedisDedupeStore(redis_client, prefix=prefix),
        config=EnrichConfig(),
        tag_companies=company_tagging(),
    )
    policy = MicroBatchPolicy(max_size=max_batch, max_wait=timedelta(milliseconds=max_wait_ms))
    return EnrichmentWorker(
        kafka, enricher, policy, tuning=WorkerTuning(**{**TEST_TUNING, **tuning})
    )


async def committed_offsets(kafka: KafkaSettings) -> dict[int, int | None]:
    """The group's committed offset of each raw-topic partition."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap, group_id=kafka.group_id, enable_auto_commit=False
    )
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(kafka.topic_raw) or set()
        if not parts:
            await consumer._client.force_metadata_update()
            parts = consumer.partitions_for_topic(kafka.topic_raw) or set()
        return {
            p: await consumer.committed(TopicPartition(kafka.topic_raw, p)) for p in sorted(parts)
        }
    finally:
        await consumer.stop()


async def end_offsets(kafka: KafkaSettings, *, idle_s: float = 1.0) -> dict[int, int]:
    """One past the last offset of each raw-topic partition, read from the log itself."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        kafka.topic_raw,
        bootstrap_servers=kafka.bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    ends: dict[int, int] = {}
    loop = asyncio.get_running_loop()
    last = loop.time()
    try:
        while loop.time() - last < idle_s:
            batch = await consumer.getmany(timeout_ms=200)
            for tp, msgs in batch.items():
                if msgs:
                    ends[tp.partition] = max(ends.get(tp.partition, 0), msgs[-1].offset + 1)
                    last = loop.time()
    finally:
        await consumer.stop()
    return ends


def child_main() -> None:
    """Entry of a worker subprocess (redelivery test): settings as JSON in argv[1].

    Prints its stats as one JSON line every 50 ms so the parent knows how far it got,
    and never commits on its own (commit interval of an hour) until it is killed.
    """
    import sys

    import redis

    cfg = json.loads(sys.argv[1])
    kafka = KafkaSettings(**cfg["kafka"])
    client = redis.Redis.from_url(cfg["redis_url"])
    worker = make_worker(
        kafka, client, LexiconClassifier(), prefix=cfg["prefix"], commit_interval_s=3600.0
    )

    async def report() -> None:
        while True:
            print(json.dumps(worker.stats.to_dict()), flush=True)
            await asyncio.sleep(0.05)

    async def main() -> None:
        reporter = asyncio.create_task(report())
        try:
            await worker.run(asyncio.Event())
        finally:
            reporter.cancel()

    asyncio.run(main())


if __name__ == "__main__":
    child_main()

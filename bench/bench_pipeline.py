"""End-to-end throughput of the enrichment worker: broker + Redis + worker, in one run.

Prints figures (not a test):

1. classifier alone: the embedded CPU classifier scoring the texts in micro-batches,
   in process, no Kafka, no Redis;
2. end to end with that classifier: raw topic -> worker (validate, dedupe in Redis,
   micro-batch, classify, publish enriched + time series, commit) -> output topics;
   and the ratio end-to-end / classifier-alone (target >= 0.9: consuming and publishing
   overlap with classification);
3. end to end with a zero-cost scorer: the pipeline's own overhead (target >= 5,000
   snippets/s on one core);
4. memory: RSS of the worker process after each phase.

The worker process is pinned to ``--cores`` cores (default 1); the broker and Redis run as
their own processes on the other cores (as in production, where they are other hosts), or
share the worker's core when the machine has no other. Besides wall-clock snippets/s it
reports CPU time per snippet of the worker, of Redis and of the broker (from
``/proc/<pid>/stat``), so a figure taken on a busy machine can be read as what one free
core sustains. Texts come from ``../shared/data`` (TFNS, SEntFiN) when present, else a
synthetic generator; every text is made unique so nothing is dropped as a duplicate.

    .venv/bin/python bench/bench_pipeline.py            # all phases
    .venv/bin/python bench/bench_pipeline.py --skip-embedded --n-zero 30000
    finfeed bench                                       # the same, from the CLI
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from finfeed.settings import ClassifierSettings, KafkaSettings  # noqa: E402
from pipeline.aspects import Aspect, AspectRegistry  # noqa: E402
from pipeline.batching import MicroBatchPolicy  # noqa: E402
from pipeline.scores import AspectScore, AspectScores  # noqa: E402

SHARED = Path(os.environ.get("FINFEED_SHARED_DATA", REPO.parent / "shared" / "data"))
COMPANIES = ["AAPL", "MSFT", "NVDA", "TSLA", "AMZN", "GOOGL", "META", "JPM", "XOM", "PFE"]


class ZeroCostScorer:
    """A classifier that costs nothing: the same valid scores for every text.

    It measures what the pipeline itself costs around the model (consume, validate,
    dedupe, batch, build, publish, commit).
    """

    name = "zero"

    def __init__(self, aspects: Sequence[Aspect]) -> None:
        self._scores: AspectScores = {
            a.name: AspectScore.from_probs(a, {lab: 1.0 for lab in a.labels}, "zero", "0")
            for a in aspects
        }

    def supports(self, aspect: Aspect) -> bool:
        return True

    def classify(self, texts: Sequence[str], aspects: Sequence[Aspect]) -> list[AspectScores]:
        return [self._scores] * len(texts)

    def close(self) -> None:
        pass


def rss_mib() -> float:
    """Resident set size of this process, MiB (Linux /proc)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), Linux ``/proc``."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pin(pid: int, cores: set[int]) -> None:
    """Pin every thread of ``pid`` to ``cores`` (threads started later inherit it)."""
    try:
        tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        tids = [pid]
    for tid in tids:
        with contextlib.suppress(OSError):  # a thread that just ended
            os.sched_setaffinity(tid, cores)


def load_texts(n: int, seed: int = 7) -> list[str]:
    """``n`` distinct, realistic texts: labelled sets when available, else synthetic."""
    pool: list[str] = []
    for rel in ("tfns/train.jsonl", "tfns/validation.jsonl", "sentfin/sentences.jsonl"):
        path = SHARED / rel
        if path.is_file():
            with path.open(encoding="utf-8") as f:
                pool.extend(json.loads(line)["text"] for line in f if line.strip())
    rng = random.Random(seed)
    if not pool:
        words = [
            "revenue",
            "guidance",
            "margin",
            "shares",
            "analysts",
            "quarter",
            "growth",
            "outlook",
            "forecast",
            "demand",
            "supply",
            "chain",
            "earnings",
            "beat",
            "miss",
            "raise",
            "cut",
            "dividend",
            "buyback",
            "regulator",
            "probe",
            "deal",
            "merger",
            "acquisition",
            "chip",
            "cloud",
            "retail",
            "bank",
            "oil",
            "drug",
            "trial",
            "approval",
            "recall",
            "lawsuit",
        ]
        pool = [
            " ".join(rng.choice(words) for _ in range(rng.randint(12, 40))) for _ in range(5000)
        ]
    texts = []
    for i in range(n):
        base = pool[i % len(pool)]
        # a distinct, realistic tail keeps every text unique (no accidental duplicates)
        texts.append(
            f"{base} [{COMPANIES[i % len(COMPANIES)]} wire {i:07d}-{rng.getrandbits(40):010x}]"
        )
    return texts


def raw_messages(texts: list[str], run: str) -> list[tuple[bytes, bytes]]:
    day = 24 * 3600
    out = []
    base = 1_793_000_000  # 2026-10-26
    for i, text in enumerate(texts):
        sid = f"{run}-{i}"
        ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(base + (i * 37) % (14 * day)))
        doc = {
            "id": sid,
            "text": text,
            "published_at": ts,
            "source": "bench",
            "tickers": [COMPANIES[i % len(COMPANIES)]],
        }
        out.append((sid.encode(), json.dumps(doc).encode()))
    return out


def classifier_alone(
    classifier: Any, aspects: Sequence[Aspect], texts: list[str], batch: int
) -> float:
    """Snippets per second of the classifier on its own, in micro-batches of ``batch``."""
    classifier.classify(texts[:batch], aspects)  # warm up (ONNX session, caches)
    started = time.perf_counter()
    for i in range(0, len(texts), batch):
        classifier.classify(texts[i : i + batch], aspects)
    return len(texts) / (time.perf_counter() - started)


async def end_to_end(
    bootstrap: str,
    redis_url: str,
    classifier: Any,
    aspects: Sequence[Aspect],
    texts: list[str],
    policy: MicroBatchPolicy,
    partitions: int,
    run: str,
    broker_pid: int | None = None,
) -> dict[str, Any]:
    """Produce ``texts`` to a fresh raw topic, run one worker until all are published."""
    import redis

    from workers.dedupe_store import RedisDedupeStore
    from workers.enricher import EnrichConfig, Enricher, input_tickers
    from workers.feed import produce_lines
    from workers.kafka import ensure_topics
    from workers.worker import EnrichmentWorker, WorkerTuning

    kafka = KafkaSettings(
        bootstrap=bootstrap,
        group_id=f"bench-{run}",
        topic_raw=f"bench-raw-{run}",
        topic_enriched=f"bench-enriched-{run}",
        topic_timeseries=f"bench-ts-{run}",
        topic_duplicates=f"bench-dups-{run}",
        topic_deadletter=f"bench-dead-{run}",
        topic_aggregates=f"bench-agg-{run}",
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
    )
    await ensure_topics(kafka, partitions=partitions)
    messages = raw_messages(texts, run)
    await produce_lines(
        kafka, kafka.topic_raw, [v for _, v in messages], keys=[k for k, _ in messages]
    )
    client = redis.Redis.from_url(redis_url)
    enricher = Enricher(
        classifier,
        aspects,
        RedisDedupeStore(client, prefix=f"bench-{run}:"),
        config=EnrichConfig(horizon=timedelta(days=30)),
        tag_companies=input_tickers,
    )
    worker = EnrichmentWorker(kafka, enricher, policy, tuning=WorkerTuning(commit_interval_s=0.5))
    client.config_resetstat()
    services = {"redis": int(client.info("server")["process_id"]), "broker": broker_pid}
    stop = asyncio.Event()
    rss_before = rss_mib()
    task = asyncio.create_task(worker.run(stop))
    while worker.stats.consumed == 0 and not task.done():  # noqa: ASYNC110 - polls counters
        await asyncio.sleep(0.001)
    started = time.perf_counter()
    cpu0 = time.process_time()
    service_cpu0 = {name: cpu_seconds(pid) for name, pid in services.items() if pid}
    while worker.stats.accounted < len(texts) and not task.done():  # noqa: ASYNC110
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu0
    service_cpu = {
        name: cpu_seconds(services[name]) - before for name, before in service_cpu0.items()
    }
    stop.set()
    stats = await task
    script_stats = client.info("commandstats").get("cmdstat_evalsha", {})
    client.close()
    return {
        "snippets": len(texts),
        "seconds": round(elapsed, 3),
        "snippets_per_s": round(len(texts) / elapsed, 1),
        "cpu_s": round(cpu, 3),
        "enriched": stats.enriched,
        "dead_letter": stats.dead_letter,
        "duplicates": stats.duplicates,
        "classifier_calls": stats.classifier_calls,
        "cpu_us_per_snippet": round(cpu / len(texts) * 1e6, 1),
        # what the pinned core sustains when it never waits (on broker, Redis, or a busy box)
        "cpu_bound_snippets_per_s": round(len(texts) / cpu, 1),
        # time inside the dedupe script as Redis counts it (wall time: grows when Redis
        # shares its core), and the CPU time of the Redis and broker processes
        "redis_dedupe_us_per_snippet": round(script_stats.get("usec", 0) / len(texts), 1),
        **{
            f"{name}_cpu_us_per_snippet": round(seconds / len(texts) * 1e6, 1)
            for name, seconds in service_cpu.items()
        },
        "rss_mib": round(rss_mib(), 1),
        "rss_growth_mib": round(rss_mib() - rss_before, 1),
    }


def dedupe_store_steady_state(redis_url: str, per_epoch: int) -> list[dict[str, Any]]:
    """Redis CPU of the dedupe store as its band index fills: ``per_epoch`` unique snippets
    in each of four consecutive epochs (half a horizon each), so the last two read three
    populated epochs and the last one also frees the epoch that left the lookback."""
    import redis

    from pipeline.dedupe import Fingerprinter
    from workers.dedupe_store import RedisDedupeStore

    texts = load_texts(4 * per_epoch, seed=5)
    fingerprints = Fingerprinter().fingerprint_many(texts)
    horizon = timedelta(days=7)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    now = [time.time()]
    client = redis.Redis.from_url(redis_url)
    pid = int(client.info("server")["process_id"])
    store = RedisDedupeStore(client, prefix=f"steady{os.getpid()}:", clock=lambda: now[0])
    out = []
    for epoch in range(4):
        items = [
            (f"e{epoch}-{i}", fp, start + epoch * horizon / 2 + timedelta(seconds=i))
            for i, fp in enumerate(fingerprints[epoch * per_epoch : (epoch + 1) * per_epoch])
        ]
        cpu0 = cpu_seconds(pid)
        for i in range(0, len(items), 512):  # a worker's poll
            store.check_and_claim_many(items[i : i + 512], threshold=0.7, horizon=horizon)
        out.append(
            {
                "epoch": epoch,
                "older_epochs_populated": min(epoch, 2),
                "redis_cpu_us_per_snippet": round((cpu_seconds(pid) - cpu0) / per_epoch * 1e6, 1),
            }
        )
        now[0] += horizon.total_seconds() / 2
    client.close()
    return out


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    from workers.embedded import EmbeddedBroker, EmbeddedRedis

    aspects = AspectRegistry().select(None)
    results: dict[str, Any] = {"cores": args.cores, "rss_start_mib": round(rss_mib(), 1)}
    with EmbeddedBroker() as broker, EmbeddedRedis() as redis_server:
        broker_pid = getattr(getattr(broker, "_proc", None), "pid", None)
        results.update(place_processes(args.cores, broker_pid, redis_server.url))
        if args.dedupe_steady:
            results["dedupe_store_steady_state"] = await asyncio.to_thread(
                dedupe_store_steady_state, redis_server.url, args.dedupe_steady
            )
        if not args.skip_zero:
            texts = load_texts(args.n_zero, seed=1)
            policy = MicroBatchPolicy.for_backend(
                "sglang"
            )  # GPU-sized batches: what keeps a GPU busy
            zero = ZeroCostScorer(aspects)
            if args.profile:
                import cProfile
                import pstats

                prof = cProfile.Profile()
                prof.enable()
            results["pipeline_zero_cost"] = await end_to_end(
                broker.bootstrap,
                redis_server.url,
                zero,
                aspects,
                texts,
                policy,
                args.partitions,
                f"zero{os.getpid()}",
                broker_pid,
            )
            if args.profile:
                prof.disable()
                pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(35)
        if not args.skip_embedded:
            from finfeed.classifiers import build_classifier

            # as many intra-op threads as the worker has cores: ONNX Runtime's default pool
            # pins its threads to every core itself, escaping the worker's pinning
            settings = ClassifierSettings(backend="embedded", threads=args.cores or None)
            t0 = time.perf_counter()
            classifier = build_classifier(settings, aspects)
            results["classifier_load_s"] = round(time.perf_counter() - t0, 1)
            results["rss_with_model_mib"] = round(rss_mib(), 1)
            policy = MicroBatchPolicy.for_backend("embedded")
            texts = load_texts(args.n, seed=2)
            alone = classifier_alone(classifier, aspects, texts, policy.max_size)
            results["classifier_alone_per_s"] = round(alone, 1)
            e2e = await end_to_end(
                broker.bootstrap,
                redis_server.url,
                classifier,
                aspects,
                texts,
                policy,
                args.partitions,
                f"emb{os.getpid()}",
                broker_pid,
            )
            results["end_to_end_embedded"] = e2e
            results["ratio_end_to_end_vs_classifier_alone"] = round(
                e2e["snippets_per_s"] / alone, 3
            )
            classifier.close()
    return results


def place_processes(cores: int, broker_pid: int | None, redis_url: str) -> dict[str, Any]:
    """Pin this process (the worker) to ``cores`` cores and the broker and Redis to the
    others, so the worker's figure is its own core's (0 = no pinning)."""
    if not cores or not hasattr(os, "sched_setaffinity"):
        return {"worker_cores": "all", "service_cores": "all"}
    import redis

    available = sorted(os.sched_getaffinity(0))
    worker_cores = set(available[:cores])
    service_cores = set(available[cores:]) or worker_cores  # one core: they share it
    client = redis.Redis.from_url(redis_url)
    redis_pid = int(client.info("server")["process_id"])
    client.close()
    for pid in (broker_pid, redis_pid):
        if pid:
            pin(pid, service_cores)
    pin(os.getpid(), worker_cores)
    return {"worker_cores": sorted(worker_cores), "service_cores": sorted(service_cores)}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=3000, help="snippets through the embedded classifier")
    p.add_argument(
        "--n-zero", type=int, default=20000, help="snippets through the zero-cost scorer"
    )
    p.add_argument("--partitions", type=int, default=3)
    p.add_argument(
        "--cores",
        type=int,
        default=1,
        help="pin the worker process to this many cores, broker and Redis to the others "
        "(0 = no pinning)",
    )
    p.add_argument("--skip-embedded", action="store_true")
    p.add_argument("--skip-zero", action="store_true")
    p.add_argument(
        "--dedupe-steady",
        type=int,
        default=0,
        metavar="N",
        help="also measure the dedupe store's Redis CPU as its index fills: N snippets in "
        "each of 4 epochs (0 = skip)",
    )
    p.add_argument("--profile", action="store_true", help="cProfile the zero-cost phase (stderr)")
    p.add_argument("--json", action="store_true", help="print only the JSON result")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.cores:
        # keep the ONNX Runtime / torch thread pools to the worker's cores as well
        os.environ.setdefault("OMP_NUM_THREADS", str(args.cores))
    results = asyncio.run(main_async(args))
    if not args.json:
        print_report(results)
    print(json.dumps(results, sort_keys=True))
    return 0


def print_report(r: dict[str, Any]) -> None:
    print(
        f"\nfinfeed pipeline benchmark (worker on core(s) {r.get('worker_cores', 'all')}, "
        f"broker and Redis on {r.get('service_cores', 'all')})\n"
    )
    z = r.get("pipeline_zero_cost")
    if z:
        print(
            f"  pipeline alone (zero-cost scorer): {z['snippets_per_s']:>9,.0f} snippets/s"
            f"  ({z['snippets']} in {z['seconds']}s, target >= 5,000)"
        )
        print(
            f"    worker CPU per snippet:          {z['cpu_us_per_snippet']:>9.1f} us"
            f"  ({z['cpu_bound_snippets_per_s']:,.0f} snippets/s on one free core)"
        )
        for name in ("redis", "broker"):
            if f"{name}_cpu_us_per_snippet" in z:
                print(
                    f"    {name + ' CPU per snippet:':<33}"
                    f"{z[f'{name}_cpu_us_per_snippet']:>9.1f} us"
                )
        print(
            f"    dedupe script per snippet:       {z['redis_dedupe_us_per_snippet']:>9.1f} us"
            "  (Redis's own count: wall time inside the script)"
        )
    for row in r.get("dedupe_store_steady_state", []):
        if "epoch" in row:
            print(
                f"  dedupe store, epoch {row['epoch']} ({row['older_epochs_populated']} older "
                f"populated): {row['redis_cpu_us_per_snippet']:>7.1f} us Redis CPU per snippet"
            )
    if "classifier_alone_per_s" in r:
        e = r["end_to_end_embedded"]
        print(
            f"  embedded classifier alone:         {r['classifier_alone_per_s']:>9,.0f} snippets/s"
        )
        print(
            f"  end to end, embedded classifier:   {e['snippets_per_s']:>9,.0f} snippets/s"
            f"  ({e['snippets']} in {e['seconds']}s)"
        )
        print(
            f"  ratio end-to-end / classifier:     "
            f"{r['ratio_end_to_end_vs_classifier_alone']:>9.2f}   (target >= 0.90)"
        )
        print(f"  RSS with the model loaded:         {r['rss_with_model_mib']:>9.0f} MiB")
    if z:
        print(f"  RSS after the zero-cost run:       {z['rss_mib']:>9.0f} MiB")
    print()


if __name__ == "__main__":
    sys.exit(main())

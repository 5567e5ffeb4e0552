"""Assembling a worker process from settings: classifier, Redis, dedupe store, worker.

Entry points (``finfeed worker``, ``finfeed demo``, the benchmark) build their settings
once and call ``assemble_worker``; this module holds no state of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

from finfeed.settings import ClassifierSettings, KafkaSettings, RedisSettings, WorkerSettings
from models.base import Classifier
from pipeline.aspects import Aspect
from pipeline.batching import MicroBatchPolicy
from workers.dedupe_store import RedisDedupeStore
from workers.enricher import EnrichConfig, Enricher, company_tagging
from workers.worker import EnrichmentWorker, WorkerTuning

log = logging.getLogger(__name__)


def batch_policy(worker: WorkerSettings, classifier: ClassifierSettings) -> MicroBatchPolicy:
    """The backend's micro-batch defaults, with the worker's explicit settings winning."""
    return MicroBatchPolicy.for_backend(
        classifier.backend,
        device=classifier.device,
        max_size=worker.max_batch,
        max_wait=timedelta(milliseconds=worker.max_wait_ms)
        if worker.max_wait_ms is not None
        else None,
    )


def assemble_worker(
    kafka: KafkaSettings,
    worker: WorkerSettings,
    redis: RedisSettings,
    redis_client: Any,
    classifier: Classifier,
    aspects: Sequence[Aspect],
    policy: MicroBatchPolicy,
    *,
    tuning: WorkerTuning | None = None,
    metrics_host: str = "0.0.0.0",
) -> EnrichmentWorker:
    """An ``EnrichmentWorker`` wired to the shared Redis dedupe store and company tagger."""
    enricher = Enricher(
        classifier,
        aspects,
        RedisDedupeStore(redis_client, prefix=redis.key_prefix),
        config=EnrichConfig.from_settings(worker),
        tag_companies=company_tagging(worker.company_registry),
    )
    return EnrichmentWorker(
        kafka,
        enricher,
        policy,
        metrics_port=worker.metrics_port or None,
        metrics_host=metrics_host,
        tuning=tuning,
    )


@contextlib.contextmanager
def redis_url_for(redis: RedisSettings) -> Iterator[str]:
    """``redis.url``, or an embedded redis-server for the block when it is None."""
    if redis.url is not None:
        yield redis.url
        return
    from workers.embedded import EmbeddedRedis

    log.warning(
        "FINFEED_REDIS_URL not set: using an embedded Redis; dedupe state is local to this "
        "process, so run one worker only"
    )
    with EmbeddedRedis(redis.embedded_path) as server:
        yield server.url


def stop_on_signals(stop: asyncio.Event) -> None:
    """SIGTERM and SIGINT set ``stop``: the worker finishes in-flight work and commits."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


def classifier_for(settings: ClassifierSettings) -> tuple[Classifier, tuple[Aspect, ...]]:
    """The configured backend and the aspects it scores."""
    from finfeed.classifiers import build_classifier, resolve_aspects

    aspects = resolve_aspects(settings)
    return build_classifier(settings, aspects), aspects

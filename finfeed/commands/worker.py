"""``finfeed worker``: the long-running streaming enrichment worker.

Consumes the raw topic in a consumer group (run as many as the topic has partitions),
validates, dedupes through Redis, scores micro-batches with the configured classifier and
publishes ``news.enriched``, ``sentiment.timeseries``, ``news.duplicates`` and
``news.deadletter``. SIGTERM / SIGINT stop it cleanly: in-flight work is finished and its
offsets committed before it leaves the group. Health and Prometheus metrics are served on
``--metrics-port`` (``/healthz``, ``/metrics``).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from finfeed.commands._options import (
    add_classifier_options,
    add_kafka_options,
    add_option,
    add_redis_options,
    classifier_settings,
    kafka_settings,
    overrides,
    redis_settings,
)


def add_worker_options(parser: argparse.ArgumentParser) -> None:
    add_option(
        parser,
        "--max-batch",
        env="FINFEED_MAX_BATCH",
        type=int,
        help="micro-batch size (default: GPU 256, CPU 64)",
    )
    add_option(
        parser,
        "--max-wait-ms",
        env="FINFEED_MAX_WAIT_MS",
        type=int,
        help="longest wait of a snippet for its micro-batch (default: GPU 20, CPU 50)",
    )
    add_enrichment_options(parser)


def add_enrichment_options(parser: argparse.ArgumentParser) -> None:
    """Dedupe and company-tagging options, shared by the worker and the backfill."""
    add_option(
        parser,
        "--dedupe-horizon-days",
        env="FINFEED_DEDUPE_HORIZON_DAYS",
        type=float,
        help="how far back duplicates are found (default 7)",
    )
    add_option(
        parser,
        "--near-duplicate-threshold",
        env="FINFEED_NEAR_DUPLICATE_THRESHOLD",
        type=float,
        help="estimated Jaccard similarity from which a snippet is a near duplicate",
    )
    add_option(
        parser,
        "--company-registry",
        env="FINFEED_COMPANY_REGISTRY",
        help="company registry JSON Lines file",
    )


def worker_settings(args: argparse.Namespace) -> Any:
    from finfeed.settings import WorkerSettings

    return WorkerSettings(
        **overrides(
            args,
            max_batch="max_batch",
            max_wait_ms="max_wait_ms",
            dedupe_horizon_days="dedupe_horizon_days",
            near_duplicate_threshold="near_duplicate_threshold",
            metrics_port="metrics_port",
            company_registry="company_registry",
        )
    )


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "worker",
        help="run the streaming enrichment worker (Kafka in, enriched records out)",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    add_kafka_options(parser)
    add_redis_options(parser)
    add_worker_options(parser)
    add_option(
        parser,
        "--metrics-port",
        env="FINFEED_METRICS_PORT",
        type=int,
        help="port of /healthz and /metrics (default 9108; 0 disables)",
    )
    add_option(
        parser,
        "--create-topics",
        env="FINFEED_CREATE_TOPICS",
        type=int,
        metavar="PARTITIONS",
        read_env=True,
        help="create missing finfeed topics with this many partitions before starting",
    )
    add_classifier_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import asyncio
    import json
    import logging

    from models.errors import ClassifierError
    from pipeline.errors import PipelineError
    from workers.errors import WorkerError
    from workers.kafka import ensure_topics
    from workers.redis_conn import connect_redis, with_url
    from workers.runtime import (
        assemble_worker,
        batch_policy,
        classifier_for,
        redis_url_for,
        stop_on_signals,
    )

    log = logging.getLogger("finfeed.worker")
    kafka = kafka_settings(args)
    worker_cfg = worker_settings(args)
    cls_cfg = classifier_settings(args)
    redis_cfg = redis_settings(args)

    async def main() -> dict[str, int]:
        stop = asyncio.Event()
        stop_on_signals(stop)
        if args.create_topics:
            await ensure_topics(kafka, partitions=args.create_topics)
        classifier, aspects = classifier_for(cls_cfg)
        try:
            with redis_url_for(redis_cfg) as url:
                rs = with_url(redis_cfg, url)
                client = connect_redis(rs)
                try:
                    policy = batch_policy(worker_cfg, cls_cfg)
                    worker = assemble_worker(
                        kafka, worker_cfg, rs, client, classifier, aspects, policy
                    )
                    log.warning(
                        "worker started: group %s on %s via %s, backend %s, batches of %d / %d ms",
                        kafka.group_id,
                        kafka.topic_raw,
                        kafka.bootstrap,
                        classifier.name,
                        policy.max_size,
                        policy.max_wait.total_seconds() * 1000,
                    )
                    stats = await worker.run(stop)
                    return stats.to_dict()
                finally:
                    client.close()
        finally:
            classifier.close()

    try:
        stats = asyncio.run(main())
    except (WorkerError, PipelineError, ClassifierError) as exc:
        print(f"finfeed worker: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"stopped": True, **stats}))
    return 0

"""``finfeed rebuild-aggregates``: rebuild the Redis aggregates from ``sentiment.timeseries``.

Deletes every aggregate key under the Redis prefix, then replays the topic from the
beginning with a fresh consumer (no group, nothing committed). Every write is idempotent
and a company's points keep their order within a partition, so the rebuilt store answers
every query, ``as_of`` included, exactly as before. Use it after changing the bucket size
or retention, or to recover a lost Redis. A running aggregator may keep running: the points
it applies meanwhile are no-ops for the rebuild and vice versa; queries see partial answers
until the rebuild ends.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from finfeed.commands._options import add_kafka_options, add_redis_options, kafka_settings
from finfeed.commands.query import (
    add_aggregate_options,
    aggregate_settings,
    open_redis,
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "rebuild-aggregates",
        help="rebuild the Redis aggregates from sentiment.timeseries",
        description="Empty the Redis aggregates and replay sentiment.timeseries from the "
        "beginning; answers (as_of included) are identical afterwards.",
    )
    add_kafka_options(parser, topics=("timeseries",), group=False)
    add_redis_options(parser)
    add_aggregate_options(parser)
    parser.add_argument("--json", action="store_true", help="print the counters as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import asyncio

    from tqdm import tqdm

    from workers.aggregator import rebuild_aggregates
    from workers.errors import WorkerError

    kafka = kafka_settings(args)
    agg = aggregate_settings(args)
    try:
        with open_redis(args, allow_empty_embedded=False) as (_, redis_settings):
            bar = tqdm(unit="pt", desc="rebuild", disable=not sys.stderr.isatty())

            def progress(done: int, total: int) -> None:
                bar.total = max(total, done)
                bar.n = done
                bar.refresh()

            stats = asyncio.run(
                rebuild_aggregates(
                    kafka,
                    redis_settings,
                    agg,
                    prefix=redis_settings.key_prefix,
                    progress=progress,
                )
            )
            bar.close()
    except WorkerError as exc:
        print(f"finfeed rebuild-aggregates: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(stats))
    else:
        print(
            f"rebuilt from {kafka.topic_timeseries}: {stats['consumed']} records, "
            f"{stats['applied']} points applied, {stats['invalid']} invalid, "
            f"{stats['deleted']} old keys deleted"
        )
    return 0

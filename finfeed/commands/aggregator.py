"""``finfeed aggregator``: keep the Redis rolling aggregates up to date from ``sentiment.timeseries``.

Consumer group ``finfeed-aggregates``; per batch: apply to Redis (idempotent), publish each
changed company's aggregates to ``sentiment.aggregates``, then commit. Stops cleanly on
SIGTERM / Ctrl-C. See docs/aggregates.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from finfeed.commands._options import (
    add_kafka_options,
    add_option,
    add_redis_options,
    kafka_settings,
)
from finfeed.commands.query import (
    add_aggregate_options,
    aggregate_settings,
    open_redis,
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "aggregator",
        help="consume sentiment.timeseries into the Redis rolling aggregates",
        description="Maintain per-company point-in-time rolling aggregates in Redis and "
        "publish updates to sentiment.aggregates.",
    )
    add_kafka_options(parser, topics=("timeseries", "aggregates"), group=False)
    add_option(
        parser,
        "--idle-exit-s",
        env="FINFEED_AGGREGATOR_IDLE_EXIT_S",
        type=float,
        help="exit after this many seconds without input (default: run until stopped)",
    )
    add_redis_options(parser)
    add_aggregate_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import asyncio
    import os
    import signal

    from workers.aggregator import run_aggregator
    from workers.errors import WorkerError

    kafka = kafka_settings(args)
    agg = aggregate_settings(args)
    idle_text = os.environ.get("FINFEED_AGGREGATOR_IDLE_EXIT_S")
    idle = (
        args.idle_exit_s
        if args.idle_exit_s is not None
        else (float(idle_text) if idle_text else None)
    )

    async def main(redis_url: Any, prefix: str) -> dict[str, int]:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        return await run_aggregator(
            kafka, redis_url, agg, stop=stop, idle_exit_s=idle, prefix=prefix
        )

    try:
        with open_redis(args, allow_empty_embedded=True) as (_, redis_settings):
            stats = asyncio.run(main(redis_settings, redis_settings.key_prefix))
    except WorkerError as exc:
        print(f"finfeed aggregator: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(stats))
    return 0

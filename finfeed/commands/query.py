"""``finfeed query``: a company's rolling sentiment from Redis, point in time.

``finfeed query TSLA --window 7d --aspect forward_looking --as-of 2026-03-01T00:00:00Z``
prints the mean of P(positive) - P(negative) over snippets about TSLA with an event time in
the window ending at ``--as-of`` (default now), counting only what was known then; ``--json``
prints the same answers as the HTTP API. Reads Redis directly (``FINFEED_REDIS_URL``, or
the embedded database file ``FINFEED_REDIS_EMBEDDED_PATH``).

Also home of the Redis / aggregate options shared by ``serve``, ``export`` and
``rebuild-aggregates``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from typing import Any

from finfeed.commands._options import add_option, add_redis_options, overrides, redis_settings


def add_aggregate_options(parser: argparse.ArgumentParser) -> None:
    add_option(
        parser,
        "--bucket-seconds",
        env="FINFEED_AGG_BUCKET_SECONDS",
        type=int,
        help="event-time bucket size in seconds (default 86400); must match the writer's",
    )
    add_option(
        parser,
        "--retention-days",
        env="FINFEED_AGG_RETENTION_DAYS",
        type=float,
        help="days of event time kept in Redis (default 400)",
    )
    add_option(
        parser,
        "--window-days",
        env="FINFEED_AGG_WINDOW_DAYS",
        type=float,
        help="default rolling window in days (default 7)",
    )


def aggregate_settings(args: argparse.Namespace) -> Any:
    from finfeed.settings import AggregateSettings

    return AggregateSettings(
        **overrides(
            args,
            bucket_seconds="bucket_seconds",
            retention_days="retention_days",
            window_days="window_days",
        )
    )


@contextlib.contextmanager
def open_redis(
    args: argparse.Namespace, *, allow_empty_embedded: bool
) -> Iterator[tuple[Any, Any]]:
    """(Redis client, RedisSettings); starts an embedded server when no URL is set.

    Without a URL and without ``allow_empty_embedded``, an embedded server is started only
    on an existing database file (``--redis-embedded-path``): a fresh one would be empty.
    """
    from workers.embedded import EmbeddedRedis
    from workers.errors import ServiceError
    from workers.redis_conn import connect_redis, with_url

    settings = redis_settings(args)
    if settings.url is not None:
        client = connect_redis(settings)
        try:
            yield client, settings
        finally:
            client.close()
        return
    path = settings.embedded_path
    if path is None and not allow_empty_embedded:
        raise ServiceError(
            "FINFEED_REDIS_URL is unset (and no --redis-embedded-path): nothing to read"
        )
    if path is not None and not path.exists() and not allow_empty_embedded:
        raise ServiceError(f"no embedded Redis database at {path}")
    where = f"database file {path}" if path else "a temporary database, lost on exit"
    print(f"FINFEED_REDIS_URL is unset: starting an embedded Redis ({where})", file=sys.stderr)
    with EmbeddedRedis(db_path=path) as server:
        settings = with_url(settings, server.url)
        client = connect_redis(settings)
        try:
            yield client, settings
        finally:
            client.close()


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "query",
        help="a company's rolling sentiment (point in time) from Redis",
        description="Rolling mean of P(positive) - P(negative) per company over a window, "
        "as known at --as-of (default now).",
    )
    parser.add_argument("symbols", nargs="+", metavar="SYMBOL", help="company symbols, e.g. TSLA")
    add_option(
        parser, "--window", env="FINFEED_QUERY_WINDOW", help="window: 7d, 36h, 90m (default 7d)"
    )
    add_option(
        parser,
        "--aspect",
        env="FINFEED_QUERY_ASPECT",
        help="aspect filter: all, forward_looking, prediction (default all)",
    )
    add_option(
        parser, "--as-of", env="FINFEED_QUERY_AS_OF", help="RFC 3339 time: what was known then"
    )
    parser.add_argument("--json", action="store_true", help="print JSON lines (the API's shape)")
    add_redis_options(parser)
    add_aggregate_options(parser)
    parser.set_defaults(func=run)


def format_aggregate(agg: Any) -> str:
    mean = "n/a" if agg.mean_score is None else f"{agg.mean_score:+.3f}"
    last = (
        agg.last_knowledge_time.isoformat(timespec="minutes")
        if agg.last_knowledge_time
        else "never"
    )
    return (
        f"{agg.symbol:<8} {agg.aspect:<15} mean {mean:>7} over {agg.count:>5} snippets "
        f"(+{agg.positive} ={agg.neutral} -{agg.negative})  "
        f"window ({agg.window_start.isoformat(timespec='minutes')}, "
        f"{agg.window_end.isoformat(timespec='minutes')}]  last update {last}"
    )


def run(args: argparse.Namespace) -> int:
    import os

    from pipeline.aggregates import parse_aspect_filter, parse_window
    from pipeline.errors import ConfigError
    from pipeline.records import from_rfc3339
    from workers.aggregate_store import AggregateStore, AggregateStoreError
    from workers.errors import WorkerError

    try:
        window = parse_window(args.window or os.environ.get("FINFEED_QUERY_WINDOW") or "7d")
        aspect = parse_aspect_filter(args.aspect or os.environ.get("FINFEED_QUERY_ASPECT") or "all")
        as_of_text = args.as_of or os.environ.get("FINFEED_QUERY_AS_OF")
        as_of = from_rfc3339(as_of_text) if as_of_text else None
        agg_settings = aggregate_settings(args)
    except (ConfigError, ValueError) as exc:
        print(f"finfeed query: {exc}", file=sys.stderr)
        return 2
    try:
        with open_redis(args, allow_empty_embedded=False) as (client, settings):
            store = AggregateStore(client, agg_settings, settings.key_prefix)
            for symbol in args.symbols:
                agg = store.query(symbol.strip().upper(), aspect=aspect, window=window, as_of=as_of)
                print(json.dumps(agg.to_dict()) if args.json else format_aggregate(agg))
    except (WorkerError, AggregateStoreError) as exc:
        print(f"finfeed query: {exc}", file=sys.stderr)
        return 1
    return 0

"""``finfeed serve``: run the HTTP API (uvicorn) over the Redis aggregates.

Routes: ``/v1/companies/{symbol}/sentiment``, ``/v1/companies/{symbol}/series``,
``/v1/movers``, ``/v1/companies?q=``, ``POST /v1/classify``; the chart page at ``/ui``,
OpenAPI docs at ``/docs``, ``/metrics`` and ``/healthz``. When ``FINFEED_REDIS_URL`` is
unset an embedded Redis is started (and said so). The classifier for ``/v1/classify`` is
built on first use from the classifier options; ``--no-classifier`` serves without it.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from finfeed.commands._options import (
    add_classifier_options,
    add_option,
    add_redis_options,
    classifier_settings,
    overrides,
)
from finfeed.commands.query import (
    add_aggregate_options,
    aggregate_settings,
    open_redis,
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the HTTP API and chart page",
        description="Serve point-in-time sentiment aggregates, company search, classification "
        "and a chart page over HTTP.",
    )
    add_option(parser, "--host", env="FINFEED_API_HOST", help="listen address (default 127.0.0.1)")
    add_option(
        parser, "--port", env="FINFEED_API_PORT", type=int, help="listen port (default 8000)"
    )
    add_option(
        parser,
        "--token",
        env="FINFEED_API_TOKEN",
        help="bearer token required on /v1 (default: no auth)",
    )
    add_option(
        parser,
        "--max-batch",
        env="FINFEED_API_MAX_BATCH",
        type=int,
        help="texts per /v1/classify call (default 64)",
    )
    add_option(
        parser,
        "--max-text-chars",
        env="FINFEED_API_MAX_TEXT_CHARS",
        type=int,
        help="characters per text for /v1/classify (default 20000)",
    )
    parser.add_argument(
        "--no-classifier", action="store_true", help="serve without POST /v1/classify"
    )
    add_redis_options(parser)
    add_aggregate_options(parser)
    add_classifier_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from finfeed.api.app import create_app
    from finfeed.settings import ApiSettings
    from pipeline.errors import ConfigError
    from workers.aggregate_store import AggregateStore
    from workers.errors import WorkerError

    try:
        api = ApiSettings(
            **overrides(
                args,
                host="host",
                port="port",
                token="token",
                max_batch="max_batch",
                max_text_chars="max_text_chars",
            )
        )
        agg = aggregate_settings(args)
        factory, aspects = _classifier_factory(args)
    except (ConfigError, ValueError) as exc:
        print(f"finfeed serve: {exc}", file=sys.stderr)
        return 2
    try:
        with open_redis(args, allow_empty_embedded=True) as (client, redis_settings):
            store = AggregateStore(client, agg, redis_settings.key_prefix)
            app = create_app(api, store, factory, aspects)
            print(
                f"finfeed API on http://{api.host}:{api.port} (docs /docs, charts /ui)",
                file=sys.stderr,
            )
            uvicorn.run(app, host=api.host, port=api.port, log_level="info", access_log=False)
    except WorkerError as exc:
        print(f"finfeed serve: {exc}", file=sys.stderr)
        return 1
    return 0


def _classifier_factory(args: argparse.Namespace) -> tuple[Any, tuple[Any, ...]]:
    from pipeline.aspects import BUILTIN_ASPECTS, DEFAULT_ASPECT_NAMES

    if args.no_classifier:
        return None, tuple(BUILTIN_ASPECTS[n] for n in DEFAULT_ASPECT_NAMES)
    try:
        from finfeed.classifiers import build_classifier, resolve_aspects
    except ImportError:  # classifier factory not installed: serve aggregates only
        print(
            "finfeed serve: no classifier factory available; /v1/classify is disabled",
            file=sys.stderr,
        )
        return None, tuple(BUILTIN_ASPECTS[n] for n in DEFAULT_ASPECT_NAMES)
    settings = classifier_settings(args)
    aspects = tuple(resolve_aspects(settings))

    def factory() -> Any:
        return build_classifier(settings, aspects)

    return factory, aspects

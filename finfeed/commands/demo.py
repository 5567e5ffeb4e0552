"""``finfeed demo``: the whole pipeline on this machine, no services needed.

Starts an embedded Kafka-protocol broker and Redis on free ports, loads the embedded CPU
classifier (the first run exports it to ONNX once), publishes the sample feed shipped with
finfeed (a few hundred snippets about listed companies, with reprints, near copies and
malformed lines), runs the worker and the aggregator until every input is accounted for,
prints a summary and shuts everything down. ``--json`` ends the output with one JSON
object (counts ``input``, ``enriched``, ``duplicates``, ``dead_letter``; per-company 7-day
averages).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from finfeed.commands._options import add_classifier_options, add_option, classifier_settings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run broker + Redis + worker + aggregator on the sample feed and print a summary",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    parser.add_argument("--json", action="store_true", help="end the output with one JSON object")
    add_option(
        parser,
        "--feed",
        env="FINFEED_DEMO_FEED",
        read_env=True,
        help="JSON Lines feed to publish (default: the bundled sample feed)",
    )
    add_option(
        parser,
        "--partitions",
        env="FINFEED_DEMO_PARTITIONS",
        type=int,
        read_env=True,
        help="partitions of the demo topics (default 3)",
    )
    add_option(
        parser,
        "--serve",
        env="FINFEED_DEMO_SERVE",
        type=int,
        read_env=True,
        metavar="PORT",
        help="after the summary, serve the API and chart page over the demo's data on PORT "
        "until Ctrl-C (e.g. --serve 8000, then open http://127.0.0.1:8000/ui)",
    )
    add_classifier_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import asyncio
    import json
    from pathlib import Path

    from finfeed.demo import DEMO_PARTITIONS, SAMPLE_FEED, DemoOptions, format_summary, run_demo
    from models.errors import ClassifierError
    from pipeline.errors import PipelineError
    from workers.errors import WorkerError

    def progress(msg: str) -> None:
        print(f"[demo] {msg}", file=sys.stderr, flush=True)

    options = DemoOptions(
        feed=Path(args.feed) if args.feed else SAMPLE_FEED,
        partitions=args.partitions or DEMO_PARTITIONS,
        classifier=classifier_settings(args),
        progress=progress,
        serve_port=int(args.serve) if args.serve else None,
        on_summary=lambda summary: show(summary),
    )
    shown = False

    def show(summary: dict[str, Any]) -> None:
        nonlocal shown
        print(format_summary(summary))
        if args.json:
            print(json.dumps(summary, sort_keys=True))
        sys.stdout.flush()
        shown = True

    try:
        summary = asyncio.run(run_demo(options))
    except (WorkerError, PipelineError, ClassifierError, TimeoutError, OSError) as exc:
        print(f"finfeed demo: {exc}", file=sys.stderr)
        return 1
    if not shown:
        show(summary)
    return 0

"""``finfeed produce FILE.jsonl``: publish each line of a file as one raw message.

Lines go to the raw topic byte for byte (a malformed line stays malformed: that is what
the dead-letter path is for), keyed by the line's ``id`` when the line parses as a JSON
object with one, so reprocessing keys the same way. ``-`` reads stdin.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from finfeed.commands._options import add_kafka_options, add_option, kafka_settings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "produce",
        help="publish a JSON Lines file into the raw topic, one message per line",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    parser.add_argument("file", metavar="FILE.jsonl", help="JSON Lines file ('-' = stdin)")
    add_kafka_options(parser, group=False)
    add_option(
        parser,
        "--topic",
        env="FINFEED_PRODUCE_TOPIC",
        read_env=True,
        help="target topic (default: the raw topic)",
    )
    add_option(
        parser,
        "--create-topics",
        env="FINFEED_CREATE_TOPICS",
        type=int,
        metavar="PARTITIONS",
        read_env=True,
        help="create missing finfeed topics with this many partitions first",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import asyncio
    import json

    from workers.errors import WorkerError
    from workers.feed import iter_lines, produce_lines
    from workers.kafka import ensure_topics

    kafka = kafka_settings(args)
    topic = args.topic or kafka.topic_raw
    if args.file != "-" and not os.path.isfile(args.file):
        print(f"finfeed produce: cannot read {args.file}: no such file", file=sys.stderr)
        return 1

    async def main() -> int:
        if args.create_topics:
            await ensure_topics(kafka, partitions=args.create_topics)
        return await produce_lines(kafka, topic, iter_lines(args.file))

    try:
        n = asyncio.run(main())
    except (WorkerError, OSError) as exc:
        print(f"finfeed produce: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # aiokafka errors: unreachable broker, unknown topic
        print(f"finfeed produce: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"produced": n, "topic": topic}))
    return 0

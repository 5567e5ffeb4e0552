"""``finfeed tail TOPIC``: print the records of a topic as JSON lines.

Follows new records by default; ``--from-beginning`` starts at the oldest, ``-n N`` stops
after N records, ``--idle-exit S`` stops after S seconds without a record. Reads without a
consumer group (nothing is committed, no other consumer is disturbed). Values that are not
JSON are shown as ``{"raw_b64": ...}``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from finfeed.commands._options import add_kafka_options, add_option, kafka_settings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "tail",
        help="print a topic's records as JSON lines",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    parser.add_argument(
        "topic", metavar="TOPIC", help="topic to read (news.enriched, sentiment.timeseries ...)"
    )
    parser.add_argument("-n", type=int, default=None, metavar="N", help="stop after N records")
    parser.add_argument("--from-beginning", action="store_true", help="start at the oldest record")
    parser.add_argument(
        "--pretty", action="store_true", help="indented JSON instead of one line per record"
    )
    parser.add_argument(
        "--meta", action="store_true", help="wrap each record with topic, partition, offset, key"
    )
    add_option(
        parser,
        "--idle-exit",
        env="FINFEED_TAIL_IDLE_EXIT",
        type=float,
        read_env=True,
        help="stop after this many idle seconds",
    )
    add_kafka_options(parser, group=False)
    parser.set_defaults(func=run)


def render(msg: Any, *, meta: bool, pretty: bool) -> str:
    import base64

    from finfeed import serialization

    try:
        value: Any = serialization.loads(msg.value) if msg.value is not None else None
    except ValueError:
        value = {"raw_b64": base64.b64encode(msg.value).decode("ascii")}
    if meta:
        value = {
            "topic": msg.topic,
            "partition": msg.partition,
            "offset": msg.offset,
            "key": msg.key.decode("utf-8", "replace") if msg.key is not None else None,
            "value": value,
        }
    if pretty:
        return serialization.dumps_pretty(value)
    return serialization.dumps(value).decode("utf-8")


async def tail(kafka: Any, args: argparse.Namespace, out: Any) -> int:
    import time

    from aiokafka import AIOKafkaConsumer, TopicPartition

    from workers.kafka import client_kwargs

    consumer = AIOKafkaConsumer(
        **client_kwargs(kafka),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest" if args.from_beginning else "latest",
    )
    await consumer.start()
    shown = 0
    try:
        partitions = consumer.partitions_for_topic(args.topic)
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(args.topic)
        if not partitions:
            raise LookupError(f"topic {args.topic!r} does not exist")
        tps = [TopicPartition(args.topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        if args.from_beginning:
            await consumer.seek_to_beginning(*tps)
        else:
            await consumer.seek_to_end(*tps)
        last = time.monotonic()
        while args.n is None or shown < args.n:
            batch = await consumer.getmany(timeout_ms=500)
            msgs = sorted(
                (m for ms in batch.values() for m in ms),
                key=lambda m: (m.timestamp, m.partition, m.offset),
            )
            if not msgs:
                if args.idle_exit is not None and time.monotonic() - last >= args.idle_exit:
                    break
                continue
            last = time.monotonic()
            for m in msgs:
                print(render(m, meta=args.meta, pretty=args.pretty), file=out, flush=True)
                shown += 1
                if args.n is not None and shown >= args.n:
                    break
    finally:
        await consumer.stop()
    return shown


def run(args: argparse.Namespace) -> int:
    import asyncio

    kafka = kafka_settings(args)
    try:
        asyncio.run(tail(kafka, args, sys.stdout))
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:  # `finfeed tail ... | head`
        return 0
    except LookupError as exc:
        print(f"finfeed tail: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # unreachable broker and the like
        print(f"finfeed tail: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0

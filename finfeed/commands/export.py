"""``finfeed export``: the time series and daily aggregates as Parquet, for backtests.

``finfeed export --from 2026-01-01 --to 2026-04-01 --format parquet --output out/`` writes

- ``out/timeseries.parquet``: one row per contribution (a ``TimeseriesPoint``) with an event
  time in [from, to): ``point_id, snippet_id, company, event_time, knowledge_time,
  model_version, source, score`` (P(positive) - P(negative)) and, per aspect,
  ``<aspect>_label``, ``<aspect>_p_<label>`` and ``<aspect>_model_version``;
- ``out/daily_aggregates.parquet``: per company, aspect filter and day end t in (from, to]
  the rolling aggregate over ``(t - window, t]`` as known at t (``as_of`` = t: join on
  ``as_of <= decision time`` and nothing from the future leaks in); ``--revised`` adds rows
  as known at export time. Columns: ``company, aspect, date, window_start, window_end,
  as_of, count, mean_score, score_sum, n_negative, n_neutral, n_positive,
  last_knowledge_time``.

Points come from ``sentiment.timeseries`` (read from the beginning with a group-less
consumer) or, with ``--input``, from a JSON Lines file of points. Semantics are those of
``pipeline.aggregates``, identical to the API's.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from finfeed.commands._options import add_kafka_options, add_option, kafka_settings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export the time series and point-in-time daily aggregates (Parquet)",
        description="Write timeseries and daily_aggregates tables for backtests.",
    )
    add_option(
        parser,
        "--from",
        dest="start",
        env="FINFEED_EXPORT_FROM",
        help="first day/time (RFC 3339 or YYYY-MM-DD)",
    )
    add_option(
        parser, "--to", dest="end", env="FINFEED_EXPORT_TO", help="end, exclusive (default now)"
    )
    add_option(
        parser,
        "--format",
        dest="fmt",
        env="FINFEED_EXPORT_FORMAT",
        choices=["parquet", "csv"],
        help="default parquet",
    )
    add_option(
        parser, "--output", "-o", env="FINFEED_EXPORT_OUTPUT", help="output directory (created)"
    )
    add_option(
        parser,
        "--input",
        "-i",
        env="FINFEED_EXPORT_INPUT",
        help="JSON Lines file of points instead of Kafka",
    )
    add_option(
        parser,
        "--window",
        env="FINFEED_EXPORT_WINDOW",
        help="rolling window of the daily aggregates (default 7d)",
    )
    add_option(
        parser,
        "--symbols",
        env="FINFEED_EXPORT_SYMBOLS",
        help="comma-separated companies (default all)",
    )
    add_option(
        parser,
        "--bucket-seconds",
        env="FINFEED_AGG_BUCKET_SECONDS",
        type=int,
        help="event-time bucket size in seconds (default 86400); as the aggregator's",
    )
    parser.add_argument("--revised", action="store_true", help="also rows as known at export time")
    add_kafka_options(parser, topics=("timeseries",), group=False)
    parser.set_defaults(func=run)


def parse_when(value: str) -> datetime:
    """RFC 3339, or a bare date (midnight UTC)."""
    from pipeline.records import from_rfc3339

    text = value.strip()
    if len(text) == 10:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    return from_rfc3339(text)


def read_jsonl(path: Path) -> Iterator[Any]:
    from pipeline.records import TimeseriesPoint

    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield TimeseriesPoint.from_dict(json.loads(line))
            except (ValueError, KeyError, TypeError) as exc:
                print(f"finfeed export: {path}:{n}: skipped, not a point: {exc}", file=sys.stderr)


def read_topic(kafka: Any) -> list[Any]:
    """Every point on the time-series topic (group-less consumer, until a poll is empty)."""
    import asyncio

    from aiokafka import AIOKafkaConsumer, TopicPartition

    from pipeline.records import TimeseriesPoint
    from workers.kafka import client_kwargs

    async def consume() -> list[Any]:
        consumer = AIOKafkaConsumer(group_id=None, enable_auto_commit=False, **client_kwargs(kafka))
        await consumer.start()
        try:
            await consumer.topics()
            parts = consumer.partitions_for_topic(kafka.topic_timeseries) or set()
            tps = [TopicPartition(kafka.topic_timeseries, p) for p in sorted(parts)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            end = await consumer.end_offsets(tps)
            out: list[Any] = []
            while True:
                batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
                msgs = [m for ms in batch.values() for m in ms]
                for m in msgs:
                    try:
                        out.append(TimeseriesPoint.from_dict(json.loads(m.value)))
                    except (ValueError, KeyError, TypeError):
                        continue
                if not msgs and all([await consumer.position(tp) >= end[tp] for tp in tps]):
                    return out
        finally:
            await consumer.stop()

    return asyncio.run(consume())


def timeseries_rows(points: Iterable[Any], start: datetime, end: datetime) -> list[dict[str, Any]]:
    from pipeline.aggregates import snippet_score

    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for p in points:
        if p.id in seen or not start <= p.event_time < end or "sentiment" not in p.scores:
            continue
        seen.add(p.id)
        row: dict[str, Any] = {
            "point_id": p.id,
            "snippet_id": p.snippet_id,
            "company": p.company,
            "event_time": p.event_time,
            "knowledge_time": p.knowledge_time,
            "model_version": p.model_version,
            "source": p.source,
            "score": round(snippet_score(p.scores), 6),
        }
        for name, s in sorted(p.scores.items()):
            row[f"{name}_label"] = s.label
            for label, prob in s.probs.items():
                row[f"{name}_p_{label}"] = float(prob)
            row[f"{name}_model_version"] = s.model_version
        rows.append(row)
    return rows


def aggregate_rows(
    points: list[Any],
    *,
    start: datetime,
    end: datetime,
    window: timedelta,
    bucket_seconds: int,
    revised: bool,
) -> list[dict[str, Any]]:
    from pipeline.aggregates import daily_aggregates, fold_points

    states = fold_points((p for p in points if p.event_time >= start - window), bucket_seconds)
    first_day = datetime(start.year, start.month, start.day, tzinfo=UTC)
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    for symbol in sorted(states):
        aggs = daily_aggregates(
            states[symbol], start=first_day, end=end, window=window,
            bucket_seconds=bucket_seconds, revised_as_of=now if revised else None,
        )  # fmt: skip
        for a in aggs:
            rows.append(
                {
                    "company": a.symbol,
                    "aspect": a.aspect,
                    "date": (a.window_end - timedelta(days=1)).date(),
                    "window_start": a.window_start,
                    "window_end": a.window_end,
                    "as_of": a.as_of,
                    "count": a.count,
                    "mean_score": a.mean_score,
                    "score_sum": a.score_sum,
                    "n_negative": a.negative,
                    "n_neutral": a.neutral,
                    "n_positive": a.positive,
                    "last_knowledge_time": a.last_knowledge_time,
                }
            )
    return rows


def _frame(rows: list[dict[str, Any]]) -> Any:
    import polars as pl

    frame = pl.DataFrame(rows, infer_schema_length=None)
    casts = [
        pl.col(c).cast(pl.Datetime("ms", "UTC"))
        for c, t in frame.schema.items()
        if isinstance(t, pl.Datetime)
    ]
    return frame.with_columns(casts) if casts else frame


def run(args: argparse.Namespace) -> int:
    import os

    from pipeline.aggregates import parse_window
    from pipeline.errors import ConfigError
    from workers.errors import WorkerError

    env = os.environ.get
    try:
        start_text = args.start or env("FINFEED_EXPORT_FROM")
        if not start_text:
            raise ConfigError("--from is required")
        start = parse_when(start_text)
        end_text = args.end or env("FINFEED_EXPORT_TO")
        end = parse_when(end_text) if end_text else datetime.now(UTC)
        if end <= start:
            raise ConfigError("--to must be after --from")
        window = parse_window(args.window or env("FINFEED_EXPORT_WINDOW") or "7d")
        fmt = args.fmt or env("FINFEED_EXPORT_FORMAT") or "parquet"
        output = Path(args.output or env("FINFEED_EXPORT_OUTPUT") or "finfeed-export")
        source = args.input or env("FINFEED_EXPORT_INPUT")
        bucket_seconds = int(args.bucket_seconds or env("FINFEED_AGG_BUCKET_SECONDS") or 86_400)
        symbols_text = args.symbols or env("FINFEED_EXPORT_SYMBOLS")
        symbols = {s.strip().upper() for s in symbols_text.split(",")} if symbols_text else None
    except (ConfigError, ValueError) as exc:
        print(f"finfeed export: {exc}", file=sys.stderr)
        return 2
    try:
        points = list(read_jsonl(Path(source))) if source else read_topic(kafka_settings(args))
    except (OSError, WorkerError) as exc:
        print(f"finfeed export: cannot read points: {exc}", file=sys.stderr)
        return 1
    if symbols is not None:
        points = [p for p in points if p.company.upper() in symbols]
    ts = timeseries_rows(points, start, end)
    daily = aggregate_rows(
        points,
        start=start,
        end=end,
        window=window,
        bucket_seconds=bucket_seconds,
        revised=args.revised,
    )
    output.mkdir(parents=True, exist_ok=True)
    written = []
    for name, rows in (("timeseries", ts), ("daily_aggregates", daily)):
        path = output / f"{name}.{fmt}"
        if not rows:
            print(f"finfeed export: no rows for {name}", file=sys.stderr)
            continue
        frame = _frame(rows)
        if fmt == "parquet":
            frame.write_parquet(path, compression="zstd")
        else:
            frame.write_csv(path)
        written.append(f"{path} ({frame.height} rows)")
    print("wrote " + ", ".join(written) if written else "nothing to write")
    return 0

"""Backfill: historical files through the same validate / dedupe / score steps, no Kafka.

Quants backfill years of news before going live. ``run_backfill`` reads a JSON Lines file
(one raw message a line, exactly what ``finfeed produce`` would send) or a Parquet file (one
snippet a row, columns named like the input contract's fields), drives the same
``Enricher`` the stream worker uses, and writes what the stream would have published as
Parquet, streaming (memory stays flat for any file size):

- ``DIR/enriched/part-*.parquet``: one row per unique snippet, every aspect's label,
  probabilities and signed score as columns, plus the full record as JSON;
- ``DIR/timeseries/part-*.parquet``: one row per (snippet, company), point in time;
- ``DIR/duplicates/part-*.parquet`` and ``DIR/deadletter/part-*.parquet``.

Dedupe runs on event time (``InMemoryDedupeStore`` without a clock): a story repeated
within the horizon of its *publication* is a duplicate, whenever the backfill runs. The
knowledge time of a point is when the backfill scored it (``processing``, honest: that is
when finfeed knew it), or its event time (``event``: as if it had been scored live, for
backtests that assume a live deployment).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from finfeed import serialization
from models.base import Classifier
from pipeline.aspects import Aspect
from pipeline.dedupe import InMemoryDedupeStore
from pipeline.records import (
    DeadLetterRecord,
    DuplicateRecord,
    EnrichedRecord,
    SourcePosition,
    TimeseriesPoint,
    to_rfc3339,
)
from pipeline.scores import AspectScore
from workers.enricher import (
    CompanyTagging,
    EnrichConfig,
    Enricher,
    PendingSnippet,
    RawInput,
    input_tickers,
)
from workers.errors import WorkerError

KnowledgeTime = Literal["processing", "event"]
_TS = pa.timestamp("ms", tz="UTC")
_READ_CHUNK = 2048


class BackfillError(WorkerError):
    """The input cannot be read or the output cannot be written."""


@dataclass(frozen=True, slots=True)
class BackfillOptions:
    input: Path
    output: Path
    batch_size: int = 64
    knowledge_time: KnowledgeTime = "processing"
    overwrite: bool = False
    rows_per_file: int = 250_000


@dataclass(slots=True)
class BackfillStats:
    input: int = 0
    enriched: int = 0
    duplicates: int = 0
    dead_letter: int = 0
    timeseries_points: int = 0
    seconds: float = 0.0
    reasons: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "input": self.input,
            "enriched": self.enriched,
            "duplicates": self.duplicates,
            "dead_letter": self.dead_letter,
            "timeseries_points": self.timeseries_points,
            "dead_letter_by_reason": dict(sorted(self.reasons.items())),
            "seconds": round(self.seconds, 2),
            "snippets_per_s": round(self.input / self.seconds, 1) if self.seconds else None,
        }


# -- reading ------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    """Parquet cell -> JSON value (timestamps as RFC 3339, NaN as missing)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)  # Parquet timestamps without zone are UTC
        return to_rfc3339(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def read_raw(path: Path) -> Iterator[tuple[int, bytes]]:
    """``(line or row number, raw message bytes)`` of a ``.jsonl`` or ``.parquet`` file."""
    suffix = "".join(path.suffixes[-2:]) if path.suffix == ".gz" else path.suffix
    try:
        if suffix == ".parquet":
            parquet = pq.ParquetFile(path)
            row = 0
            for batch in parquet.iter_batches(batch_size=_READ_CHUNK):
                for record in batch.to_pylist():
                    row += 1
                    doc = {k: _jsonable(v) for k, v in record.items() if v is not None}
                    doc = {k: v for k, v in doc.items() if v is not None}
                    yield row, serialization.dumps(doc)
            return
        if suffix in (".jsonl", ".json", ".ndjson", ".jsonl.gz"):
            import gzip

            opener: Callable[..., Any] = gzip.open if suffix.endswith(".gz") else open
            with opener(path, "rb") as stream:
                for number, line in enumerate(stream, start=1):
                    if line.strip():
                        yield number, line.rstrip(b"\r\n")
            return
    except (OSError, pa.ArrowException) as exc:
        raise BackfillError(f"cannot read {path}: {exc}") from exc
    raise BackfillError(f"{path}: expected a .jsonl(.gz) or .parquet file")


# -- writing ------------------------------------------------------------------------------


def enriched_schema(aspects: Sequence[Aspect]) -> pa.Schema:
    fields = [
        pa.field("id", pa.string(), nullable=False),
        pa.field("event_time", _TS),
        pa.field("ingest_time", _TS),
        pa.field("processed_time", _TS),
        pa.field("source", pa.string()),
        pa.field("url", pa.string()),
        pa.field("text", pa.string()),
        pa.field("companies", pa.list_(pa.string())),
        pa.field("tickers", pa.list_(pa.string())),
    ]
    fields += _aspect_fields(aspects)
    fields += [pa.field("model_version", pa.string()), pa.field("record", pa.string())]
    return pa.schema(fields)


def timeseries_schema(aspects: Sequence[Aspect]) -> pa.Schema:
    fields = [
        pa.field("id", pa.string(), nullable=False),
        pa.field("snippet_id", pa.string()),
        pa.field("company", pa.string()),
        pa.field("event_time", _TS),
        pa.field("knowledge_time", _TS),
        pa.field("source", pa.string()),
    ]
    fields += _aspect_fields(aspects)
    fields += [pa.field("model_version", pa.string()), pa.field("record", pa.string())]
    return pa.schema(fields)


DUPLICATES_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("canonical_id", pa.string()),
        pa.field("kind", pa.string()),
        pa.field("similarity", pa.float64()),
        pa.field("event_time", _TS),
        pa.field("detected_time", _TS),
        pa.field("source_file", pa.string()),
        pa.field("line", pa.int64()),
    ]
)

DEADLETTER_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("reason", pa.string()),
        pa.field("detail", pa.string()),
        pa.field("raw", pa.binary()),
        pa.field("source_file", pa.string()),
        pa.field("line", pa.int64()),
        pa.field("failed_time", _TS),
    ]
)


def _aspect_fields(aspects: Sequence[Aspect]) -> list[pa.Field]:
    out: list[pa.Field] = []
    for a in aspects:
        out.append(pa.field(f"{a.name}_label", pa.string()))
        out.append(pa.field(f"{a.name}_score", pa.float64()))
        out += [pa.field(f"{a.name}_p_{label}", pa.float64()) for label in a.labels]
    return out


def _aspect_values(aspects: Sequence[Aspect], scores: Mapping[str, AspectScore]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for a in aspects:
        s = scores[a.name]
        row[f"{a.name}_label"] = s.label
        row[f"{a.name}_score"] = a.score(s.probs)
        for label in a.labels:
            row[f"{a.name}_p_{label}"] = float(s.probs.get(label, 0.0))
    return row


def _model_version(scores: Mapping[str, AspectScore]) -> str:
    return ";".join(f"{name}={s.model_version}" for name, s in sorted(scores.items()))


class ParquetSink:
    """Rows of one schema into ``DIR/name/part-NNNNN.parquet``, buffered and rolled."""

    def __init__(
        self, directory: Path, schema: pa.Schema, rows_per_file: int, flush_rows: int = 4096
    ) -> None:
        self.directory = directory
        self.schema = schema
        self.rows_per_file = rows_per_file
        self.flush_rows = flush_rows
        self.rows_written = 0
        self._buffer: list[dict[str, Any]] = []
        self._writer: pq.ParquetWriter | None = None
        self._in_file = 0
        self._files = 0
        directory.mkdir(parents=True, exist_ok=True)

    def write(self, row: dict[str, Any]) -> None:
        self._buffer.append(row)
        if len(self._buffer) >= self.flush_rows:
            self.flush()

    def flush(self) -> None:
        if not self._buffer:
            return
        table = pa.Table.from_pylist(self._buffer, schema=self.schema)
        self._buffer = []
        if self._writer is None or self._in_file >= self.rows_per_file:
            self._roll()
        assert self._writer is not None
        self._writer.write_table(table)
        self._in_file += table.num_rows
        self.rows_written += table.num_rows

    def _roll(self) -> None:
        if self._writer is not None:
            self._writer.close()
        path = self.directory / f"part-{self._files:05d}.parquet"
        self._files += 1
        self._writer = pq.ParquetWriter(path, self.schema, compression="zstd")
        self._in_file = 0

    def close(self) -> None:
        self.flush()
        if self._writer is None:  # an empty output still gets a file with its schema
            self._roll()
        assert self._writer is not None
        self._writer.close()
        self._writer = None


# -- the run ------------------------------------------------------------------------------


class Backfill:
    """Streams one file through the enricher into four Parquet outputs."""

    def __init__(
        self,
        classifier: Classifier,
        aspects: Sequence[Aspect],
        options: BackfillOptions,
        *,
        config: EnrichConfig | None = None,
        tag_companies: CompanyTagging = input_tickers,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.aspects = tuple(aspects)
        self.options = options
        self.clock = clock
        self.progress = progress
        # dedupe on event time: claims expire by the feed's own clock, not the wall's
        self.enricher = Enricher(
            classifier,
            self.aspects,
            InMemoryDedupeStore(clock=None),
            config=config,
            tag_companies=tag_companies,
            clock=clock,
        )
        self.stats = BackfillStats()
        self._source = f"file:{options.input.name}"

    def run(self) -> BackfillStats:
        opts = self.options
        out = opts.output
        if out.exists() and any(out.iterdir()) and not opts.overwrite:
            raise BackfillError(f"{out} is not empty; pass --overwrite to replace its files")
        if opts.overwrite:
            for sub in ("enriched", "timeseries", "duplicates", "deadletter"):
                for old in (out / sub).glob("part-*.parquet"):
                    old.unlink()
        rpf = opts.rows_per_file
        self.sinks = {
            "enriched": ParquetSink(out / "enriched", enriched_schema(self.aspects), rpf),
            "timeseries": ParquetSink(out / "timeseries", timeseries_schema(self.aspects), rpf),
            "duplicates": ParquetSink(out / "duplicates", DUPLICATES_SCHEMA, rpf),
            "deadletter": ParquetSink(out / "deadletter", DEADLETTER_SCHEMA, rpf),
        }
        started = time.perf_counter()
        pending: list[PendingSnippet[int]] = []
        chunk: list[RawInput[int]] = []
        try:
            for line, raw in read_raw(opts.input):
                chunk.append(
                    RawInput(
                        value=raw,
                        position=SourcePosition(self._source, 0, line),
                        timestamp=None,  # a file has no broker timestamp
                        token=line,
                    )
                )
                if len(chunk) >= _READ_CHUNK:
                    pending = self._process(chunk, pending)
                    chunk = []
            pending = self._process(chunk, pending)
            if pending:
                self._score(pending)
        finally:
            for sink in self.sinks.values():
                sink.close()
        self.stats.seconds = time.perf_counter() - started
        return self.stats

    def _process(
        self, chunk: list[RawInput[int]], pending: list[PendingSnippet[int]]
    ) -> list[PendingSnippet[int]]:
        if not chunk:
            return pending
        self.stats.input += len(chunk)
        prepared = self.enricher.prepare(chunk)
        for record, _ in prepared.dead_letters:
            self._dead(record)
        for dup, _ in prepared.duplicates:
            self._duplicate(dup)
        pending = pending + prepared.unique
        size = self.options.batch_size
        while len(pending) >= size:
            self._score(pending[:size])
            pending = pending[size:]
        if self.progress is not None:
            self.progress(len(chunk))
        return pending

    def _score(self, batch: list[PendingSnippet[int]]) -> None:
        # a backfill has no one to wait for: backpressure from a remote backend is retried
        from models.errors import BackpressureError

        delay = 0.5
        while True:
            try:
                scored = self.enricher.score(batch)
                break
            except BackpressureError as exc:
                time.sleep(exc.retry_after if exc.retry_after is not None else delay)
                delay = min(delay * 2, 30.0)
        for record, _ in scored.failed:
            self._dead(record)
        now = self.clock()
        for item, scores in scored.scored:
            processed = item.snippet.published_at if self.options.knowledge_time == "event" else now
            [(enriched, points, _)] = self.enricher.finish([(item, scores)], processed)
            self._enriched(enriched, points)

    def _enriched(self, rec: EnrichedRecord, points: list[TimeseriesPoint]) -> None:
        s = rec.snippet
        self.sinks["enriched"].write(
            {
                "id": rec.id,
                "event_time": s.published_at,
                "ingest_time": rec.ingested_at,
                "processed_time": rec.processed_at,
                "source": s.source,
                "url": s.url,
                "text": s.text,
                "companies": list(rec.companies),
                "tickers": list(s.tickers),
                **_aspect_values(self.aspects, rec.scores),
                "model_version": _model_version(rec.scores),
                "record": serialization.dumps(rec.to_dict()).decode("utf-8"),
            }
        )
        for p in points:
            self.sinks["timeseries"].write(
                {
                    "id": p.id,
                    "snippet_id": p.snippet_id,
                    "company": p.company,
                    "event_time": p.event_time,
                    "knowledge_time": p.knowledge_time,
                    "source": p.source,
                    **_aspect_values(self.aspects, p.scores),
                    "model_version": p.model_version,
                    "record": serialization.dumps(p.to_dict()).decode("utf-8"),
                }
            )
        self.stats.enriched += 1
        self.stats.timeseries_points += len(points)

    def _duplicate(self, dup: DuplicateRecord) -> None:
        self.sinks["duplicates"].write(
            {
                "id": dup.id,
                "canonical_id": dup.canonical_id,
                "kind": dup.kind,
                "similarity": dup.similarity,
                "event_time": dup.published_at,
                "detected_time": dup.detected_at,
                "source_file": self.options.input.name,
                "line": dup.source.offset if dup.source else None,
            }
        )
        self.stats.duplicates += 1

    def _dead(self, record: DeadLetterRecord) -> None:
        self.sinks["deadletter"].write(
            {
                "id": record.id,
                "reason": record.reason,
                "detail": record.detail,
                "raw": record.raw,
                "source_file": self.options.input.name,
                "line": record.source.offset if record.source else None,
                "failed_time": record.failed_at,
            }
        )
        self.stats.dead_letter += 1
        self.stats.reasons[record.reason] = self.stats.reasons.get(record.reason, 0) + 1

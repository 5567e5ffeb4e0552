"""Records that flow through finfeed, frozen and typed; JSON on the wire.

Times are timezone-aware UTC datetimes inside and RFC 3339 strings on the wire.

- ``Snippet``: a validated input.
- ``EnrichedRecord``: a unique snippet with its aspect scores (topic ``news.enriched``).
- ``DuplicateRecord``: an input found to repeat an earlier snippet (``news.duplicates``).
- ``DeadLetterRecord``: an input that broke the contract, with its original bytes
  and a machine-readable reason (``news.deadletter``).
- ``TimeseriesPoint``: one (snippet, company) observation, point in time: event time,
  knowledge time and model version; appended, never rewritten (``sentiment.timeseries``).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pipeline.scores import AspectScore


def to_rfc3339(ts: datetime) -> str:
    """UTC RFC 3339 with millisecond precision and a 'Z' suffix."""
    if ts.tzinfo is not UTC:
        if ts.tzinfo is None:
            raise ValueError("naive datetime: finfeed only handles timezone-aware times")
        ts = ts.astimezone(UTC)
    return ts.isoformat(timespec="milliseconds")[:-6] + "Z"  # drop "+00:00"


def from_rfc3339(value: str) -> datetime:
    """Parse RFC 3339 (also 'Z' suffix); the result is aware and in UTC."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    ts = datetime.fromisoformat(text)
    if ts.tzinfo is None:
        raise ValueError(f"timestamp without offset: {value!r}")
    return ts.astimezone(UTC)


def record_id(*parts: str) -> str:
    """Deterministic id from parts: the same inputs always give the same id."""
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        h.update(part.encode("utf-8"))
        h.update(b"\x1f")
    return h.hexdigest()


@dataclass(frozen=True, slots=True)
class Snippet:
    id: str
    text: str
    published_at: datetime
    source: str | None = None
    url: str | None = None
    tickers: tuple[str, ...] = ()
    companies: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)  # unknown input fields, kept

    def to_dict(self) -> dict[str, Any]:
        return self._to_dict(to_rfc3339(self.published_at))

    def _to_dict(self, published_at: str) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.extra)
        out.update(
            id=self.id,
            text=self.text,
            published_at=published_at,
            source=self.source,
            url=self.url,
            tickers=list(self.tickers),
            companies=list(self.companies),
        )
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Snippet:
        """Inverse of ``to_dict`` (trusted records only; raw input goes through the contract)."""
        known = {"id", "text", "published_at", "source", "url", "tickers", "companies"}
        return cls(
            id=str(data["id"]),
            text=str(data["text"]),
            published_at=from_rfc3339(str(data["published_at"])),
            source=data.get("source"),
            url=data.get("url"),
            tickers=tuple(data.get("tickers") or ()),
            companies=tuple(data.get("companies") or ()),
            extra={k: v for k, v in data.items() if k not in known},
        )


@dataclass(frozen=True, slots=True)
class SourcePosition:
    """Where an input came from: Kafka coordinates, or a file and line for backfills."""

    topic: str
    partition: int
    offset: int

    def to_dict(self) -> dict[str, Any]:
        return {"topic": self.topic, "partition": self.partition, "offset": self.offset}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SourcePosition:
        return cls(
            topic=str(data["topic"]), partition=int(data["partition"]), offset=int(data["offset"])
        )


@dataclass(frozen=True, slots=True)
class EnrichedRecord:
    snippet: Snippet
    scores: Mapping[str, AspectScore]
    companies: tuple[str, ...]  # resolved company symbols
    ingested_at: datetime  # when the input reached Kafka (or the backfill read it)
    processed_at: datetime  # when finfeed scored it: the knowledge time

    @property
    def id(self) -> str:
        return self.snippet.id

    @property
    def model_version(self) -> str:
        """``aspect=version;...`` sorted by aspect: which models made this record."""
        return model_version_of(self.scores)

    def to_dict(self) -> dict[str, Any]:
        return self._to_dict(
            aspects_to_dict(self.scores),
            self.model_version,
            to_rfc3339,
            to_rfc3339(self.processed_at),
        )

    def _to_dict(
        self,
        aspects: dict[str, Any],
        model_version: str,
        rfc3339: Callable[[datetime], str],
        processed_time: str,
    ) -> dict[str, Any]:
        event_time = rfc3339(self.snippet.published_at)
        return {
            "id": self.snippet.id,
            "snippet": self.snippet._to_dict(event_time),
            "companies": list(self.companies),
            "aspects": aspects,
            "model_version": model_version,
            "event_time": event_time,
            "ingest_time": rfc3339(self.ingested_at),
            "processed_time": processed_time,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EnrichedRecord:
        return cls(
            snippet=Snippet.from_dict(data["snippet"]),
            scores={k: AspectScore.from_dict(v) for k, v in data["aspects"].items()},
            companies=tuple(data.get("companies") or ()),
            ingested_at=from_rfc3339(str(data["ingest_time"])),
            processed_at=from_rfc3339(str(data["processed_time"])),
        )


@dataclass(frozen=True, slots=True)
class DuplicateRecord:
    id: str
    canonical_id: str
    kind: str  # "exact" or "near"
    similarity: float
    published_at: datetime
    detected_at: datetime
    source: SourcePosition | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "canonical_id": self.canonical_id,
            "kind": self.kind,
            "similarity": round(self.similarity, 4),
            "event_time": to_rfc3339(self.published_at),
            "detected_time": to_rfc3339(self.detected_at),
            "source": self.source.to_dict() if self.source else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DuplicateRecord:
        src = data.get("source")
        return cls(
            id=str(data["id"]),
            canonical_id=str(data["canonical_id"]),
            kind=str(data["kind"]),
            similarity=float(data["similarity"]),
            published_at=from_rfc3339(str(data["event_time"])),
            detected_at=from_rfc3339(str(data["detected_time"])),
            source=SourcePosition.from_dict(src) if src else None,
        )


@dataclass(frozen=True, slots=True)
class DeadLetterRecord:
    reason: str  # machine readable: invalid_json, invalid_utf8, missing_text, ...
    detail: str  # human readable
    raw: bytes
    source: SourcePosition | None
    failed_at: datetime

    @property
    def id(self) -> str:
        pos = self.source
        if pos is not None:
            return record_id("deadletter", pos.topic, str(pos.partition), str(pos.offset))
        return record_id("deadletter", hashlib.sha256(self.raw).hexdigest())

    def to_dict(self) -> dict[str, Any]:
        try:
            raw_text: str | None = self.raw.decode("utf-8")
        except UnicodeDecodeError:
            raw_text = None
        return {
            "id": self.id,
            "reason": self.reason,
            "detail": self.detail,
            "raw_b64": base64.b64encode(self.raw).decode("ascii"),
            "raw_text": raw_text,
            "source": self.source.to_dict() if self.source else None,
            "failed_time": to_rfc3339(self.failed_at),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DeadLetterRecord:
        src = data.get("source")
        return cls(
            reason=str(data["reason"]),
            detail=str(data.get("detail", "")),
            raw=base64.b64decode(str(data["raw_b64"])),
            source=SourcePosition.from_dict(src) if src else None,
            failed_at=from_rfc3339(str(data["failed_time"])),
        )


@dataclass(frozen=True, slots=True)
class TimeseriesPoint:
    """One company's observation from one snippet, as known at ``knowledge_time``.

    ``id`` is deterministic in (snippet, company, model versions): reprocessing the same
    input with the same models yields the same id, so consumers and aggregates dedupe it;
    a re-score by a new model is a new point with its own knowledge time and id.
    """

    snippet_id: str
    company: str
    event_time: datetime
    knowledge_time: datetime
    scores: Mapping[str, AspectScore]
    source: str | None = None

    @property
    def model_version(self) -> str:
        return model_version_of(self.scores)

    @property
    def id(self) -> str:
        return record_id("ts", self.snippet_id, self.company, self.model_version)

    def to_dict(self) -> dict[str, Any]:
        return self._to_dict(aspects_to_dict(self.scores), self.model_version, to_rfc3339)

    def _to_dict(
        self, aspects: dict[str, Any], model_version: str, rfc3339: Callable[[datetime], str]
    ) -> dict[str, Any]:
        return {
            "id": record_id("ts", self.snippet_id, self.company, model_version),
            "snippet_id": self.snippet_id,
            "company": self.company,
            "event_time": rfc3339(self.event_time),
            "knowledge_time": rfc3339(self.knowledge_time),
            "model_version": model_version,
            "source": self.source,
            "aspects": aspects,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TimeseriesPoint:
        return cls(
            snippet_id=str(data["snippet_id"]),
            company=str(data["company"]),
            event_time=from_rfc3339(str(data["event_time"])),
            knowledge_time=from_rfc3339(str(data["knowledge_time"])),
            scores={k: AspectScore.from_dict(v) for k, v in data["aspects"].items()},
            source=data.get("source"),
        )


def model_version_of(scores: Mapping[str, AspectScore]) -> str:
    """``aspect=version;...`` sorted by aspect."""
    return ";".join(f"{name}={scores[name].model_version}" for name in sorted(scores))


def aspects_to_dict(scores: Mapping[str, AspectScore]) -> dict[str, Any]:
    """The wire form of a record's scores: aspect name -> ``AspectScore.to_dict()``."""
    return {name: s.to_dict() for name, s in scores.items()}


class RecordEncoder:
    """Wire dicts of many records at once, computing what they share only once.

    ``enriched(record, points)`` returns exactly ``record.to_dict()`` and each point's
    ``to_dict()``, but a snippet's scores, model version and times are converted once for
    its enriched record and all its time-series points (which share them when built by
    ``pipeline.enrich.build_timeseries``), and a time shared by many records (the batch's
    processing time) once per encoder. Use one encoder per batch: it remembers times.
    """

    __slots__ = ("_times",)

    def __init__(self) -> None:
        self._times: dict[datetime, str] = {}

    def rfc3339(self, ts: datetime) -> str:
        text = self._times.get(ts)
        if text is None:
            if len(self._times) >= _MAX_REMEMBERED_TIMES:
                self._times.clear()
            text = self._times[ts] = to_rfc3339(ts)
        return text

    def enriched(
        self, record: EnrichedRecord, points: Sequence[TimeseriesPoint] = ()
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        scores = record.scores
        aspects = aspects_to_dict(scores)
        version = model_version_of(scores)
        rfc3339 = self.rfc3339
        out = record._to_dict(aspects, version, rfc3339, rfc3339(record.processed_at))
        dicts = []
        for point in points:
            if point.scores is scores:
                dicts.append(point._to_dict(aspects, version, rfc3339))
            else:
                dicts.append(
                    point._to_dict(
                        aspects_to_dict(point.scores), model_version_of(point.scores), rfc3339
                    )
                )
        return out, dicts


_MAX_REMEMBERED_TIMES = 4096

"""Record builders: what the worker and the backfill emit for each input, as pure functions.

Every input ends as exactly one of
- an ``EnrichedRecord`` (``news.enriched``, keyed by the snippet id) plus one
  ``TimeseriesPoint`` per company it names (``sentiment.timeseries``, keyed by company);
- a ``DuplicateRecord`` naming the canonical snippet (``news.duplicates``);
- a ``DeadLetterRecord`` with the original bytes and a reason (``news.deadletter``).

Ids are deterministic (``pipeline.records.record_id``): reprocessing an input after a crash
produces the same ids, so consumers and aggregates drop the second copy. Times:
- event time: the snippet's ``published_at``;
- ingest time: when the input reached Kafka (its timestamp) or the backfill read it;
- processing time: when finfeed scored it. This is the knowledge time of a time-series
  point: a backtest as of T only sees points with ``knowledge_time <= T``. A re-score by a
  new model is a NEW point (new model version, new id, new knowledge time); old points are
  never rewritten.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from pipeline.dedupe import DedupeDecision
from pipeline.errors import ContractError, PipelineError
from pipeline.records import (
    DeadLetterRecord,
    DuplicateRecord,
    EnrichedRecord,
    Snippet,
    SourcePosition,
    TimeseriesPoint,
)
from pipeline.scores import AspectScore

__all__ = [
    "INTERNAL_ERROR_REASON",
    "build_deadletter",
    "build_duplicate",
    "build_enriched",
    "build_timeseries",
]

INTERNAL_ERROR_REASON = "processing_error"  # an input the pipeline failed on, not the contract


def _utc(ts: datetime, name: str) -> datetime:
    if ts.tzinfo is None:
        raise PipelineError(f"{name} is a naive datetime; finfeed only handles aware times")
    return ts.astimezone(UTC)


def build_enriched(
    snippet: Snippet,
    scores: Mapping[str, AspectScore],
    companies: Sequence[str],
    ingested_at: datetime,
    processed_at: datetime,
) -> EnrichedRecord:
    """A unique snippet with its scores and resolved companies (de-duplicated, order kept)."""
    if not scores:
        raise PipelineError(f"snippet {snippet.id}: no aspect scores to publish")
    return EnrichedRecord(
        snippet=snippet,
        scores=dict(scores),
        companies=tuple(dict.fromkeys(c for c in companies if c)),
        ingested_at=_utc(ingested_at, "ingested_at"),
        processed_at=_utc(processed_at, "processed_at"),
    )


def build_timeseries(enriched: EnrichedRecord) -> list[TimeseriesPoint]:
    """One point-in-time observation per company: event time, knowledge time, scores."""
    return [
        TimeseriesPoint(
            snippet_id=enriched.snippet.id,
            company=company,
            event_time=enriched.snippet.published_at,
            knowledge_time=enriched.processed_at,
            scores=enriched.scores,
            source=enriched.snippet.source,
        )
        for company in enriched.companies
    ]


def build_duplicate(
    snippet: Snippet,
    decision: DedupeDecision,
    detected_at: datetime,
    source: SourcePosition | None = None,
) -> DuplicateRecord:
    """The record of a duplicate input: its id, the canonical id, how alike they are."""
    if decision.duplicate_of is None or decision.kind is None:
        raise PipelineError(f"snippet {snippet.id}: decision {decision} is not a duplicate")
    if decision.duplicate_of == snippet.id:
        raise PipelineError(f"snippet {snippet.id} cannot duplicate itself")
    return DuplicateRecord(
        id=snippet.id,
        canonical_id=decision.duplicate_of,
        kind=decision.kind,
        similarity=float(decision.similarity),
        published_at=snippet.published_at,
        detected_at=_utc(detected_at, "detected_at"),
        source=source,
    )


def build_deadletter(
    error: BaseException,
    raw: bytes,
    source: SourcePosition | None,
    now: datetime,
) -> DeadLetterRecord:
    """The record of an input that cannot be enriched, with its original bytes.

    A ``ContractError`` keeps its machine-readable reason; any other error (a bug, a
    classifier rejecting one text) is ``processing_error`` with the exception's type in
    the detail, so a bad input never crashes the worker and never vanishes.
    """
    if isinstance(error, ContractError):
        reason, detail = error.reason, error.detail
    else:
        reason = INTERNAL_ERROR_REASON
        detail = f"{type(error).__name__}: {error}"
    return DeadLetterRecord(
        reason=reason,
        detail=detail[:2_000],
        raw=bytes(raw),
        source=source,
        failed_at=_utc(now, "now"),
    )

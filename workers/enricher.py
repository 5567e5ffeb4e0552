"""The enrichment steps one input goes through, independent of where inputs come from.

``Enricher`` strings the pure steps of ``pipeline`` together over a batch of raw inputs:

1. ``prepare``: validate (``parse_snippet``), fingerprint, dedupe against the store,
   tag companies. Every input leaves as exactly one of: a dead letter, a duplicate, or a
   ``PendingSnippet`` waiting to be scored.
2. ``score``: one classifier call per micro-batch. A ``BackpressureError`` propagates (the
   caller pauses and retries); any other failure is isolated by bisection, so one poison
   snippet becomes a ``processing_error`` dead letter instead of failing its neighbours.
3. ``finish``: build the enriched record and its (snippet, company) time-series points.

The Kafka worker (``workers.worker``) and the file backfill (``workers.backfill``) both
drive it, so a backfill writes exactly what the stream would have written. It holds no
Kafka or asyncio state; ``prepare`` and ``score`` block and are run in a thread by the
worker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from models.base import Classifier
from models.errors import BackpressureError
from pipeline.aspects import Aspect
from pipeline.contract import ContractLimits, parse_snippet
from pipeline.dedupe import DedupeDecision, DedupeStore, Fingerprint, Fingerprinter
from pipeline.enrich import (
    INTERNAL_ERROR_REASON,
    build_deadletter,
    build_duplicate,
    build_enriched,
    build_timeseries,
)
from pipeline.errors import ContractError
from pipeline.records import (
    DeadLetterRecord,
    DuplicateRecord,
    EnrichedRecord,
    Snippet,
    SourcePosition,
    TimeseriesPoint,
)
from pipeline.scores import AspectScores
from workers.errors import ServiceError

log = logging.getLogger(__name__)

T = TypeVar("T")  # the caller's handle on an input (a Kafka offset ticket, a file row)

PROCESSING_ERROR = INTERNAL_ERROR_REASON

CompanyTagging = Callable[[Snippet], tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class RawInput(Generic[T]):
    """One raw message as received: bytes, where it came from, and its broker timestamp."""

    value: bytes | None
    position: SourcePosition | None
    timestamp: datetime | None  # broker/file timestamp; stands in for published_at
    token: T


@dataclass(frozen=True, slots=True)
class PendingSnippet(Generic[T]):
    """A unique, validated snippet waiting for the classifier."""

    snippet: Snippet
    companies: tuple[str, ...]
    ingested_at: datetime
    raw: bytes
    position: SourcePosition | None
    token: T


@dataclass(slots=True)
class Validated(Generic[T]):
    """Inputs after the contract check: dead letters, and valid snippets with fingerprints."""

    now: datetime
    dead_letters: list[tuple[DeadLetterRecord, T]] = field(default_factory=list)
    valid: list[tuple[RawInput[T], Snippet, Fingerprint]] = field(default_factory=list)


@dataclass(slots=True)
class Prepared(Generic[T]):
    """Every input of a ``prepare`` call, sorted into exactly one outcome."""

    dead_letters: list[tuple[DeadLetterRecord, T]] = field(default_factory=list)
    duplicates: list[tuple[DuplicateRecord, T]] = field(default_factory=list)
    unique: list[PendingSnippet[T]] = field(default_factory=list)


@dataclass(slots=True)
class Scored(Generic[T]):
    """The outcome of scoring one micro-batch."""

    scored: list[tuple[PendingSnippet[T], AspectScores]] = field(default_factory=list)
    failed: list[tuple[DeadLetterRecord, T]] = field(default_factory=list)
    calls: int = 0  # classifier calls made (more than one when a failure was isolated)


@dataclass(frozen=True, slots=True)
class EnrichConfig:
    limits: ContractLimits = field(default_factory=ContractLimits)
    threshold: float = 0.7
    horizon: timedelta = timedelta(days=7)

    @classmethod
    def from_settings(cls, worker: Any) -> EnrichConfig:
        """From ``finfeed.settings.WorkerSettings``."""
        return cls(
            limits=ContractLimits(
                max_text_chars=worker.max_text_chars,
                max_future_skew=timedelta(seconds=worker.max_future_skew_s),
            ),
            threshold=worker.near_duplicate_threshold,
            horizon=timedelta(days=worker.dedupe_horizon_days),
        )


def input_tickers(snippet: Snippet) -> tuple[str, ...]:
    """Company symbols from the input's own ``tickers`` (when no tagger is available)."""
    return tuple(dict.fromkeys(t.strip().lstrip("$").upper() for t in snippet.tickers if t.strip()))


def company_tagging(registry_path: Any = None) -> CompanyTagging:
    """``pipeline.companies.CompanyTagger`` over the registry, or the input's tickers."""
    try:
        from pipeline.companies import CompanyRegistry, CompanyTagger
    except ImportError:  # the tagger is optional at this layer
        log.warning("pipeline.companies unavailable: companies come from input tickers only")
        return input_tickers
    tagger = CompanyTagger(CompanyRegistry.load(registry_path))

    def tag(snippet: Snippet) -> tuple[str, ...]:
        return tuple(tagger.tag(snippet.text, snippet.tickers, snippet.companies))

    return tag


def utcnow() -> datetime:
    return datetime.now(UTC)


class Enricher:
    """Validate, dedupe, score and build records; the same steps for stream and backfill."""

    def __init__(
        self,
        classifier: Classifier,
        aspects: Sequence[Aspect],
        dedupe_store: DedupeStore,
        *,
        config: EnrichConfig | None = None,
        fingerprinter: Fingerprinter | None = None,
        tag_companies: CompanyTagging = input_tickers,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if not aspects:
            raise ValueError("at least one aspect to score")
        self.classifier = classifier
        self.aspects = tuple(aspects)
        self.store = dedupe_store
        self.config = config or EnrichConfig()
        self.fingerprinter = fingerprinter or Fingerprinter()
        self.tag_companies = tag_companies
        self.clock = clock

    # -- 1. validate, fingerprint, dedupe -------------------------------------------------

    def prepare(self, inputs: Sequence[RawInput[T]]) -> Prepared[T]:
        """Sort ``inputs`` into dead letters, duplicates and snippets to score.

        ``validate`` then ``dedupe``; the worker runs the two as separate pipeline stages
        (the next poll is validated while the store decides on this one).
        """
        return self.dedupe(self.validate(inputs))

    def validate(self, inputs: Sequence[RawInput[T]]) -> Validated[T]:
        """Contract check and fingerprint of each input (CPU only, no I/O)."""
        out: Validated[T] = Validated(now=self.clock())
        now = out.now
        limits = self.config.limits
        parsed: list[tuple[RawInput[T], Snippet]] = []
        for item in inputs:
            raw = item.value if item.value is not None else b""
            try:
                snippet = parse_snippet(raw, kafka_timestamp=item.timestamp, now=now, limits=limits)
            except ContractError as exc:
                out.dead_letters.append(
                    (build_deadletter(exc, raw, item.position, now), item.token)
                )
                continue
            except Exception as exc:  # a contract bug must not stop the stream
                log.exception("validation failed unexpectedly at %s", item.position)
                out.dead_letters.append(
                    (self.processing_error(exc, raw, item.position, now), item.token)
                )
                continue
            parsed.append((item, snippet))
        if not parsed:
            return out
        try:  # the whole poll in one go; one text that breaks it is isolated below
            fps = self.fingerprinter.fingerprint_many([s.text for _, s in parsed])
        except Exception:
            log.warning("batch fingerprinting failed; fingerprinting one by one")
            for item, snippet in parsed:
                try:
                    fp = self.fingerprinter.fingerprint(snippet.text)
                except Exception as exc:
                    log.exception("fingerprinting failed at %s", item.position)
                    raw = item.value if item.value is not None else b""
                    out.dead_letters.append(
                        (self.processing_error(exc, raw, item.position, now), item.token)
                    )
                    continue
                out.valid.append((item, snippet, fp))
            return out
        out.valid = [(item, snippet, fp) for (item, snippet), fp in zip(parsed, fps, strict=True)]
        return out

    def dedupe(self, validated: Validated[T]) -> Prepared[T]:
        """Check and claim every valid snippet in the store; tag the unique ones.

        Raises ``ServiceError`` when the dedupe store is unreachable (nothing is decided
        then; retrying is safe: a snippet's own claim never makes it its own duplicate).
        """
        out: Prepared[T] = Prepared(dead_letters=list(validated.dead_letters))
        now = validated.now
        valid = validated.valid
        if not valid:
            return out
        decisions = self._decide([(s.id, fp, s.published_at) for _, s, fp in valid])
        for (item, snippet, _fp), decision in zip(valid, decisions, strict=True):
            raw = item.value or b""
            if decision.is_duplicate:
                out.duplicates.append(
                    (build_duplicate(snippet, decision, now, item.position), item.token)
                )
                continue
            try:
                companies = self.tag_companies(snippet)
            except Exception as exc:
                log.exception("company tagging failed at %s", item.position)
                out.dead_letters.append(
                    (self.processing_error(exc, raw, item.position, now), item.token)
                )
                continue
            out.unique.append(
                PendingSnippet(
                    snippet=snippet,
                    companies=companies,
                    ingested_at=item.timestamp or now,
                    raw=raw,
                    position=item.position,
                    token=item.token,
                )
            )
        return out

    def _decide(self, items: list[tuple[str, Fingerprint, datetime]]) -> list[DedupeDecision]:
        cfg = self.config
        many = getattr(self.store, "check_and_claim_many", None)
        if many is not None:
            decisions: list[DedupeDecision] = many(
                items, threshold=cfg.threshold, horizon=cfg.horizon
            )
            return decisions
        try:
            return [
                self.store.check_and_claim(
                    sid, fp, ts, threshold=cfg.threshold, horizon=cfg.horizon
                )
                for sid, fp, ts in items
            ]
        except ServiceError:
            raise
        except (ConnectionError, OSError) as exc:
            raise ServiceError(f"dedupe store unreachable: {exc}") from exc

    # -- 2. classify ----------------------------------------------------------------------

    def score(self, batch: Sequence[PendingSnippet[T]]) -> Scored[T]:
        """Score a micro-batch; ``BackpressureError`` propagates, other failures are isolated."""
        result: Scored[T] = Scored()
        if batch:
            self._score_into(list(batch), result)
        return result

    def _score_into(self, batch: list[PendingSnippet[T]], result: Scored[T]) -> None:
        result.calls += 1
        try:
            scores = self.classifier.classify([p.snippet.text for p in batch], self.aspects)
            self._check(scores, len(batch))
        except BackpressureError:
            raise
        except Exception as exc:
            if len(batch) == 1:
                item = batch[0]
                log.warning("classifier failed on snippet %s: %s", item.snippet.id, exc)
                record = self.processing_error(exc, item.raw, item.position, self.clock())
                result.failed.append((record, item.token))
                return
            mid = len(batch) // 2  # isolate the poison input: score each half on its own
            self._score_into(batch[:mid], result)
            self._score_into(batch[mid:], result)
            return
        result.scored.extend(zip(batch, scores, strict=True))

    def _check(self, scores: Sequence[AspectScores], expected: int) -> None:
        if len(scores) != expected:
            raise ValueError(f"classifier returned {len(scores)} results for {expected} texts")
        names = [a.name for a in self.aspects]
        for s in scores:
            missing = [n for n in names if n not in s]
            if missing:
                raise ValueError(f"classifier result misses aspects {missing}")

    # -- 3. build records -----------------------------------------------------------------

    def finish(
        self, scored: Sequence[tuple[PendingSnippet[T], AspectScores]], processed_at: datetime
    ) -> list[tuple[EnrichedRecord, list[TimeseriesPoint], T]]:
        out: list[tuple[EnrichedRecord, list[TimeseriesPoint], T]] = []
        for item, scores in scored:
            enriched = build_enriched(
                item.snippet, scores, item.companies, item.ingested_at, processed_at
            )
            out.append((enriched, build_timeseries(enriched), item.token))
        return out

    @staticmethod
    def processing_error(
        exc: BaseException, raw: bytes, position: SourcePosition | None, now: datetime
    ) -> DeadLetterRecord:
        """A ``processing_error`` dead letter: the input broke a step after the contract."""
        if isinstance(exc, ContractError):  # never report a later failure as a contract one
            exc = RuntimeError(str(exc))
        return build_deadletter(exc, raw, position, now)

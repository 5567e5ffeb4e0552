"""Rolling per-company sentiment aggregates, point in time.

The score of one snippet is ``P(positive) - P(negative)`` of its ``sentiment`` aspect: a
number in [-1, 1], the expectation of a -1 / 0 / +1 label under the classifier's
distribution (neutral counts 0). It is kept as an integer number of micro-units
(``SCORE_SCALE``) so sums stay exact however contributions are added and removed.

Aspect filters select which snippets count: ``all``, ``forward_looking`` (the
forward-looking aspect's label is "yes") and ``prediction`` (the prediction aspect's
label is "yes").

Point in time. Every contribution keeps its knowledge time (when finfeed scored it). An
aggregate *as of T* over a window W answers with what was known at T: contributions with
``knowledge_time <= T`` and event time in ``(T - W, T]`` (``window_stats`` takes the window
bounds and the knowledge cut-off separately). When a snippet was scored more than once
for a company (a re-score by a newer model is a new ``TimeseriesPoint`` with its own id
and knowledge time), exactly one version counts as of T: the one with the latest
knowledge time at or before T (ties broken by point id). Versions are matched on
(company, snippet id, event-time bucket): a re-score carries the snippet's event time
unchanged. Re-applying a point with an id already seen changes nothing; the first
application wins, as Kafka delivers a company's points in order.

Event times fall in fixed buckets (``bucket_index``; daily by default) so a store can keep
running sums per bucket; the window itself is exact to the millisecond.

``RollingAggregator`` is the keyed stateful function ``(state | None, point) -> (state,
out)`` with an injected clock, the reference semantics that ``workers.aggregate_store``
implements on Redis.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, get_args

from pipeline.errors import ConfigError
from pipeline.records import TimeseriesPoint, from_rfc3339, to_rfc3339
from pipeline.scores import AspectScore

AspectFilter = Literal["all", "forward_looking", "prediction"]
ASPECT_FILTERS: tuple[AspectFilter, ...] = get_args(AspectFilter)
SENTIMENT_LABELS: tuple[str, ...] = ("negative", "neutral", "positive")
SCORE_SCALE = 1_000_000  # score units per 1.0 of score
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
DEFAULT_WINDOW = timedelta(days=7)


def to_ms(ts: datetime) -> int:
    """Milliseconds since the Unix epoch (floor); aware datetimes only."""
    if ts.tzinfo is None:
        raise ConfigError("naive datetime: finfeed only handles timezone-aware times")
    return (ts - EPOCH) // _MS


def from_ms(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


def parse_aspect_filter(value: str) -> AspectFilter:
    """'forward-looking' / 'forward_looking' / 'all' / 'prediction' -> the filter name."""
    name = value.strip().lower().replace("-", "_")
    if name == "predictions":
        name = "prediction"
    for f in ASPECT_FILTERS:
        if f == name:
            return f
    raise ConfigError(f"unknown aspect filter {value!r} (known: {', '.join(ASPECT_FILTERS)})")


_WINDOW_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_window(value: str) -> timedelta:
    """'7d', '36h', '90m', '2w', '45s' -> timedelta (positive)."""
    match = _WINDOW_RE.match(value)
    if not match:
        raise ConfigError(f"invalid window {value!r}: use a number and a unit, e.g. 7d, 36h, 90m")
    seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
    if seconds <= 0:
        raise ConfigError(f"window {value!r} must be positive")
    return timedelta(seconds=seconds)


def format_window(window: timedelta) -> str:
    """Inverse of ``parse_window`` for whole units: 7 days -> '7d'."""
    seconds = int(window.total_seconds())
    for unit in ("w", "d", "h", "m"):
        size = _UNIT_SECONDS[unit]
        if seconds % size == 0 and unit != "w":
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def snippet_score(scores: Mapping[str, AspectScore]) -> float:
    """P(positive) - P(negative) of the sentiment aspect, in [-1, 1]."""
    sentiment = scores.get("sentiment")
    if sentiment is None:
        raise ConfigError("a timeseries point without a sentiment score cannot be aggregated")
    return float(sentiment.probs.get("positive", 0.0)) - float(sentiment.probs.get("negative", 0.0))


def score_units(scores: Mapping[str, AspectScore]) -> int:
    """``snippet_score`` in integer micro-units (exact sums)."""
    return round(snippet_score(scores) * SCORE_SCALE)


def matches_filter(scores: Mapping[str, AspectScore], aspect: AspectFilter) -> bool:
    """Whether a snippet counts under a filter: ``all``, or that aspect's label is "yes"."""
    if aspect == "all":
        return True
    score = scores.get(aspect)
    return score is not None and score.label == "yes"


def bucket_index(event_ms: int, bucket_seconds: int) -> int:
    """The event-time bucket holding ``event_ms``: floor(event / bucket size)."""
    return event_ms // (bucket_seconds * 1000)


@dataclass(frozen=True, slots=True)
class Contribution:
    """What one TimeseriesPoint adds to its company's aggregates (times in epoch ms)."""

    point_id: str
    snippet_id: str
    company: str
    event_ms: int
    knowledge_ms: int
    score_units: int
    label: int  # index into SENTIMENT_LABELS of the argmax sentiment label
    forward_looking: bool
    prediction: bool

    @classmethod
    def from_point(cls, point: TimeseriesPoint) -> Contribution:
        sentiment = point.scores.get("sentiment")
        if sentiment is None:
            raise ConfigError(f"point {point.id} has no sentiment score")
        label = (
            SENTIMENT_LABELS.index(sentiment.label) if sentiment.label in SENTIMENT_LABELS else 1
        )
        return cls(
            point_id=point.id,
            snippet_id=point.snippet_id,
            company=point.company,
            event_ms=to_ms(point.event_time),
            knowledge_ms=to_ms(point.knowledge_time),
            score_units=score_units(point.scores),
            label=label,
            forward_looking=matches_filter(point.scores, "forward_looking"),
            prediction=matches_filter(point.scores, "prediction"),
        )

    def counts_under(self, aspect: AspectFilter) -> bool:
        if aspect == "all":
            return True
        return self.forward_looking if aspect == "forward_looking" else self.prediction

    def newer_than(self, other: Contribution) -> bool:
        """Version order: later knowledge time wins, ties broken by point id."""
        return (self.knowledge_ms, self.point_id) > (other.knowledge_ms, other.point_id)


@dataclass(frozen=True, slots=True)
class WindowStats:
    """Mergeable sums over a set of counted contributions."""

    count: int = 0
    score_units: int = 0
    negative: int = 0
    neutral: int = 0
    positive: int = 0
    last_knowledge_ms: int | None = None

    def __add__(self, other: WindowStats) -> WindowStats:
        lk = [x for x in (self.last_knowledge_ms, other.last_knowledge_ms) if x is not None]
        return WindowStats(
            count=self.count + other.count,
            score_units=self.score_units + other.score_units,
            negative=self.negative + other.negative,
            neutral=self.neutral + other.neutral,
            positive=self.positive + other.positive,
            last_knowledge_ms=max(lk) if lk else None,
        )

    def with_contribution(self, c: Contribution) -> WindowStats:
        mix = [self.negative, self.neutral, self.positive]
        mix[c.label] += 1
        return WindowStats(
            count=self.count + 1,
            score_units=self.score_units + c.score_units,
            negative=mix[0],
            neutral=mix[1],
            positive=mix[2],
            last_knowledge_ms=self.last_knowledge_ms,
        )


@dataclass(frozen=True, slots=True)
class RollingAggregate:
    """One company's aggregate over ``(window_start, window_end]`` as known at ``as_of``.

    ``mean_score`` is None when no snippet counts. ``last_knowledge_time`` is the newest
    knowledge time (<= as_of) of any scored point with an event time in the window,
    whatever the aspect filter: when the window's content last changed.
    """

    symbol: str
    aspect: AspectFilter
    window_start: datetime
    window_end: datetime
    as_of: datetime
    count: int
    score_sum: float
    mean_score: float | None
    negative: int
    neutral: int
    positive: int
    last_knowledge_time: datetime | None

    @property
    def window(self) -> timedelta:
        return self.window_end - self.window_start

    @classmethod
    def from_stats(
        cls,
        symbol: str,
        aspect: AspectFilter,
        *,
        start: datetime,
        end: datetime,
        as_of: datetime,
        stats: WindowStats,
    ) -> RollingAggregate:
        mean = stats.score_units / stats.count / SCORE_SCALE if stats.count else None
        return cls(
            symbol=symbol,
            aspect=aspect,
            window_start=start,
            window_end=end,
            as_of=as_of,
            count=stats.count,
            score_sum=stats.score_units / SCORE_SCALE,
            mean_score=mean,
            negative=stats.negative,
            neutral=stats.neutral,
            positive=stats.positive,
            last_knowledge_time=(
                from_ms(stats.last_knowledge_ms) if stats.last_knowledge_ms is not None else None
            ),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "aspect": self.aspect,
            "window": format_window(self.window),
            "window_start": to_rfc3339(self.window_start),
            "window_end": to_rfc3339(self.window_end),
            "as_of": to_rfc3339(self.as_of),
            "count": self.count,
            "mean_score": None if self.mean_score is None else round(self.mean_score, 6),
            "score_sum": round(self.score_sum, 6),
            "label_mix": {
                "negative": self.negative,
                "neutral": self.neutral,
                "positive": self.positive,
            },
            "last_knowledge_time": (
                to_rfc3339(self.last_knowledge_time) if self.last_knowledge_time else None
            ),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RollingAggregate:
        mix = data.get("label_mix") or {}
        mean = data.get("mean_score")
        last = data.get("last_knowledge_time")
        return cls(
            symbol=str(data["symbol"]),
            aspect=parse_aspect_filter(str(data["aspect"])),
            window_start=from_rfc3339(str(data["window_start"])),
            window_end=from_rfc3339(str(data["window_end"])),
            as_of=from_rfc3339(str(data["as_of"])),
            count=int(data["count"]),
            score_sum=float(data["score_sum"]),
            mean_score=None if mean is None else float(mean),
            negative=int(mix.get("negative", 0)),
            neutral=int(mix.get("neutral", 0)),
            positive=int(mix.get("positive", 0)),
            last_knowledge_time=from_rfc3339(str(last)) if last else None,
        )


def window_stats(
    versions: Iterable[Iterable[Contribution]],
    aspect: AspectFilter,
    *,
    start_ms: int,
    end_ms: int,
    as_of_ms: int,
) -> WindowStats:
    """The window function: sums over ``(start, end]`` as known at ``as_of``.

    ``versions`` holds, per (snippet, bucket), every version of that contribution; the
    latest one known at ``as_of`` counts when its event time is in the window and it
    passes the filter.
    """
    stats = WindowStats()
    last: int | None = None
    for group in versions:
        best: Contribution | None = None
        for c in group:
            if c.knowledge_ms > as_of_ms:
                continue
            if start_ms < c.event_ms <= end_ms and (last is None or c.knowledge_ms > last):
                last = c.knowledge_ms
            if best is None or c.newer_than(best):
                best = c
        if best is None or not (start_ms < best.event_ms <= end_ms):
            continue
        if best.counts_under(aspect):
            stats = stats.with_contribution(best)
    return replace(stats, last_knowledge_ms=last)


@dataclass(slots=True)
class CompanyState:
    """A company's contributions: versions keyed by (snippet id, event bucket)."""

    symbol: str
    versions: dict[tuple[str, int], list[Contribution]] = field(default_factory=dict)
    point_ids: set[str] = field(default_factory=set)

    def add(self, c: Contribution, bucket_seconds: int) -> bool:
        """Record a contribution; False when its point id was already applied."""
        if c.point_id in self.point_ids:
            return False
        self.point_ids.add(c.point_id)
        key = (c.snippet_id, bucket_index(c.event_ms, bucket_seconds))
        self.versions.setdefault(key, []).append(c)
        return True

    def prune(self, before_bucket: int) -> None:
        """Drop contributions whose event bucket is older than ``before_bucket``."""
        for key in [k for k in self.versions if k[1] < before_bucket]:
            for c in self.versions.pop(key):
                self.point_ids.discard(c.point_id)

    def stats(
        self, aspect: AspectFilter, *, start_ms: int, end_ms: int, as_of_ms: int
    ) -> WindowStats:
        return window_stats(
            self.versions.values(), aspect, start_ms=start_ms, end_ms=end_ms, as_of_ms=as_of_ms
        )

    def aggregate(
        self,
        aspect: AspectFilter,
        *,
        window: timedelta,
        as_of: datetime,
        end: datetime | None = None,
    ) -> RollingAggregate:
        """The aggregate over ``(end - window, end]`` (end defaults to as_of) known at as_of."""
        end = end or as_of
        start = end - window
        stats = self.stats(aspect, start_ms=to_ms(start), end_ms=to_ms(end), as_of_ms=to_ms(as_of))
        return RollingAggregate.from_stats(
            self.symbol, aspect, start=start, end=end, as_of=as_of, stats=stats
        )


@dataclass(frozen=True, slots=True)
class RollingAggregator:
    """The keyed stateful function over a company's points, with an injected clock.

    ``apply(state, point)`` returns the new state and the company's current aggregate for
    each filter (window ending at the clock's now, as known now) when the point changed
    anything, else an empty list. Contributions older than ``retention`` are dropped.
    """

    window: timedelta = DEFAULT_WINDOW
    bucket_seconds: int = 86_400
    retention: timedelta = timedelta(days=400)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def apply(
        self, state: CompanyState | None, point: TimeseriesPoint
    ) -> tuple[CompanyState, list[RollingAggregate]]:
        state = state or CompanyState(point.company)
        now = self.clock()
        changed = state.add(Contribution.from_point(point), self.bucket_seconds)
        state.prune(bucket_index(to_ms(now - self.retention), self.bucket_seconds))
        if not changed:
            return state, []
        out = [state.aggregate(f, window=self.window, as_of=now) for f in ASPECT_FILTERS]
        return state, out


def fold_points(points: Iterable[TimeseriesPoint], bucket_seconds: int) -> dict[str, CompanyState]:
    """Every company's state from points in arrival order (first copy of an id wins)."""
    states: dict[str, CompanyState] = {}
    for point in points:
        state = states.get(point.company)
        if state is None:
            state = states[point.company] = CompanyState(point.company)
        state.add(Contribution.from_point(point), bucket_seconds)
    return states


def daily_aggregates(
    state: CompanyState,
    *,
    start: datetime,
    end: datetime,
    window: timedelta = DEFAULT_WINDOW,
    step: timedelta = timedelta(days=1),
    bucket_seconds: int = 86_400,
    revised_as_of: datetime | None = None,
) -> list[RollingAggregate]:
    """Per step end t in (start, end] and filter: the aggregate over (t - window, t].

    Each is as known at t (point in time: what a backtest could have seen); with
    ``revised_as_of`` a second row per (t, filter) holds the answer as known then.
    """
    bucket_ms = bucket_seconds * 1000
    groups = sorted(state.versions.values(), key=lambda g: g[0].event_ms)
    keys = [g[0].event_ms for g in groups]
    out: list[RollingAggregate] = []
    t = start + step
    while t <= end:
        lo, hi = to_ms(t - window), to_ms(t)
        # versions of one group share a bucket: a bucket's margin finds every candidate
        first = bisect_right(keys, lo - bucket_ms)
        last = bisect_right(keys, hi + bucket_ms)
        near = groups[first:last]
        for as_of in (t, revised_as_of) if revised_as_of is not None else (t,):
            for aspect in ASPECT_FILTERS:
                stats = window_stats(near, aspect, start_ms=lo, end_ms=hi, as_of_ms=to_ms(as_of))
                out.append(
                    RollingAggregate.from_stats(
                        state.symbol, aspect, start=t - window, end=t, as_of=as_of, stats=stats
                    )
                )
        t += step
    return out

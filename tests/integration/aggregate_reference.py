"""An independent, deliberately plain recomputation of rolling aggregates from emitted points.

Shared by the aggregate integration tests: it never imports ``pipeline.aggregates`` or the
store, it works from ``TimeseriesPoint`` records (or their JSON) as a consumer of
``sentiment.timeseries`` would.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from pipeline.records import TimeseriesPoint
from pipeline.scores import AspectScore


def _ms(ts: datetime) -> int:
    return round(ts.timestamp() * 1000)


@dataclass
class Expected:
    count: int
    mean: float | None
    negative: int
    neutral: int
    positive: int
    last_knowledge_ms: int | None


class Reference:
    """Recompute from the points in the order they were emitted (first copy of an id wins)."""

    def __init__(self, points: list[TimeseriesPoint], bucket_seconds: int = 86_400) -> None:
        seen: set[str] = set()
        self.points: list[TimeseriesPoint] = []
        for p in points:
            if p.id not in seen:
                seen.add(p.id)
                self.points.append(p)
        self.bucket_ms = bucket_seconds * 1000

    def expected(
        self, symbol: str, aspect: str, start: datetime, end: datetime, as_of: datetime
    ) -> Expected:
        lo, hi, cut = _ms(start), _ms(end), _ms(as_of)
        latest: dict[tuple[str, int], TimeseriesPoint] = {}
        last: int | None = None
        for p in self.points:
            if p.company != symbol or _ms(p.knowledge_time) > cut:
                continue
            ev = _ms(p.event_time)
            if lo < ev <= hi:
                last = max(last or 0, _ms(p.knowledge_time))
            key = (p.snippet_id, ev // self.bucket_ms)
            have = latest.get(key)
            if have is None or (p.knowledge_time, p.id) > (have.knowledge_time, have.id):
                latest[key] = p
        scores: list[float] = []
        mix = {"negative": 0, "neutral": 0, "positive": 0}
        for p in latest.values():
            if not lo < _ms(p.event_time) <= hi:
                continue
            if aspect != "all" and p.scores[aspect].label != "yes":
                continue
            probs = p.scores["sentiment"].probs
            scores.append(probs["positive"] - probs["negative"])
            mix[p.scores["sentiment"].label] += 1
        mean = sum(scores) / len(scores) if scores else None
        return Expected(len(scores), mean, mix["negative"], mix["neutral"], mix["positive"], last)


def make_point(
    rng: random.Random,
    company: str,
    snippet: str,
    event: datetime,
    known: datetime,
    version: str,
) -> TimeseriesPoint:
    raw = [rng.random() ** 2 for _ in range(3)]
    total = sum(raw)
    probs = {
        k: round(v / total, 6)
        for k, v in zip(("negative", "neutral", "positive"), raw, strict=True)
    }
    label = max(probs, key=lambda k: probs[k])

    def yn() -> AspectScore:
        yes = round(rng.random(), 6)
        return AspectScore(
            "yes" if yes > 0.5 else "no", {"no": round(1 - yes, 6), "yes": yes}, "m", version
        )

    return TimeseriesPoint(
        snippet_id=snippet,
        company=company,
        event_time=event,
        knowledge_time=known,
        scores={
            "sentiment": AspectScore(label, probs, "sent", version),
            "forward_looking": yn(),
            "prediction": yn(),
        },
        source="test",
    )


def scenario(
    seed: int, *, now: datetime, companies: tuple[str, ...] = ("TSLA", "AAPL", "MSFT"), n: int = 300
) -> list[TimeseriesPoint]:
    """Points as a worker would emit them: timely, late, re-delivered and re-scored ones."""
    rng = random.Random(seed)
    out: list[TimeseriesPoint] = []
    for i in range(n):
        company = rng.choice(companies)
        event = now - timedelta(milliseconds=rng.randrange(0, 20 * 86_400_000))
        lag = timedelta(seconds=rng.randrange(1, 600))
        if rng.random() < 0.15:  # late: learnt about days after it happened
            lag = timedelta(hours=rng.randrange(24, 120))
        known = min(now - timedelta(seconds=1), event + lag)
        p = make_point(rng, company, f"snip-{i}", event, known, "v1")
        out.append(p)
        if rng.random() < 0.1:  # at-least-once redelivery: same id, later knowledge time
            out.append(
                TimeseriesPoint(
                    p.snippet_id,
                    p.company,
                    p.event_time,
                    known + timedelta(hours=1),
                    p.scores,
                    p.source,
                )
            )
        if rng.random() < 0.15:  # re-score by a newer model, known later
            known2 = min(
                now - timedelta(milliseconds=1), known + timedelta(hours=rng.randrange(1, 72))
            )
            out.append(make_point(rng, company, p.snippet_id, event, known2, "v2"))
    rng.shuffle(out)  # versions and redeliveries arrive in any order
    return out

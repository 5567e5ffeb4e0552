"""``/v1`` routes: company sentiment, daily series, movers, company search, classification.

Handlers are thin: they parse and validate parameters (windows as ``7d`` / ``36h`` /
``90m``, times as RFC 3339), call the ``AggregateStore`` or the classifier in a worker
thread, and shape JSON. Every refusal is an ``ApiError`` with a machine-readable code.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from finfeed.api.errors import ApiError
from pipeline.aggregates import AspectFilter, parse_aspect_filter, parse_window
from pipeline.errors import ConfigError
from pipeline.records import from_rfc3339, to_rfc3339
from workers.aggregate_store import AggregateStore, AggregateStoreError

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1")

MAX_WINDOW = timedelta(days=366)
SYMBOL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9.\-:_^=]{0,31}$"

WindowQ = Annotated[str, Query(description="window length: 7d, 36h, 90m", max_length=16)]
AspectQ = Annotated[
    str, Query(description="aspect filter: all, forward_looking, prediction", max_length=32)
]
AsOfQ = Annotated[
    str | None,
    Query(
        description="RFC 3339 time: answer with what was known then (default now)", max_length=64
    ),
]


class CompanyDirectory:
    """Company search and symbol checks over the registry, or the store's symbols."""

    def __init__(self, store: AggregateStore, registry: Any = None) -> None:
        self.store = store
        self._registry = registry
        self._loaded = registry is not None

    @property
    def registry(self) -> Any:
        if not self._loaded:
            self._loaded = True
            try:
                from pipeline.companies import CompanyRegistry

                self._registry = CompanyRegistry.load()
            except Exception as exc:  # no registry shipped: search the store's symbols
                log.warning("company registry unavailable (%s); searching stored symbols", exc)
                self._registry = None
        return self._registry

    def known(self, symbol: str) -> bool:
        reg = self.registry
        return (reg is not None and symbol in reg) or self.store.has_symbol(symbol)

    def name(self, symbol: str) -> str | None:
        reg = self.registry
        company = reg.get(symbol) if reg is not None else None
        return None if company is None else str(company.name)

    def search(self, q: str, limit: int) -> list[dict[str, Any]]:
        """Registry matches (fuzzy, scored 0-100) merged with stored symbols by prefix."""
        stored = set(self.store.symbols())
        reg = self.registry
        found: dict[str, dict[str, Any]] = {}
        if reg is not None:
            for company, score in reg.search(q, limit=limit):
                found[company.symbol] = {
                    "symbol": company.symbol,
                    "name": company.name,
                    "exchange": company.exchange,
                    "score": round(float(score), 1),
                    "has_data": company.symbol in stored,
                }
        needle = q.strip().upper()
        for s in stored:
            up = s.upper()
            score = 100.0 if up == needle else 95.0 if up.startswith(needle) else 0.0
            if score and score > (found.get(s, {}).get("score") or 0.0):
                entry = found.get(s) or {"symbol": s, "name": self.name(s), "exchange": None}
                found[s] = {**entry, "score": score, "has_data": True}
        ranked = sorted(found.values(), key=lambda c: (-(c["score"] or 0.0), c["symbol"]))
        return ranked[:limit]


def _store(request: Request) -> AggregateStore:
    store: AggregateStore = request.app.state.store
    return store


def _window(value: str, name: str = "window") -> timedelta:
    try:
        window = parse_window(value)
    except ConfigError as exc:
        raise ApiError(400, f"invalid_{name}", str(exc)) from exc
    if window > MAX_WINDOW:
        raise ApiError(400, f"invalid_{name}", f"{name} {value!r} is longer than 366 days")
    if window < timedelta(minutes=1):
        raise ApiError(400, f"invalid_{name}", f"{name} {value!r} is shorter than one minute")
    return window


def _aspect(value: str) -> AspectFilter:
    try:
        return parse_aspect_filter(value)
    except ConfigError as exc:
        raise ApiError(400, "invalid_aspect", str(exc)) from exc


def _time(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return from_rfc3339(value)
    except ValueError as exc:
        raise ApiError(
            400, f"invalid_{name}", f"{name} {value!r} is not an RFC 3339 time with an offset"
        ) from exc


def _symbol(request: Request, symbol: str) -> str:
    sym = symbol.strip().upper()
    directory: CompanyDirectory = request.app.state.companies
    if not directory.known(sym):
        raise ApiError(404, "unknown_company", f"no company {sym!r} in the registry or the store")
    return sym


def _store_call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except AggregateStoreError as exc:
        raise ApiError(400, "invalid_query", str(exc)) from exc


@router.get(
    "/companies/{symbol}/sentiment",
    tags=["aggregates"],
    summary="Rolling sentiment of a company, point in time",
    description="Mean of P(positive) - P(negative) over snippets about the company with an "
    "event time in (T - window, T], counting only what was known at T (as_of, default now). "
    "When a snippet was re-scored, the version known latest at T counts.",
)
async def company_sentiment(
    request: Request,
    symbol: Annotated[str, Path(pattern=SYMBOL_PATTERN)],
    window: WindowQ = "7d",
    aspect: AspectQ = "all",
    as_of: AsOfQ = None,
) -> dict[str, Any]:
    win, asp, when = _window(window), _aspect(aspect), _time(as_of, "as_of")
    sym = await asyncio.to_thread(_symbol, request, symbol)
    store = _store(request)
    agg = await asyncio.to_thread(_store_call, store.query, sym, aspect=asp, window=win, as_of=when)
    out: dict[str, Any] = agg.to_dict()
    out["name"] = request.app.state.companies.name(sym)
    return out


@router.get(
    "/companies/{symbol}/series",
    tags=["aggregates"],
    summary="Moving average and volume per step",
    description="For each step end t in (from, to]: the moving average over (t - window, t] "
    "and the volume (snippet count) over (t - step, t]. Knowledge is cut at as_of (default "
    "now); with point_in_time=true each step is as known at its own end.",
)
async def company_series(
    request: Request,
    symbol: Annotated[str, Path(pattern=SYMBOL_PATTERN)],
    from_: Annotated[str | None, Query(alias="from", max_length=64)] = None,
    to: Annotated[str | None, Query(max_length=64)] = None,
    step: Annotated[str, Query(max_length=16)] = "1d",
    window: WindowQ = "7d",
    aspect: AspectQ = "all",
    as_of: AsOfQ = None,
    point_in_time: bool = False,
) -> dict[str, Any]:
    win, asp, when = _window(window), _aspect(aspect), _time(as_of, "as_of")
    stp = _window(step, "step")
    end = _time(to, "to")
    if end is None:
        now = datetime.now(UTC)
        day = timedelta(days=1)
        end = datetime(now.year, now.month, now.day, tzinfo=UTC) + day if stp == day else now
    start = _time(from_, "from") or end - timedelta(days=90)
    if start >= end:
        raise ApiError(400, "invalid_range", "from must be before to")
    if (end - start) / stp > 2000:
        raise ApiError(
            400, "invalid_range", "more than 2000 steps: widen the step or narrow the range"
        )
    sym = await asyncio.to_thread(_symbol, request, symbol)
    store = _store(request)
    rows = await asyncio.to_thread(
        _store_call, store.series, sym, aspect=asp, start=start, end=end, step=stp,
        window=win, as_of=when, point_in_time=point_in_time,
    )  # fmt: skip
    return {
        "symbol": sym,
        "name": request.app.state.companies.name(sym),
        "aspect": asp,
        "window": window,
        "step": step,
        "from": to_rfc3339(start),
        "to": to_rfc3339(end),
        "as_of": to_rfc3339(when) if when else None,
        "point_in_time": point_in_time,
        "points": [
            {
                "t": to_rfc3339(avg.window_end),
                "as_of": to_rfc3339(avg.as_of),
                "mean_score": None if avg.mean_score is None else round(avg.mean_score, 6),
                "count": avg.count,
                "volume": vol.count,
                "volume_mean_score": None if vol.mean_score is None else round(vol.mean_score, 6),
                "label_mix": {
                    "negative": vol.negative,
                    "neutral": vol.neutral,
                    "positive": vol.positive,
                },
            }
            for avg, vol in rows
        ],
    }


@router.get(
    "/movers",
    tags=["aggregates"],
    summary="Top movers: change of the moving average vs the previous window",
)
async def movers(
    request: Request,
    window: WindowQ = "7d",
    aspect: AspectQ = "all",
    as_of: AsOfQ = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    min_count: Annotated[int, Query(ge=1, le=100_000)] = 3,
    direction: Annotated[str, Query(pattern="^(up|down|abs)$")] = "abs",
) -> dict[str, Any]:
    win, asp, when = _window(window), _aspect(aspect), _time(as_of, "as_of")
    store = _store(request)
    ranked = await asyncio.to_thread(
        _store_call, store.movers, aspect=asp, window=win, as_of=when,
        min_count=min_count, limit=limit, direction=direction,
    )  # fmt: skip
    names = request.app.state.companies
    return {
        "aspect": asp,
        "window": window,
        "as_of": to_rfc3339(ranked[0][0].as_of) if ranked else (to_rfc3339(when) if when else None),
        "direction": direction,
        "movers": [
            {
                "symbol": cur.symbol,
                "name": names.name(cur.symbol),
                "change": round(change, 6),
                "mean_score": round(cur.mean_score or 0.0, 6),
                "previous_mean_score": round(prev.mean_score or 0.0, 6),
                "count": cur.count,
                "previous_count": prev.count,
            }
            for cur, prev, change in ranked
        ],
    }


@router.get("/companies", tags=["companies"], summary="Search companies by symbol or name")
async def search_companies(
    request: Request,
    q: Annotated[str, Query(min_length=1, max_length=100)],
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> dict[str, Any]:
    directory: CompanyDirectory = request.app.state.companies
    results = await asyncio.to_thread(directory.search, q, limit)
    return {"query": q, "results": results}


class ClassifyRequest(BaseModel):
    """One text (``text``) or a small batch (``texts``); optionally a subset of aspects."""

    text: str | None = Field(default=None, description="one snippet")
    texts: list[str] | None = Field(default=None, description="a small batch of snippets")
    aspects: list[str] | None = Field(default=None, description="aspect names (default all served)")


@router.post(
    "/classify",
    tags=["classify"],
    summary="Label and probabilities per aspect for one text or a small batch",
)
async def classify(request: Request, body: ClassifyRequest) -> dict[str, Any]:
    from models.errors import BackpressureError, ClassifierError, UnsupportedAspectError

    api = request.app.state.api
    if (body.text is None) == (body.texts is None):
        raise ApiError(400, "invalid_request", "give exactly one of 'text' or 'texts'")
    texts = [body.text] if body.text is not None else list(body.texts or [])
    if not texts:
        raise ApiError(400, "empty_batch", "'texts' is empty")
    if len(texts) > api.max_batch:
        raise ApiError(413, "batch_too_large", f"{len(texts)} texts; at most {api.max_batch}")
    for i, text in enumerate(texts):
        if not text.strip():
            raise ApiError(400, "empty_text", f"text {i} is empty")
        if len(text) > api.max_text_chars:
            raise ApiError(
                413,
                "text_too_long",
                f"text {i} has {len(text)} characters; at most {api.max_text_chars}",
            )
    served = {a.name: a for a in request.app.state.aspects}
    names = body.aspects or list(served)
    unknown = [n for n in names if n not in served]
    if unknown:
        raise ApiError(
            400, "unknown_aspect", f"unknown aspects {unknown}; served: {sorted(served)}"
        )
    chosen = [served[n] for n in dict.fromkeys(names)]
    lazy = request.app.state.classifier
    if not lazy.available:
        raise ApiError(503, "classifier_unavailable", "this server has no classifier configured")
    try:
        classifier = await asyncio.to_thread(lazy.get)
        scores = await asyncio.to_thread(classifier.classify, texts, chosen)
    except UnsupportedAspectError as exc:
        raise ApiError(400, "unsupported_aspect", str(exc)) from exc
    except BackpressureError as exc:
        retry = str(int(exc.retry_after or 1))
        raise ApiError(503, "overloaded", str(exc), headers={"Retry-After": retry}) from exc
    except ClassifierError as exc:
        raise ApiError(502, "classifier_error", str(exc)) from exc
    request.app.state.metrics.classified.inc(len(texts))
    results = []
    for per_text in scores:
        entry: dict[str, Any] = {
            "aspects": {
                name: {**s.to_dict(), "confidence": round(s.confidence, 6)}
                for name, s in per_text.items()
            }
        }
        sentiment = per_text.get("sentiment")
        if sentiment is not None:
            entry["score"] = round(
                sentiment.probs.get("positive", 0.0) - sentiment.probs.get("negative", 0.0), 6
            )
        results.append(entry)
    return {"classifier": getattr(classifier, "name", "unknown"), "results": results}

"""The FastAPI application factory: no module-level app, everything passed in.

``create_app(api, store, classifier_factory, aspects)`` wires the routes
(``finfeed.api.routes``: aggregates, series, movers, company search, classification), the
chart page at ``/ui``, bearer-token auth on ``/v1`` when ``api.token`` is set, a request
body size limit, JSON errors ``{"error": {"code", "message"}}``, Prometheus metrics at
``/metrics`` (a registry per app) and ``/healthz``. OpenAPI docs are at ``/docs``.
"""

from __future__ import annotations

import contextlib
import hmac
import threading
import time
from collections.abc import AsyncIterator, Callable
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

from finfeed.api.errors import error_body, install_error_handlers
from finfeed.settings import ApiSettings
from models.base import Classifier
from pipeline.aspects import Aspect
from workers.aggregate_store import AggregateStore

OPEN_PATHS = ("/healthz", "/metrics", "/docs", "/openapi.json", "/ui", "/")


class ApiMetrics:
    """The API's Prometheus metrics, on a registry owned by one app."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "finfeed_api_requests",
            "HTTP requests by route template, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "finfeed_api_request_seconds",
            "HTTP request latency by route template",
            ["route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.classified = Counter(
            "finfeed_api_classified_texts", "Texts classified by POST /v1/classify",
            registry=self.registry,
        )  # fmt: skip


class LazyClassifier:
    """Builds the classifier from its factory once, on first use (thread-safe)."""

    def __init__(self, factory: Callable[[], Classifier] | None) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._classifier: Classifier | None = None

    @property
    def available(self) -> bool:
        return self._factory is not None

    def get(self) -> Classifier:
        if self._classifier is None:
            with self._lock:
                if self._classifier is None:
                    if self._factory is None:
                        raise RuntimeError("no classifier configured")
                    self._classifier = self._factory()
        return self._classifier

    def close(self) -> None:
        if self._classifier is not None:
            self._classifier.close()
            self._classifier = None


class BodyLimit:
    """ASGI middleware: refuse request bodies over ``max_bytes`` with 413 (streamed count)."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await self._refuse(send)
                return
        seen = 0

        async def limited() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge()
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._refuse(send)

    async def _refuse(self, send: Any) -> None:
        response = JSONResponse(
            error_body("payload_too_large", f"request body over {self.max_bytes} bytes"),
            status_code=413,
        )
        await response({"type": "http"}, _empty_receive, send)


class _TooLarge(Exception):
    pass


async def _empty_receive() -> dict[str, Any]:
    return {"type": "http.disconnect"}


def _page() -> str:
    return resources.files("finfeed.api").joinpath("static/index.html").read_text("utf-8")


def create_app(
    api: ApiSettings,
    store: AggregateStore,
    classifier_factory: Callable[[], Classifier] | None,
    aspects: tuple[Aspect, ...],
    *,
    registry: Any = None,
) -> FastAPI:
    """Build the API over one aggregate store and (optionally) one classifier factory.

    ``registry`` is a ``pipeline.companies.CompanyRegistry`` for company search and
    symbol validation; None loads the shipped registry on first use (and falls back to
    the symbols present in the store if it cannot be loaded).
    """
    from finfeed.api import routes

    lazy = LazyClassifier(classifier_factory)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        lazy.close()

    app = FastAPI(
        lifespan=lifespan,
        title="finfeed",
        version="0.1.0",
        description="Point-in-time, per-company aspect sentiment aggregates and a "
        "classification endpoint. Scores are P(positive) - P(negative) in [-1, 1].",
    )
    metrics = ApiMetrics()
    app.state.api = api
    app.state.store = store
    app.state.aspects = aspects
    app.state.classifier = lazy
    app.state.metrics = metrics
    app.state.companies = routes.CompanyDirectory(store, registry)
    install_error_handlers(app)
    token = api.token.get_secret_value().encode() if api.token is not None else None
    page = _page()

    @app.middleware("http")
    async def _auth_and_metrics(request: Request, call_next: Any) -> Response:
        started = time.perf_counter()
        path = request.url.path
        if token is not None and path.startswith("/v1/"):
            header = request.headers.get("authorization", "")
            scheme, _, given = header.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), token):
                response: Response = JSONResponse(
                    error_body("unauthorized", "missing or wrong bearer token"),
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
                metrics.requests.labels("auth", request.method, "401").inc()
                return response
        response = await call_next(request)
        route = request.scope.get("route")
        template = getattr(route, "path", "unmatched")
        metrics.requests.labels(template, request.method, str(response.status_code)).inc()
        metrics.latency.labels(template).observe(time.perf_counter() - started)
        return response

    app.add_middleware(BodyLimit, max_bytes=api.max_batch * api.max_text_chars * 4 + 65_536)

    @app.get("/healthz", tags=["ops"], summary="Liveness and Redis reachability")
    def healthz() -> JSONResponse:
        try:
            store.client.ping()
        except Exception as exc:
            return JSONResponse(error_body("redis_unreachable", f"Redis: {exc}"), status_code=503)
        return JSONResponse({"status": "ok"})

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics")
    def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/ui")

    @app.get("/ui", include_in_schema=False)
    def ui() -> HTMLResponse:
        return HTMLResponse(page)

    app.include_router(routes.router)
    return app

"""Prometheus metrics of one worker, and its ``/healthz`` + ``/metrics`` HTTP endpoint.

Each worker owns a ``CollectorRegistry`` (no process-wide singletons), so several workers
in one process (tests, the demo) keep separate counts. The endpoint is a small asyncio
HTTP/1.1 server on the worker's own event loop: no thread, no web framework.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from finfeed import serialization

log = logging.getLogger(__name__)

_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class WorkerMetrics:
    """The counters, histograms and gauges one worker updates."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.consumed = Counter(
            "finfeed_worker_consumed", "Raw messages consumed", ["topic"], registry=r
        )
        self.enriched = Counter(
            "finfeed_worker_enriched", "Unique snippets scored and published", registry=r
        )
        self.timeseries_points = Counter(
            "finfeed_worker_timeseries_points",
            "Point-in-time (snippet, company) records published",
            registry=r,
        )
        self.duplicates = Counter(
            "finfeed_worker_duplicates", "Duplicates found (not scored)", ["kind"], registry=r
        )
        self.dead_lettered = Counter(
            "finfeed_worker_dead_lettered",
            "Inputs sent to the dead-letter topic",
            ["reason"],
            registry=r,
        )
        self.batch_size = Histogram(
            "finfeed_worker_batch_size",
            "Snippets per classifier call",
            buckets=_BATCH_BUCKETS,
            registry=r,
        )
        self.classifier_latency = Histogram(
            "finfeed_worker_classifier_seconds",
            "Wall time of one classifier call",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.classifier_retries = Counter(
            "finfeed_worker_classifier_retries",
            "Classifier calls retried after backpressure or failure",
            ["cause"],
            registry=r,
        )
        self.commits = Counter(
            "finfeed_worker_offset_commits", "Offset commits to the broker", registry=r
        )
        self.consumer_lag = Gauge(
            "finfeed_worker_consumer_lag",
            "High watermark minus the next offset to fetch",
            ["topic", "partition"],
            registry=r,
        )
        self.inflight = Gauge(
            "finfeed_worker_inflight", "Fetched messages not yet committed-safe", registry=r
        )
        self.paused = Gauge(
            "finfeed_worker_paused", "1 while consumption is paused (backpressure)", registry=r
        )
        self.assigned_partitions = Gauge(
            "finfeed_worker_assigned_partitions", "Partitions assigned to this worker", registry=r
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


HealthCheck = Callable[[], tuple[bool, dict[str, Any]]]


class HealthServer:
    """Serves ``GET /healthz`` (200/503 JSON from ``health``) and ``GET /metrics``."""

    def __init__(
        self, metrics: WorkerMetrics, health: HealthCheck, host: str = "0.0.0.0", port: int = 0
    ) -> None:
        self._metrics = metrics
        self._health = health
        self._host = host
        self._port = port
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            return self._port
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> HealthServer:
        self._server = await asyncio.start_server(self._handle, self._host, self._port)
        log.info("health and metrics on http://%s:%d/healthz", self._host, self.port)
        return self

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2.0)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(5.0):
                request = await reader.readline()
                while True:  # headers are ignored; read up to the blank line
                    line = await reader.readline()
                    if line in (b"\r\n", b"\n", b""):
                        break
            parts = request.decode("latin-1").split()
            method, path = (parts[0], parts[1]) if len(parts) >= 2 else ("", "")
            status, ctype, body = self._route(method, path.split("?", 1)[0])
            head = (
                f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode("latin-1") + (b"" if method == "HEAD" else body))
            await writer.drain()
        except (TimeoutError, ConnectionError, UnicodeDecodeError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _route(self, method: str, path: str) -> tuple[str, str, bytes]:
        if method not in ("GET", "HEAD"):
            return "405 Method Not Allowed", "text/plain", b"method not allowed\n"
        if path == "/metrics":
            return "200 OK", CONTENT_TYPE_LATEST, self._metrics.exposition()
        if path in ("/healthz", "/health", "/"):
            ok, detail = self._health()
            body = serialization.dumps({"status": "ok" if ok else "unhealthy", **detail})
            status = "200 OK" if ok else "503 Service Unavailable"
            return status, "application/json", body + b"\n"
        return "404 Not Found", "text/plain", b"not found\n"

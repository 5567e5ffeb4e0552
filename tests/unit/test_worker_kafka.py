"""Kafka and Redis connection settings: SASL, TLS, and clear errors for bad configs."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

import pytest

from finfeed.settings import KafkaSettings, RedisSettings
from workers.errors import ServiceError
from workers.kafka import client_kwargs, confluent_config
from workers.redis_conn import _kwargs, _safe


def test_plaintext_is_the_default() -> None:
    kw = client_kwargs(KafkaSettings(bootstrap="k1:9092,k2:9092", client_id="c"))
    assert kw == {
        "bootstrap_servers": "k1:9092,k2:9092",
        "client_id": "c",
        "security_protocol": "PLAINTEXT",
    }


def test_sasl_scram_passes_credentials() -> None:
    kafka = KafkaSettings(
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="svc",
        sasl_password="s3cret",
    )
    kw = client_kwargs(kafka)
    assert kw["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (kw["sasl_plain_username"], kw["sasl_plain_password"]) == ("svc", "s3cret")
    conf = confluent_config(kafka)
    assert (
        conf["sasl.mechanisms"] == "SCRAM-SHA-512" and conf["security.protocol"] == "sasl_plaintext"
    )


def test_sasl_without_credentials_fails_clearly() -> None:
    with pytest.raises(ServiceError, match="SASL_USERNAME"):
        client_kwargs(KafkaSettings(security_protocol="SASL_SSL"))


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=finfeed-test", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def test_ssl_context_from_ca_cert_and_key(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    kw = client_kwargs(
        KafkaSettings(security_protocol="SSL", ssl_cafile=cert, ssl_certfile=cert, ssl_keyfile=key)
    )
    ctx = kw["ssl_context"]
    assert isinstance(ctx, ssl.SSLContext) and ctx.verify_mode == ssl.CERT_REQUIRED
    assert ctx.cert_store_stats()["x509_ca"] >= 1


def test_ssl_missing_file_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(ServiceError, match="CA file not found"):
        client_kwargs(KafkaSettings(security_protocol="SSL", ssl_cafile=tmp_path / "nope.pem"))


def test_redis_password_and_tls(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    kw = _kwargs(RedisSettings(url="rediss://redis:6380/0", password="pw", ssl_ca_certs=ca))
    assert kw["password"] == "pw" and kw["ssl_ca_certs"] == str(ca)
    with pytest.raises(ServiceError, match="rediss://"):
        _kwargs(RedisSettings(url="redis://redis:6379/0", ssl_ca_certs=ca))
    with pytest.raises(ServiceError, match="no Redis URL"):
        _kwargs(RedisSettings(url=None))
    assert _safe("redis://user:pw@host:6379/0") == "redis://***@host:6379/0"

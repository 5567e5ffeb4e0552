"""Kafka client configuration shared by every aiokafka client finfeed opens.

``client_kwargs`` turns one ``KafkaSettings`` into the keyword arguments common to
``AIOKafkaConsumer``, ``AIOKafkaProducer`` and ``AIOKafkaAdminClient``: bootstrap servers,
client id, security protocol, SASL (PLAIN, SCRAM-SHA-256/512) and a TLS context built from
CA / client certificate / key files. ``ensure_topics`` creates finfeed's topics when they
are missing (idempotent; brokers that forbid topic creation keep what an operator made).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from finfeed.settings import KafkaSettings
from workers.errors import ServiceError

log = logging.getLogger(__name__)

DEFAULT_PARTITIONS = 6


def _ssl_context(kafka: KafkaSettings) -> Any:
    from aiokafka.helpers import create_ssl_context

    for label, path in (
        ("CA file", kafka.ssl_cafile),
        ("certificate file", kafka.ssl_certfile),
        ("key file", kafka.ssl_keyfile),
    ):
        if path is not None and not path.is_file():
            raise ServiceError(f"Kafka TLS {label} not found: {path}")
    if (kafka.ssl_certfile is None) != (kafka.ssl_keyfile is None):
        raise ServiceError("Kafka TLS client authentication needs both a certificate and a key")
    try:
        return create_ssl_context(
            cafile=str(kafka.ssl_cafile) if kafka.ssl_cafile else None,
            certfile=str(kafka.ssl_certfile) if kafka.ssl_certfile else None,
            keyfile=str(kafka.ssl_keyfile) if kafka.ssl_keyfile else None,
        )
    except Exception as exc:  # ssl.SSLError, OSError: unreadable or mismatched files
        raise ServiceError(f"cannot build the Kafka TLS context: {exc}") from exc


def client_kwargs(kafka: KafkaSettings) -> dict[str, Any]:
    """Connection keyword arguments for any aiokafka client, from one settings object."""
    kw: dict[str, Any] = {
        "bootstrap_servers": kafka.bootstrap,
        "client_id": kafka.client_id,
        "security_protocol": kafka.security_protocol,
    }
    if kafka.security_protocol in ("SSL", "SASL_SSL"):
        kw["ssl_context"] = _ssl_context(kafka)
    if kafka.security_protocol.startswith("SASL"):
        mechanism = kafka.sasl_mechanism or "PLAIN"
        if not kafka.sasl_username or kafka.sasl_password is None:
            raise ServiceError(
                f"{kafka.security_protocol} needs FINFEED_KAFKA_SASL_USERNAME and "
                "FINFEED_KAFKA_SASL_PASSWORD"
            )
        kw["sasl_mechanism"] = mechanism
        kw["sasl_plain_username"] = kafka.sasl_username
        kw["sasl_plain_password"] = kafka.sasl_password.get_secret_value()
    return kw


def confluent_config(kafka: KafkaSettings) -> dict[str, Any]:
    """The same connection as a librdkafka (confluent-kafka) configuration dictionary."""
    conf: dict[str, Any] = {
        "bootstrap.servers": kafka.bootstrap,
        "client.id": kafka.client_id,
        "security.protocol": kafka.security_protocol.lower(),
    }
    if kafka.ssl_cafile:
        conf["ssl.ca.location"] = str(kafka.ssl_cafile)
    if kafka.ssl_certfile:
        conf["ssl.certificate.location"] = str(kafka.ssl_certfile)
    if kafka.ssl_keyfile:
        conf["ssl.key.location"] = str(kafka.ssl_keyfile)
    if kafka.security_protocol.startswith("SASL"):
        conf["sasl.mechanisms"] = kafka.sasl_mechanism or "PLAIN"
        conf["sasl.username"] = kafka.sasl_username or ""
        conf["sasl.password"] = (
            kafka.sasl_password.get_secret_value() if kafka.sasl_password else ""
        )
    return conf


def output_topics(kafka: KafkaSettings) -> tuple[str, ...]:
    return (
        kafka.topic_enriched,
        kafka.topic_timeseries,
        kafka.topic_duplicates,
        kafka.topic_deadletter,
    )


def all_topics(kafka: KafkaSettings) -> tuple[str, ...]:
    return (kafka.topic_raw, *output_topics(kafka), kafka.topic_aggregates)


async def ensure_topics(
    kafka: KafkaSettings,
    partitions: int = DEFAULT_PARTITIONS,
    topics: Iterable[str] | None = None,
    replication_factor: int = 1,
) -> list[str]:
    """Create the missing topics (all of finfeed's by default); returns those created.

    Existing topics are left as they are (their partition count is the operator's choice).
    """
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import KafkaError, TopicAlreadyExistsError

    wanted = list(dict.fromkeys(topics if topics is not None else all_topics(kafka)))
    admin = AIOKafkaAdminClient(**client_kwargs(kafka))
    try:
        await admin.start()
    except KafkaError as exc:
        raise ServiceError(f"cannot reach Kafka at {kafka.bootstrap}: {exc}") from exc
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in wanted if t not in existing]
        if not missing:
            return []
        new = [
            NewTopic(t, num_partitions=partitions, replication_factor=replication_factor)
            for t in missing
        ]
        try:
            resp = await admin.create_topics(new)
        except TopicAlreadyExistsError:
            return []
        except KafkaError as exc:
            raise ServiceError(f"cannot create topics {missing}: {exc}") from exc
        created: list[str] = []
        for item in getattr(resp, "topic_errors", []) or []:
            name, code = item[0], item[1]
            if code == 0:
                created.append(name)
            elif code != TopicAlreadyExistsError.errno:
                raise ServiceError(f"cannot create topic {name}: error code {code}")
        log.info("created topics %s (%d partitions)", created or missing, partitions)
        return created or missing
    finally:
        await admin.close()

"""Shared option helpers: every option shows the environment variable that sets it."""

from __future__ import annotations

import argparse
import os
from typing import Any


def add_option(
    parser: argparse.ArgumentParser,
    *flags: str,
    env: str,
    help: str,
    read_env: bool = False,
    **kw: Any,
) -> None:
    """``add_argument`` whose help names ``env``.

    By default the default stays None so a settings class reads ``env`` and fills it. Options
    that belong to no settings class pass ``read_env=True``: the variable, when set, becomes
    the default (converted by ``type`` like a typed flag), else ``default`` applies.
    """
    kw.setdefault("default", None)
    if read_env:
        kw["default"] = os.environ.get(env, kw["default"])
    parser.add_argument(*flags, help=f"{help} [env: {env}]", **kw)


def overrides(args: argparse.Namespace, **mapping: str) -> dict[str, Any]:
    """Settings keyword arguments from the flags the user gave (``field=attr``)."""
    out: dict[str, Any] = {}
    for field, attr in mapping.items():
        value = getattr(args, attr, None)
        if value is not None:
            out[field] = value
    return out


def add_classifier_options(parser: argparse.ArgumentParser) -> None:
    """--backend, --aspects, --aspects-file, --batch-size, --model-path, --sglang-url."""
    add_option(
        parser,
        "--backend",
        env="FINFEED_BACKEND",
        choices=["embedded", "transformers", "sglang"],
        help="classifier backend (default embedded)",
    )
    add_option(
        parser,
        "--aspects",
        env="FINFEED_ASPECTS",
        help="comma-separated aspects (default sentiment,forward_looking,prediction)",
    )
    add_option(
        parser,
        "--aspects-file",
        env="FINFEED_ASPECTS_FILE",
        help="YAML/JSON file declaring more aspects",
    )
    add_option(
        parser,
        "--batch-size",
        env="FINFEED_BATCH_SIZE",
        type=int,
        help="texts per classifier call (default 64)",
    )
    add_option(
        parser,
        "--embedded-model",
        env="FINFEED_EMBEDDED_MODEL_DIR",
        help="embedded backend: artifact directory (default the shipped "
        "models/artifacts/embedded-v1)",
    )
    add_option(
        parser,
        "--embedded-runtime",
        env="FINFEED_EMBEDDED_RUNTIME",
        choices=["int8", "fp32"],
        help="embedded backend: int8 ONNX Runtime (default; fastest, probabilities move "
        "slightly with batch-mates) or fp32 torch (batch-invariant, reproducible rescoring)",
    )
    add_option(
        parser,
        "--model-paths",
        env="FINFEED_MODEL_PATHS",
        help="transformers backend: local model dir, or aspect=dir,aspect=dir",
    )
    add_option(
        parser, "--device", env="FINFEED_DEVICE", help="transformers backend: cpu, cuda, cuda:N"
    )
    add_option(parser, "--sglang-url", env="FINFEED_SGLANG_URL", help="SGLang server URL")
    add_option(
        parser,
        "--sglang-urls",
        env="FINFEED_SGLANG_URLS",
        help="one SGLang server per aspect: aspect=url,aspect=url (others use --sglang-url)",
    )
    add_option(
        parser,
        "--sglang-tokenizer",
        env="FINFEED_SGLANG_TOKENIZER_PATH",
        help="local tokenizer directory, needed by the generate and score modes",
    )
    add_option(
        parser,
        "--sglang-mode",
        env="FINFEED_SGLANG_MODE",
        choices=["chat", "generate", "score"],
        help="SGLang endpoint used for label probabilities (default chat)",
    )


def classifier_settings(args: argparse.Namespace) -> Any:
    from finfeed.settings import ClassifierSettings

    return ClassifierSettings(
        **overrides(
            args,
            backend="backend",
            aspects="aspects",
            aspects_file="aspects_file",
            batch_size="batch_size",
            model_paths="model_paths",
            embedded_model_dir="embedded_model",
            embedded_runtime="embedded_runtime",
            device="device",
            sglang_url="sglang_url",
            sglang_mode="sglang_mode",
            sglang_urls="sglang_urls",
            sglang_tokenizer_path="sglang_tokenizer",
        )
    )


KAFKA_TOPICS = ("raw", "enriched", "timeseries", "duplicates", "deadletter", "aggregates")


def add_kafka_options(
    parser: argparse.ArgumentParser, *, topics: tuple[str, ...] = ("raw",), group: bool = True
) -> None:
    """--bootstrap, --security-protocol, --group-id (when ``group``), --topic-NAME per topic."""
    from finfeed.settings import KafkaSettings

    defaults = KafkaSettings.model_fields
    add_option(
        parser,
        "--bootstrap",
        env="FINFEED_KAFKA_BOOTSTRAP",
        help="Kafka bootstrap servers (default localhost:9092)",
    )
    add_option(
        parser,
        "--security-protocol",
        env="FINFEED_KAFKA_SECURITY_PROTOCOL",
        choices=["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"],
        help="Kafka security protocol (SASL user, password, mechanism and TLS files: "
        "FINFEED_KAFKA_SASL_USERNAME, _SASL_PASSWORD, _SASL_MECHANISM, _SSL_CAFILE, "
        "_SSL_CERTFILE, _SSL_KEYFILE)",
    )
    if group:
        add_option(
            parser,
            "--group-id",
            env="FINFEED_KAFKA_GROUP_ID",
            help=f"consumer group (default {defaults['group_id'].default})",
        )
    for name in topics:
        field = f"topic_{name}"
        add_option(
            parser,
            f"--topic-{name}",
            env=f"FINFEED_KAFKA_TOPIC_{name.upper()}",
            help=f"{name} topic (default {defaults[field].default})",
        )


def kafka_settings(args: argparse.Namespace) -> Any:
    """``KafkaSettings`` from the environment and whichever Kafka flags the command has."""
    from finfeed.settings import KafkaSettings

    fields = {"bootstrap": "bootstrap", "group_id": "group_id"}
    fields["security_protocol"] = "security_protocol"
    fields.update({f"topic_{name}": f"topic_{name}" for name in KAFKA_TOPICS})
    return KafkaSettings(**overrides(args, **fields))


def add_redis_options(parser: argparse.ArgumentParser) -> None:
    """--redis-url, --redis-embedded-path, --key-prefix."""
    add_option(
        parser,
        "--redis-url",
        env="FINFEED_REDIS_URL",
        help="Redis URL, redis:// or rediss:// (default: an embedded Redis; password and CA "
        "file: FINFEED_REDIS_PASSWORD, FINFEED_REDIS_SSL_CA_CERTS)",
    )
    add_option(
        parser,
        "--redis-embedded-path",
        env="FINFEED_REDIS_EMBEDDED_PATH",
        help="embedded Redis database file, used when no Redis URL is set",
    )
    add_option(
        parser,
        "--key-prefix",
        env="FINFEED_REDIS_KEY_PREFIX",
        help="Redis key prefix (default finfeed:)",
    )


def redis_settings(args: argparse.Namespace) -> Any:
    from finfeed.settings import RedisSettings

    return RedisSettings(
        **overrides(
            args, url="redis_url", embedded_path="redis_embedded_path", key_prefix="key_prefix"
        )
    )

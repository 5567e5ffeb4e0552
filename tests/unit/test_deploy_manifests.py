"""The k8s manifests stay in step with the code: commands exist, settings are real."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from finfeed.cli import build_parser
from finfeed.settings import (
    AggregateSettings,
    ApiSettings,
    ClassifierSettings,
    KafkaSettings,
    RedisSettings,
    WorkerSettings,
)

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"


def _documents() -> list[dict]:
    docs: list[dict] = []
    for path in sorted(K8S.glob("*.yaml")):
        docs.extend(d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d)
    return docs


def _known_env_vars() -> set[str]:
    names: set[str] = set()
    for cls in (
        ClassifierSettings,
        KafkaSettings,
        RedisSettings,
        WorkerSettings,
        AggregateSettings,
        ApiSettings,
    ):
        prefix = cls.model_config.get("env_prefix", "")
        names |= {f"{prefix}{field}".upper() for field in cls.model_fields}
    return names


def _containers(doc: dict) -> list[dict]:
    spec = doc.get("spec", {})
    pod = spec.get("template", {}).get("spec") or spec.get("jobTemplate", {}).get("spec", {}).get(
        "template", {}
    ).get("spec", {})
    return list(pod.get("containers", []))


def test_every_finfeed_container_runs_a_real_subcommand() -> None:
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    seen = 0
    for doc in _documents():
        for container in _containers(doc):
            if "finfeed" not in container.get("image", ""):
                continue
            seen += 1
            args = container["args"]
            assert args[0] in commands, f"{doc['metadata']['name']}: unknown command {args[0]!r}"
            # and the flags parse
            parser.parse_args(args)
    assert seen >= 5


def test_every_configured_variable_is_a_setting() -> None:
    known = _known_env_vars()
    configured: set[str] = set()
    for doc in _documents():
        if doc["kind"] in {"ConfigMap", "Secret"}:
            configured |= set((doc.get("data") or {}) | (doc.get("stringData") or {}))
    assert configured, "no ConfigMap/Secret found"
    unknown = sorted(v for v in configured if v.startswith("FINFEED_") and v not in known)
    assert not unknown, f"variables no settings class reads: {unknown}"


@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet", "Service", "Job"])
def test_manifests_cover_each_component(kind: str) -> None:
    assert any(d["kind"] == kind for d in _documents())

"""Build the configured classifier backend and resolve the aspects it will score.

Entry points (worker, CLI, API) call ``resolve_aspects`` and ``build_classifier`` once with the
process's frozen ``ClassifierSettings``; each backend's heavy imports happen here, lazily, so a
process only pays for the backend it uses.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.aspects import Aspect, load_aspects, parse_aspect_names
from pipeline.errors import ConfigError

if TYPE_CHECKING:
    from finfeed.settings import ClassifierSettings
    from models.base import Classifier


def parse_mapping(value: str | None, *, what: str) -> dict[str, str]:
    """``"a=x,b=y"`` -> ``{"a": "x", "b": "y"}``; a bare value maps ``"*"``."""
    out: dict[str, str] = {}
    if not value:
        return out
    for part in value.split(","):
        part = part.strip()
        if not part:
            continue
        if "=" in part:
            key, _, val = part.partition("=")
            key, val = key.strip(), val.strip()
            if not key or not val:
                raise ConfigError(f"{what}: malformed entry {part!r} (expected aspect=value)")
            out[key] = val
        else:
            if "*" in out:
                raise ConfigError(f"{what}: more than one default value in {value!r}")
            out["*"] = part
    return out


def resolve_aspects(settings: ClassifierSettings) -> tuple[Aspect, ...]:
    """Built-in aspects plus ``aspects_file``, selected by ``settings.aspects`` (in order)."""
    registry = load_aspects(settings.aspects_file)
    names = parse_aspect_names(settings.aspects)
    aspects = registry.select(names)
    if len({a.name for a in aspects}) != len(aspects):
        raise ConfigError(f"aspect selected twice in {settings.aspects!r}")
    return aspects


def _model_paths(settings: ClassifierSettings, aspects: tuple[Aspect, ...]) -> dict[str, Path]:
    mapping = parse_mapping(settings.model_paths, what="model_paths")
    paths: dict[str, Path] = {}
    for aspect in aspects:
        raw = mapping.get(aspect.name) or mapping.get("*")
        if raw is None and aspect.model and Path(aspect.model).expanduser().is_dir():
            raw = aspect.model  # an aspect file may point at a local directory
        if raw is None:
            raise ConfigError(
                f"transformers backend: no model directory for aspect {aspect.name!r}; set "
                f"--model-paths / FINFEED_MODEL_PATHS to DIR or {aspect.name}=DIR"
            )
        paths[aspect.name] = Path(raw).expanduser()
    return paths


def _build_sglang(settings: ClassifierSettings, aspects: tuple[Aspect, ...]) -> Classifier:
    """One client per SGLang server; several servers are routed by aspect."""
    from models.routed import RoutedClassifier
    from models.sglang_client import SGLangClassifier

    served = parse_mapping(settings.sglang_models, what="sglang_models")
    urls = parse_mapping(settings.sglang_urls, what="sglang_urls")
    tokenizer = settings.sglang_tokenizer_path
    clients: dict[str, SGLangClassifier] = {}
    routes: dict[str, Classifier] = {}
    for aspect in aspects:
        url = urls.get(aspect.name) or urls.get("*") or settings.sglang_url
        if url not in clients:
            clients[url] = SGLangClassifier(
                url,
                mode=settings.sglang_mode,
                models=served or None,
                api_key=settings.sglang_api_key.get_secret_value()
                if settings.sglang_api_key
                else None,
                timeout_s=settings.timeout_s,
                max_retries=settings.max_retries,
                max_concurrency=settings.max_concurrency,
                tokenizer_path=Path(tokenizer) if tokenizer else None,
            )
        routes[aspect.name] = clients[url]
    if len(clients) == 1:
        return next(iter(clients.values()))
    return RoutedClassifier(routes)


def build_classifier(
    settings: ClassifierSettings, aspects: tuple[Aspect, ...] | None = None
) -> Classifier:
    """The backend ``settings.backend`` names, ready to score ``aspects`` (default: resolved).

    Raises ``ConfigError`` when the settings cannot serve the aspects (a missing model
    directory, an aspect the backend does not support); backends raise their own
    ``ModelLoadError`` for unreadable weights.
    """
    aspects = resolve_aspects(settings) if aspects is None else aspects
    classifier: Classifier
    if settings.backend == "embedded":
        from models.embedded import EmbeddedClassifier

        classifier = EmbeddedClassifier(
            settings.embedded_model_dir,
            use_onnx=settings.embedded_runtime == "int8",
            threads=settings.threads,
            batch_size=settings.batch_size,
        )
    elif settings.backend == "transformers":
        from models.transformers_backend import TransformersClassifier

        classifier = TransformersClassifier(
            _model_paths(settings, aspects),
            device=settings.device,
            dtype=settings.dtype,
            batch_size=settings.batch_size,
            max_length=settings.max_length,
            aspects=aspects,
        )
    elif settings.backend == "sglang":
        classifier = _build_sglang(settings, aspects)
    else:  # pragma: no cover - settings validate the literal
        raise ConfigError(f"unknown backend {settings.backend!r}")
    unsupported = [a.name for a in aspects if not classifier.supports(a)]
    if unsupported:
        classifier.close()
        raise ConfigError(
            f"the {settings.backend} backend cannot score {unsupported}; choose other aspects "
            "(--aspects) or configure a model for them"
        )
    return classifier

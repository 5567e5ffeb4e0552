"""Aspects: what finfeed scores, declared as data.

An aspect names a question asked of every snippet ("what is the financial sentiment?",
"is it forward looking?"), the closed set of labels that answer it, the system prompt that
asks it of a label-token classifier, the string each label is emitted as by such a model,
and how a label distribution folds into one signed score for aggregation.

Built-in aspects follow the public NOSIBLE checkpoints, so a user holding those weights
can point finfeed at them unchanged. Users declare more aspects in a YAML/JSON file
(see ``load_aspects``) without writing code.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Aspect:
    """One scored question with a closed label set.

    ``labels`` are finfeed's canonical names, in a fixed order used everywhere
    (probabilities, heads, confusion matrices). ``model_labels`` maps each canonical
    label to the text a generative classifier emits for it; the first token of each
    must differ so one forward pass decides. ``label_values`` gives each label a signed
    value; an aspect's score is the probability-weighted sum (for sentiment that is
    P(positive) - P(negative)).
    """

    name: str
    labels: tuple[str, ...]
    system_prompt: str
    model_labels: Mapping[str, str]
    label_values: Mapping[str, float]
    description: str = ""
    model: str | None = None  # backend-specific model reference (path or served name)
    optional: bool = False

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ConfigError(f"aspect name {self.name!r} must be an identifier")
        if len(self.labels) < 2 or len(set(self.labels)) != len(self.labels):
            raise ConfigError(f"aspect {self.name!r} needs at least two distinct labels")
        missing = [lab for lab in self.labels if lab not in self.model_labels]
        if missing:
            raise ConfigError(f"aspect {self.name!r}: no model label for {missing}")
        unknown = set(self.label_values) - set(self.labels)
        if unknown:
            raise ConfigError(f"aspect {self.name!r}: values for unknown labels {sorted(unknown)}")

    def score(self, probs: Mapping[str, float]) -> float:
        """Signed score of a label distribution: sum of P(label) * value(label)."""
        return float(
            sum(probs.get(lab, 0.0) * self.label_values.get(lab, 0.0) for lab in self.labels)
        )

    def label_regex(self) -> str:
        """Regex admitting exactly the model's label strings, for constrained decoding."""
        import re

        return "(" + "|".join(re.escape(self.model_labels[lab]) for lab in self.labels) + ")"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "labels": list(self.labels),
            "system_prompt": self.system_prompt,
            "model_labels": dict(self.model_labels),
            "label_values": dict(self.label_values),
            "description": self.description,
            "model": self.model,
            "optional": self.optional,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Aspect:
        try:
            labels = tuple(str(x) for x in data["labels"])
            model_labels = data.get("model_labels") or {lab: lab for lab in labels}
            return cls(
                name=str(data["name"]),
                labels=labels,
                system_prompt=str(data["system_prompt"]),
                model_labels={str(k): str(v) for k, v in model_labels.items()},
                label_values={
                    str(k): float(v) for k, v in (data.get("label_values") or {}).items()
                },
                description=str(data.get("description", "")),
                model=data.get("model"),
                optional=bool(data.get("optional", False)),
            )
        except KeyError as exc:
            raise ConfigError(
                f"aspect declaration misses field {exc.args[0]!r}: {dict(data)}"
            ) from exc


SENTIMENT = Aspect(
    name="sentiment",
    labels=("negative", "neutral", "positive"),
    system_prompt="Classify the financial sentiment as positive, neutral, or negative.",
    model_labels={"negative": "negative", "neutral": "neutral", "positive": "positive"},
    label_values={"negative": -1.0, "neutral": 0.0, "positive": 1.0},
    description="Financial sentiment: material impact on the company (price, revenue, costs, guidance, regulation, reputation).",
    model="NOSIBLE/financial-sentiment-v1.1-base",
)

FORWARD_LOOKING = Aspect(
    name="forward_looking",
    labels=("no", "yes"),
    system_prompt="Classify whether it is forward looking or not forward looking.",
    model_labels={"no": "not-forward-looking", "yes": "forward-looking"},
    label_values={"no": 0.0, "yes": 1.0},
    description="Does the snippet talk about the future (plans, guidance, expectations, outlook)?",
    model="NOSIBLE/forward-looking-v1.1-base",
)

PREDICTION = Aspect(
    name="prediction",
    labels=("no", "yes"),
    system_prompt="Classify whether it is a prediction or not a prediction.",
    model_labels={"no": "not-prediction", "yes": "prediction"},
    label_values={"no": 0.0, "yes": 1.0},
    description="Does the snippet contain a prediction, estimate or forecast of a measurable outcome?",
    model="NOSIBLE/prediction-v1.1-base",
)

FINE_SENTIMENT_LABELS = (
    "strong negative",
    "moderately negative",
    "mildly negative",
    "neutral",
    "mildly positive",
    "moderately positive",
    "strong positive",
)

FINE_SENTIMENT = Aspect(
    name="fine_sentiment",
    labels=tuple(lab.replace(" ", "_") for lab in FINE_SENTIMENT_LABELS),
    # A label-token classifier decides on the first token of each label, and the scale's
    # names share first words ("strong negative" / "strong positive"), so the model
    # answers with the level's digit: 1 (strong negative) ... 7 (strong positive).
    system_prompt=(
        "Rate the financial sentiment on a 7-level scale and answer with one digit: "
        "1 strong negative, 2 moderately negative, 3 mildly negative, 4 neutral, "
        "5 mildly positive, 6 moderately positive, 7 strong positive."
    ),
    model_labels={lab.replace(" ", "_"): str(i) for i, lab in enumerate(FINE_SENTIMENT_LABELS, 1)},
    label_values={
        "strong_negative": -1.0,
        "moderately_negative": -2 / 3,
        "mildly_negative": -1 / 3,
        "neutral": 0.0,
        "mildly_positive": 1 / 3,
        "moderately_positive": 2 / 3,
        "strong_positive": 1.0,
    },
    description="7-level fine-grained sentiment scale (FinGPT / Llama-FinSent-S style).",
    optional=True,
)

BUILTIN_ASPECTS: dict[str, Aspect] = {
    a.name: a for a in (SENTIMENT, FORWARD_LOOKING, PREDICTION, FINE_SENTIMENT)
}
DEFAULT_ASPECT_NAMES: tuple[str, ...] = ("sentiment", "forward_looking", "prediction")


@dataclass(frozen=True, slots=True)
class AspectRegistry:
    """The aspects known to a process: built-ins plus those a config file declares."""

    aspects: Mapping[str, Aspect] = field(default_factory=lambda: dict(BUILTIN_ASPECTS))

    def get(self, name: str) -> Aspect:
        try:
            return self.aspects[name]
        except KeyError as exc:
            known = ", ".join(sorted(self.aspects))
            raise ConfigError(f"unknown aspect {name!r} (known: {known})") from exc

    def select(self, names: Iterable[str] | None) -> tuple[Aspect, ...]:
        """Aspects by name, in the given order; the default set when ``names`` is None."""
        chosen = DEFAULT_ASPECT_NAMES if names is None else tuple(names)
        if not chosen:
            raise ConfigError("no aspect selected")
        return tuple(self.get(n) for n in chosen)

    def names(self) -> Sequence[str]:
        return sorted(self.aspects)


def parse_aspect_names(value: str | None) -> tuple[str, ...] | None:
    """'sentiment,prediction' -> ('sentiment', 'prediction'); empty -> None (defaults)."""
    if not value:
        return None
    return tuple(part.strip() for part in value.split(",") if part.strip())


def load_aspects(path: str | Path | None) -> AspectRegistry:
    """Built-in aspects, extended or overridden by a YAML or JSON file.

    The file holds ``{"aspects": [ {name, labels, system_prompt, model_labels?,
    label_values?, model?, description?}, ... ]}``. A declared aspect with a built-in's
    name replaces it (e.g. to point ``sentiment`` at a fine-tune with other label strings).
    """
    aspects = dict(BUILTIN_ASPECTS)
    if path is None:
        return AspectRegistry(aspects)
    p = Path(path)
    try:
        raw = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read aspect file {p}: {exc}") from exc
    if p.suffix in {".yaml", ".yml"}:
        import yaml

        data = yaml.safe_load(raw)
    else:
        data = json.loads(raw)
    if not isinstance(data, dict) or not isinstance(data.get("aspects"), list):
        raise ConfigError(f"{p}: expected a mapping with an 'aspects' list")
    for item in data["aspects"]:
        if not isinstance(item, dict):
            raise ConfigError(f"{p}: each aspect must be a mapping, got {item!r}")
        aspect = Aspect.from_dict(item)
        aspects[aspect.name] = aspect
    return AspectRegistry(aspects)

"""Scores: what a classifier says about one snippet for one aspect."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.aspects import Aspect


@dataclass(frozen=True, slots=True)
class AspectScore:
    """The label, every label's probability, and which model said so."""

    label: str
    probs: Mapping[str, float]
    model: str
    model_version: str

    @classmethod
    def from_probs(
        cls, aspect: Aspect, probs: Mapping[str, float], model: str, model_version: str
    ) -> AspectScore:
        """Build from a distribution over ``aspect.labels`` (renormalised, argmax label)."""
        total = sum(max(0.0, float(probs.get(lab, 0.0))) for lab in aspect.labels)
        if total <= 0.0:
            norm = {lab: 1.0 / len(aspect.labels) for lab in aspect.labels}
        else:
            norm = {lab: max(0.0, float(probs.get(lab, 0.0))) / total for lab in aspect.labels}
        label = max(aspect.labels, key=lambda lab: norm[lab])
        return cls(label=label, probs=norm, model=model, model_version=model_version)

    @property
    def confidence(self) -> float:
        return float(self.probs[self.label])

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "probs": {k: round(float(v), 6) for k, v in self.probs.items()},
            "model": self.model,
            "model_version": self.model_version,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AspectScore:
        return cls(
            label=str(data["label"]),
            probs={str(k): float(v) for k, v in data["probs"].items()},
            model=str(data.get("model", "")),
            model_version=str(data.get("model_version", "")),
        )


# One snippet's scores, keyed by aspect name.
AspectScores = dict[str, AspectScore]

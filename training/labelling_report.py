"""What a labelling run reports: agreement, abstentions, cost, and the human comparison.

``LabellingReport`` accumulates per-snippet results into the statistics the method checks at
each scale-up (class balance, agreement, per-model abstentions and retries); ``CostReport``
prices the tokens from the responses' ``usage`` fields (the method prices labelling prompts at
a 10:1 input:output ratio; the measured ratio is reported beside it); ``compare_with_human``
scores the majority and every model against hand labels and lists each disagreement with the
models' rationales, which is how the prompt gets fixed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipeline.aspects import Aspect
from training.labelled import canonical_label

if TYPE_CHECKING:
    from training.llm_labelling import LabelledSnippet, Vote

ASSUMED_INPUT_OUTPUT_RATIO = 10.0  # the method's pricing assumption for labelling prompts


@dataclass
class CostReport:
    """Token usage from the responses' ``usage`` fields and its price."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    estimated_requests: int = 0
    price_in_per_m: float = 0.0  # currency per million input tokens
    price_out_per_m: float = 0.0

    def add(self, vote: Vote) -> None:
        if vote.input_tokens or vote.output_tokens:
            self.requests += 1
            self.input_tokens += vote.input_tokens
            self.output_tokens += vote.output_tokens
            self.estimated_requests += int(vote.usage_estimated)

    @property
    def cost(self) -> float:
        return (
            self.input_tokens * self.price_in_per_m + self.output_tokens * self.price_out_per_m
        ) / 1e6

    def to_dict(self, n_snippets: int) -> dict[str, Any]:
        ratio = self.input_tokens / self.output_tokens if self.output_tokens else None
        per_snippet = self.cost / n_snippets if n_snippets else 0.0
        blended = (ASSUMED_INPUT_OUTPUT_RATIO * self.price_in_per_m + self.price_out_per_m) / (
            ASSUMED_INPUT_OUTPUT_RATIO + 1
        )
        return {
            "requests": self.requests,
            "requests_with_estimated_usage": self.estimated_requests,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "measured_input_output_ratio": round(ratio, 2) if ratio else None,
            "assumed_input_output_ratio": ASSUMED_INPUT_OUTPUT_RATIO,
            "blended_price_per_m_tokens_at_10_to_1": round(blended, 6),
            "cost": round(self.cost, 6),
            "cost_per_snippet": round(per_snippet, 8),
            "cost_per_100k_snippets": round(per_snippet * 100_000, 2),
        }


@dataclass
class LabellingReport:
    """Agreement statistics, abstentions, cost and (optionally) the human comparison."""

    aspect: str
    models: tuple[str, ...]
    n: int = 0
    abstained: int = 0
    ties: int = 0
    unanimous: int = 0
    agreement_sum: float = 0.0
    label_counts: Counter[str] = field(default_factory=Counter)
    model_abstentions: Counter[str] = field(default_factory=Counter)
    model_errors: Counter[str] = field(default_factory=Counter)
    model_retries: Counter[str] = field(default_factory=Counter)
    pairwise_with_majority: Counter[str] = field(default_factory=Counter)
    cost: CostReport = field(default_factory=CostReport)
    human: dict[str, Any] | None = None
    seconds: float = 0.0

    def add(self, item: LabelledSnippet) -> None:
        self.n += 1
        m = item.majority
        if m.label is None:
            self.abstained += 1
        else:
            self.label_counts[m.label] += 1
        self.ties += int(m.tie)
        self.agreement_sum += m.agreement
        self.unanimous += int(m.agreement == 1.0)
        for v in item.votes:
            self.cost.add(v)
            if v.label is None:
                self.model_abstentions[v.model] += 1
            if v.error:
                self.model_errors[v.model] += 1
            self.model_retries[v.model] += v.attempts - 1
            if m.label is not None and v.label == m.label:
                self.pairwise_with_majority[v.model] += 1

    def to_dict(self) -> dict[str, Any]:
        labelled = self.n - self.abstained
        return {
            "aspect": self.aspect,
            "models": list(self.models),
            "snippets": self.n,
            "labelled": labelled,
            "abstained": self.abstained,
            "ties": self.ties,
            "mean_agreement": round(self.agreement_sum / self.n, 4) if self.n else 0.0,
            "unanimous_share": round(self.unanimous / self.n, 4) if self.n else 0.0,
            "class_balance": dict(sorted(self.label_counts.items())),
            "per_model": {
                m: {
                    "abstentions": self.model_abstentions[m],
                    "errors": self.model_errors[m],
                    "retries": self.model_retries[m],
                    "agrees_with_majority": (
                        round(self.pairwise_with_majority[m] / labelled, 4) if labelled else 0.0
                    ),
                }
                for m in self.models
            },
            "cost": self.cost.to_dict(self.n),
            "human": self.human,
            "seconds": round(self.seconds, 2),
        }


def compare_with_human(
    items: Sequence[LabelledSnippet], aspect: Aspect, human_field: str, max_listed: int = 200
) -> dict[str, Any]:
    """Majority (and each model) against human labels; disagreements list every rationale."""
    from training.metrics import evaluate

    pairs: list[tuple[str, str]] = []
    per_model: dict[str, list[tuple[str, str | None]]] = {}
    disagreements: list[dict[str, Any]] = []
    for item in items:
        human = canonical_label(aspect, item.row.get(human_field))
        if human is None:
            continue
        for v in item.votes:
            per_model.setdefault(v.model, []).append((human, v.label))
        pred = item.majority.label
        if pred is None:
            continue
        pairs.append((human, pred))
        if pred != human and len(disagreements) < max_listed:
            disagreements.append(
                {
                    "id": item.row.get("id"),
                    "text": item.text,
                    "human": human,
                    "majority": pred,
                    "rationales": {v.model: f"{v.label}: {v.rationale}" for v in item.votes},
                }
            )
    compared = sum(len(v) for v in per_model.values()) // max(1, len(per_model))
    result: dict[str, Any] = {"with_human_label": compared, "compared": len(pairs)}
    if pairs:
        report = evaluate([h for h, _ in pairs], [p for _, p in pairs], aspect.labels)
        result.update(
            accuracy=round(report.accuracy, 4),
            macro_f1=round(report.macro_f1, 4),
            confusion=report.to_dict()["confusion"],
        )
    result["per_model_accuracy"] = {
        m: round(sum(h == p for h, p in rows) / len(rows), 4) for m, rows in per_model.items()
    }
    result["disagreements"] = disagreements
    return result


def format_summary(summary: Mapping[str, Any]) -> str:
    lines = [
        f"aspect {summary['aspect']}: {summary['snippets']} snippets, "
        f"{summary['labelled']} labelled, {summary['abstained']} abstained "
        f"({summary['ties']} ties), mean agreement {summary['mean_agreement']:.3f}, "
        f"unanimous {summary['unanimous_share']:.1%}",
        f"class balance: {summary['class_balance']}",
    ]
    for model, stats in summary["per_model"].items():
        lines.append(f"  {model}: {stats}")
    cost = summary["cost"]
    lines.append(
        f"tokens in/out {cost['input_tokens']}/{cost['output_tokens']} "
        f"(measured ratio {cost['measured_input_output_ratio']}, assumed 10:1), "
        f"cost {cost['cost']} ({cost['cost_per_100k_snippets']} per 100k snippets)"
    )
    human = summary.get("human")
    if human:
        lines.append(
            f"vs human labels: {human['compared']} compared, accuracy {human.get('accuracy')}, "
            f"macro-F1 {human.get('macro_f1')}, {len(human['disagreements'])} disagreements "
            f"(rationales in the report)"
        )
    return "\n".join(lines)

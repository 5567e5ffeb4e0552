"""Classification metrics: accuracy, macro/weighted F1, per-class report, confusion matrix.

Plain Python over label sequences, so the CLI, the trainers and the benchmarks report the
same numbers without pulling scikit-learn into the product.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ClassReport:
    label: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True, slots=True)
class EvalReport:
    labels: tuple[str, ...]
    n: int
    accuracy: float
    macro_f1: float
    weighted_f1: float
    per_class: tuple[ClassReport, ...]
    confusion: tuple[tuple[int, ...], ...]  # rows: true label, columns: predicted label

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "labels": list(self.labels),
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "weighted_f1": self.weighted_f1,
            "per_class": {
                c.label: {
                    "precision": c.precision,
                    "recall": c.recall,
                    "f1": c.f1,
                    "support": c.support,
                }
                for c in self.per_class
            },
            "confusion": {"rows_true_cols_pred": [list(r) for r in self.confusion]},
        }

    def format(self) -> str:
        width = max(12, *(len(lab) + 2 for lab in self.labels))
        lines = [
            f"n={self.n}  accuracy={self.accuracy:.4f}  macro-F1={self.macro_f1:.4f}  "
            f"weighted-F1={self.weighted_f1:.4f}",
            "",
            f"{'label':<{width}}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}",
        ]
        for c in self.per_class:
            lines.append(
                f"{c.label:<{width}}{c.precision:>10.4f}{c.recall:>10.4f}{c.f1:>10.4f}{c.support:>10d}"
            )
        lines += ["", "confusion matrix (rows: true, columns: predicted)"]
        lines.append(" " * width + "".join(f"{lab[:10]:>11}" for lab in self.labels))
        for lab, row in zip(self.labels, self.confusion, strict=True):
            lines.append(f"{lab:<{width}}" + "".join(f"{v:>11d}" for v in row))
        return "\n".join(lines)


def _safe_div(a: float, b: float) -> float:
    return a / b if b else 0.0


def evaluate(
    y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str] | None = None
) -> EvalReport:
    """Compare predicted with true labels. ``labels`` fixes the order (default: sorted union)."""
    if len(y_true) != len(y_pred):
        raise ValueError(f"{len(y_true)} true labels but {len(y_pred)} predictions")
    order = tuple(labels) if labels is not None else tuple(sorted(set(y_true) | set(y_pred)))
    index = {lab: i for i, lab in enumerate(order)}
    unknown = (set(y_true) | set(y_pred)) - set(index)
    if unknown:
        raise ValueError(f"labels outside {order}: {sorted(unknown)}")
    k = len(order)
    matrix = [[0] * k for _ in range(k)]
    for t, p in zip(y_true, y_pred, strict=True):
        matrix[index[t]][index[p]] += 1
    n = len(y_true)
    per_class = []
    for i, lab in enumerate(order):
        tp = matrix[i][i]
        support = sum(matrix[i])
        predicted = sum(matrix[r][i] for r in range(k))
        precision = _safe_div(tp, predicted)
        recall = _safe_div(tp, support)
        f1 = _safe_div(2 * precision * recall, precision + recall)
        per_class.append(ClassReport(lab, precision, recall, f1, support))
    accuracy = _safe_div(sum(matrix[i][i] for i in range(k)), n)
    present = [c for c in per_class if c.support > 0] or per_class
    macro_f1 = _safe_div(sum(c.f1 for c in present), len(present))
    weighted_f1 = _safe_div(sum(c.f1 * c.support for c in per_class), n)
    return EvalReport(
        labels=order,
        n=n,
        accuracy=accuracy,
        macro_f1=macro_f1,
        weighted_f1=weighted_f1,
        per_class=tuple(per_class),
        confusion=tuple(tuple(r) for r in matrix),
    )

"""Evaluation reports shared by the retraining jobs: metrics per model, JSON on disk.

``finfeed eval`` scores a *served* backend on a labelled file; the jobs here evaluate what
they train (linear baselines, the ensemble vote, the SFT label-token classifier) with the
same ``training.metrics.evaluate`` and write the reports the same way: one JSON file holding,
per named model, accuracy, macro/weighted F1, the per-class report and the confusion matrix
(rows true, columns predicted), plus whatever run facts the job adds (config, data sizes).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from training.metrics import EvalReport, evaluate


def score(y_true: Sequence[str], y_pred: Sequence[str | None], labels: Sequence[str]) -> EvalReport:
    """Metrics of predictions where an abstention (None) counts as wrong.

    An abstention is scored as the label that is not the true one with the lowest index, so
    accuracy counts it as a miss without inventing a label outside ``labels``.
    """
    filled = [
        p if p is not None else next(lab for lab in labels if lab != t)
        for t, p in zip(y_true, y_pred, strict=True)
    ]
    return evaluate(list(y_true), filled, labels)


def wilson_interval(correct: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of an accuracy (small evaluation sets need one)."""
    if n == 0:
        return (0.0, 0.0)
    p = correct / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def report_dict(report: EvalReport) -> dict[str, Any]:
    """``EvalReport.to_dict`` plus the accuracy's confidence interval."""
    out = report.to_dict()
    correct = sum(report.confusion[i][i] for i in range(len(report.labels)))
    low, high = wilson_interval(correct, report.n)
    out["accuracy_ci95"] = [round(low, 4), round(high, 4)]
    return out


def summary_line(name: str, report: EvalReport) -> str:
    return (
        f"{name:<24} n={report.n:<6} accuracy={report.accuracy:.4f}  "
        f"macro-F1={report.macro_f1:.4f}  weighted-F1={report.weighted_f1:.4f}"
    )


def write_report(
    path: Path, reports: Mapping[str, EvalReport], extra: Mapping[str, Any] | None = None
) -> Path:
    """Write ``{"models": {name: report...}, **extra}`` as indented JSON; returns the path."""
    payload: dict[str, Any] = dict(extra or {})
    payload["models"] = {name: report_dict(r) for name, r in reports.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False), encoding="utf-8")
    return path


def format_reports(reports: Mapping[str, EvalReport], *, detail: str | None = None) -> str:
    """One summary line per model; the full table (with confusion matrix) for ``detail``."""
    lines = [summary_line(name, r) for name, r in reports.items()]
    if detail is not None and detail in reports:
        lines += ["", f"[{detail}]", reports[detail].format()]
    return "\n".join(lines)

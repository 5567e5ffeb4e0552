"""Knowledge distillation for the embedded model: the teachers' probabilities on the training
rows, and the versions of the artifacts a run builds on (recorded in its config.json).

A teacher is an artifact served fp32. Its probabilities on each training row are mixed into
that row's target (``training.embedded.train.multitask_loss``); dev and held-out rows are
never scored by a teacher.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from training.embedded.config import TrainConfig
from training.embedded.data import ASPECT_LABELS, Example

log = logging.getLogger("finfeed.train_embedded")


def teacher_probs(
    teachers: Sequence[str], examples: Sequence[Example], config: TrainConfig
) -> dict[str, Any]:
    """The teachers' joint probabilities for ``examples``: per aspect, the normalised geometric
    mean of each teacher's probabilities (served fp32).

    A teacher's own lexical head has memorised these very rows (on them its probabilities
    are the label again), so it is never used here. With ``config.teacher_lexical_folds``
    > 1 each teacher's encoder is blended instead, on ``config.teacher_lexical_aspects`` and
    at the teacher's own lexical weights, with out-of-fold lexical scores
    (``training.embedded.lexical.out_of_fold_log_probs``); otherwise teachers are their
    encoders alone."""
    import numpy as np

    from models.embedded import EmbeddedClassifier
    from models.lexical import blend

    texts = [ex.text for ex in examples]
    oof: dict[str, Any] = {}
    if config.teacher_lexical_folds > 1:
        from training.embedded.lexical import out_of_fold_log_probs

        oof = out_of_fold_log_probs(
            examples, config, config.teacher_lexical_folds, config.teacher_lexical_aspects
        )
    log_sum: dict[str, Any] = {}
    for path in teachers:
        classifier = EmbeddedClassifier(
            Path(path), use_onnx=False, use_lexical=False, batch_size=128
        )
        weights = (classifier.artifact.config.get("lexical") or {}).get("weights", {})
        probs = classifier.predict_probs(texts)
        classifier.close()
        for name in ASPECT_LABELS:
            p = probs[name]
            if name in oof and weights.get(name, 0.0) > 0:
                p = blend(p, oof[name], float(weights[name]))
            logp = np.log(np.clip(p.astype(np.float64), 1e-9, 1.0))
            log_sum[name] = log_sum.get(name, 0.0) + logp
        log.info(
            "teacher %s scored %d training rows (out-of-fold lexical weights %s)",
            path,
            len(texts),
            weights if oof else "none",
        )
    out = {}
    for name, total in log_sum.items():
        z = total / len(teachers)
        z = np.exp(z - z.max(-1, keepdims=True))
        out[name] = z / z.sum(-1, keepdims=True)
    return out


def model_versions(artifacts: Sequence[str]) -> list[str]:
    """Name+version+digest of each artifact (teachers, warm start), recorded in config.json."""
    from models.embedded import EmbeddedArtifact

    return [EmbeddedArtifact.load(Path(p)).model_version for p in artifacts]

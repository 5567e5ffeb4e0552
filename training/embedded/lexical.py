"""Fit the embedded model's lexical head and choose its blend weights (see ``models.lexical``).

1. The TF-IDF space (kept hashed n-grams and their IDF) is fitted on the distinct training
   texts of every source.
2. One multinomial logistic regression per aspect, on the distinct training texts labelled
   on that aspect.
3. Per aspect, the blend weight is the grid value with the best dev score (mean macro-F1 over
   the dev sources labelled on that aspect), blending the *written* encoder's dev
   probabilities; ties go to the smaller weight, and 0 (encoder alone) is on the grid.

Held-out sets are never looked at here.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from models.embedded import normalize_text
from models.lexical import LexicalHead, LinearModel, NgramFeaturizer, TfidfSpace, blend
from training.embedded.config import TrainConfig
from training.embedded.data import ASPECT_LABELS, Example, Splits, bucket
from training.metrics import evaluate

log = logging.getLogger("finfeed.train_embedded")


def _distinct(examples: Sequence[Example], aspect: str | None = None) -> list[Example]:
    seen: set[str] = set()
    out = []
    for ex in examples:
        if (aspect is None or aspect in ex.labels) and ex.text not in seen:
            seen.add(ex.text)
            out.append(ex)
    return out


def fit_linear(x: Any, y: Sequence[int], n_labels: int, c: float, seed: int) -> LinearModel:
    """Logistic regression as ``LinearModel`` (binary models get logits ``[0, w·x + b]``)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    if len(set(y)) != n_labels:
        raise ValueError(f"every label needs training rows; got {sorted(set(y))} of {n_labels}")
    model = LogisticRegression(C=c, max_iter=3000, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x, list(y))
    coef = np.asarray(model.coef_, dtype=np.float32).T  # [n_features, 1 or n_labels]
    intercept = np.asarray(model.intercept_, dtype=np.float32)
    if n_labels == 2:
        coef = np.concatenate([np.zeros_like(coef), coef], axis=1)
        intercept = np.concatenate([np.zeros_like(intercept), intercept])
    return LinearModel(coef, intercept)


def choose_weight(
    encoder_probs: Mapping[str, NDArray[np.float32]],
    lexical_log_probs: Mapping[str, NDArray[np.float32]],
    truth: Mapping[str, Sequence[str]],
    labels: Sequence[str],
    grid: Sequence[float],
) -> tuple[float, dict[str, dict[str, float]]]:
    """The grid weight with the lowest dev log-loss over all dev rows pooled (ties: the
    smaller weight). Log-loss is smooth in the weight, where F1 on a few hundred rows jumps
    by single rows; mean macro-F1 over sources is reported beside it."""
    scores: dict[str, dict[str, float]] = {}
    for w in sorted(grid):
        nll, n, f1s = 0.0, 0, []
        for src, probs in encoder_probs.items():
            mixed = blend(probs, lexical_log_probs[src], w)
            gold = np.asarray([labels.index(t) for t in truth[src]])
            nll -= float(np.log(np.clip(mixed[np.arange(len(gold)), gold], 1e-9, 1.0)).sum())
            n += len(gold)
            preds = [labels[int(k)] for k in mixed.argmax(axis=1)]
            f1s.append(evaluate(list(truth[src]), preds, labels).macro_f1)
        scores[f"{w:g}"] = {"log_loss": nll / max(1, n), "mean_macro_f1": float(np.mean(f1s))}
    best = min(sorted(grid), key=lambda w: (round(scores[f"{w:g}"]["log_loss"], 6), w))
    return best, scores


def fit_lexical_head(
    splits: Splits,
    config: TrainConfig,
    encoder_dev_probs: Mapping[str, Mapping[str, NDArray[np.float32]]],
) -> tuple[LexicalHead, dict[str, Any]]:
    """The head and a report (dev scores per grid weight, sizes) for config.json."""
    featurizer = NgramFeaturizer(hash_bits=config.lexical_hash_bits)
    train_rows = _distinct(splits.train)
    space = TfidfSpace.fit(
        featurizer, [normalize_text(ex.text) for ex in train_rows], config.lexical_min_df
    )
    log.info("lexical: %d kept n-gram features from %d texts", len(space.features), len(train_rows))
    dev_rows = splits.dev
    dev_x = {
        src: space.transform([normalize_text(ex.text) for ex in rows])
        for src, rows in dev_rows.items()
    }
    models: dict[str, LinearModel] = {}
    weights: dict[str, float] = {}
    report: dict[str, Any] = {"features": len(space.features), "dev_scores": {}}
    for aspect, labels in ASPECT_LABELS.items():
        rows = _distinct(splits.train, aspect)
        x = space.transform([normalize_text(ex.text) for ex in rows]).to_scipy()
        y = [labels.index(ex.labels[aspect]) for ex in rows]
        if len(set(y)) < len(labels):
            log.warning("lexical %s: not every label has training rows; no lexical model", aspect)
            continue
        model = fit_linear(x, y, len(labels), config.lexical_c, config.seed)
        enc, lex, truth = {}, {}, {}
        for src, dev in dev_rows.items():
            idx = [i for i, ex in enumerate(dev) if aspect in ex.labels]
            if not idx:
                continue
            enc[src] = encoder_dev_probs[src][aspect][idx]
            lex[src] = model.log_probs(dev_x[src].take(idx))
            truth[src] = [dev[i].labels[aspect] for i in idx]
        weight, scores = choose_weight(enc, lex, truth, labels, config.lexical_weight_grid)
        log.info(
            "lexical %s: %d training texts, dev scores %s -> weight %g",
            aspect,
            len(rows),
            scores,
            weight,
        )
        models[aspect] = model
        weights[aspect] = weight
        report["dev_scores"][aspect] = scores
    return LexicalHead(space, models, weights), report


def out_of_fold_log_probs(
    examples: Sequence[Example],
    config: TrainConfig,
    folds: int,
    aspects: Sequence[str] = tuple(ASPECT_LABELS),
) -> dict[str, NDArray[np.float32]]:
    """Per aspect in ``aspects``, lexical log-probabilities [len(examples), n_labels] that no row's own
    label shaped: the distinct texts labelled on the aspect fall into ``folds`` folds by a
    stable hash, and each fold is scored by a model fitted on the other folds. Rows not
    labelled on the aspect are scored by the model fitted on every labelled row (they are
    out of its sample anyway). Repeated texts share one fold, so a copy never leaks.

    The TF-IDF space is fitted once on all the texts: it reads no labels."""
    if folds < 2:
        raise ValueError(f"out-of-fold scoring needs at least 2 folds, got {folds}")
    featurizer = NgramFeaturizer(hash_bits=config.lexical_hash_bits)
    texts = [normalize_text(ex.text) for ex in examples]
    space = TfidfSpace.fit(featurizer, sorted(set(texts)), config.lexical_min_df)
    x_all = space.transform(texts)
    fold_of = [min(folds - 1, int(bucket(ex.text, salt="lexical-oof") * folds)) for ex in examples]
    first = {ex.text: i for i, ex in reversed(list(enumerate(examples)))}
    out: dict[str, NDArray[np.float32]] = {}
    for aspect in aspects:
        labels = ASPECT_LABELS[aspect]
        rows = _distinct(examples, aspect)
        index = [first[ex.text] for ex in rows]
        y = np.asarray([labels.index(ex.labels[aspect]) for ex in rows])
        row_fold = np.asarray([fold_of[i] for i in index])
        x_rows = x_all.take(index).to_scipy()
        log_probs = np.zeros((len(examples), len(labels)), dtype=np.float32)
        everyone = fit_linear(x_rows, y.tolist(), len(labels), config.lexical_c, config.seed)
        scored_by_fold = np.asarray([aspect not in ex.labels for ex in examples])
        log_probs[scored_by_fold] = everyone.log_probs(x_all.take(np.flatnonzero(scored_by_fold)))
        for k in range(folds):
            held = row_fold == k
            if not held.any():
                continue
            model = fit_linear(
                x_rows[~held], y[~held].tolist(), len(labels), config.lexical_c, config.seed
            )
            targets = [
                i for i, ex in enumerate(examples) if aspect in ex.labels and fold_of[i] == k
            ]
            log_probs[targets] = model.log_probs(x_all.take(targets))
        out[aspect] = log_probs
        log.info("lexical out-of-fold %s: %d labelled texts, %d folds", aspect, len(rows), folds)
    return out


def add_lexical_head(out_dir: Path, splits: Splits, config: TrainConfig) -> dict[str, Any]:
    """Fit the head against the encoder already written in ``out_dir``, save it there and
    record it in config.json. Returns the report."""
    from models.embedded import EmbeddedClassifier

    lexical_file = out_dir / "lexical.safetensors"
    lexical_file.unlink(missing_ok=True)  # the encoder's own dev probabilities, never a blend
    doc = json.loads((out_dir / "config.json").read_text(encoding="utf-8"))
    doc.pop("lexical", None)
    (out_dir / "config.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")

    encoder = EmbeddedClassifier(out_dir, use_onnx=False, batch_size=128)
    dev_probs = {
        src: encoder.predict_probs([ex.text for ex in rows]) for src, rows in splits.dev.items()
    }
    encoder.close()
    head, report = fit_lexical_head(splits, config, dev_probs)
    head.save(out_dir)
    doc["lexical"] = {
        **head.config(),
        "min_df": config.lexical_min_df,
        "c": config.lexical_c,
        **report,
    }
    (out_dir / "config.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return report

"""Metrics agree with hand-computed values and with scikit-learn."""

from __future__ import annotations

import random

import pytest

from training.metrics import evaluate


def test_hand_computed_case() -> None:
    y_true = ["pos", "pos", "neg", "neu", "neu", "neu"]
    y_pred = ["pos", "neg", "neg", "neu", "pos", "neu"]
    r = evaluate(y_true, y_pred, labels=["neg", "neu", "pos"])
    assert r.accuracy == pytest.approx(4 / 6)
    assert r.confusion == ((1, 0, 0), (0, 2, 1), (1, 0, 1))
    # neg: p=1/2 r=1 f1=2/3; neu: p=1 r=2/3 f1=0.8; pos: p=1/2 r=1/2 f1=1/2
    assert r.macro_f1 == pytest.approx((2 / 3 + 0.8 + 0.5) / 3)
    assert r.weighted_f1 == pytest.approx((2 / 3 * 1 + 0.8 * 3 + 0.5 * 2) / 6)
    assert "confusion matrix" in r.format()


def test_matches_sklearn_on_random_labels() -> None:
    sk = pytest.importorskip("sklearn.metrics")
    rng = random.Random(7)
    labels = ["a", "b", "c", "d"]
    y_true = [rng.choice(labels) for _ in range(500)]
    y_pred = [t if rng.random() < 0.6 else rng.choice(labels) for t in y_true]
    r = evaluate(y_true, y_pred, labels=labels)
    assert r.accuracy == pytest.approx(sk.accuracy_score(y_true, y_pred))
    assert r.macro_f1 == pytest.approx(sk.f1_score(y_true, y_pred, average="macro"))
    assert r.weighted_f1 == pytest.approx(sk.f1_score(y_true, y_pred, average="weighted"))


def test_rejects_mismatched_lengths_and_unknown_labels() -> None:
    with pytest.raises(ValueError):
        evaluate(["a"], ["a", "b"])
    with pytest.raises(ValueError):
        evaluate(["a"], ["z"], labels=["a", "b"])

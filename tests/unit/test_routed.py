"""Routing aspects to separate backends gives each backend's own answers, merged per text."""

from __future__ import annotations

import pytest

from models.errors import UnsupportedAspectError
from models.routed import RoutedClassifier
from pipeline.aspects import FORWARD_LOOKING, PREDICTION, SENTIMENT
from tests.fakes.tiny_qwen import save_tiny_model

TEXTS = [
    "Apple beats estimates and raises guidance.",
    "Tesla recalls cars.",
    "Bank plans a new branch.",
]


@pytest.fixture(scope="module")
def two_backends(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from models.transformers_backend import TransformersClassifier

    root = tmp_path_factory.mktemp("routed")
    a = save_tiny_model(root / "model-a", seed=1)
    b = save_tiny_model(root / "model-b", seed=2)
    clf_a = TransformersClassifier({"sentiment": a}, batch_size=2)
    clf_b = TransformersClassifier({"forward_looking": b, "prediction": b}, batch_size=2)
    yield clf_a, clf_b
    clf_a.close()
    clf_b.close()


def test_routes_merge_each_backends_scores(two_backends) -> None:  # type: ignore[no-untyped-def]
    clf_a, clf_b = two_backends
    routed = RoutedClassifier({"sentiment": clf_a, "forward_looking": clf_b, "prediction": clf_b})
    got = routed.classify(TEXTS, [SENTIMENT, FORWARD_LOOKING, PREDICTION])
    want_a = clf_a.classify(TEXTS, [SENTIMENT])
    want_b = clf_b.classify(TEXTS, [FORWARD_LOOKING, PREDICTION])
    assert len(got) == len(TEXTS)
    for g, wa, wb in zip(got, want_a, want_b, strict=True):
        assert set(g) == {"sentiment", "forward_looking", "prediction"}
        assert g["sentiment"].probs == pytest.approx(wa["sentiment"].probs, abs=1e-5)
        assert g["prediction"].probs == pytest.approx(wb["prediction"].probs, abs=1e-5)
        # each aspect carries the version of the model directory it was routed to
        assert g["sentiment"].model_version != g["prediction"].model_version


def test_unrouted_aspect_fails_the_batch(two_backends) -> None:  # type: ignore[no-untyped-def]
    clf_a, _ = two_backends
    routed = RoutedClassifier({"sentiment": clf_a})
    assert routed.supports(SENTIMENT) and not routed.supports(PREDICTION)
    with pytest.raises(UnsupportedAspectError):
        routed.classify(TEXTS, [SENTIMENT, PREDICTION])

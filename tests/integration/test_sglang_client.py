"""The SGLang client against tests/fakes/sglang_server.py (SGLang's protocol, a real tiny Qwen3).

SGLang itself cannot be installed here; the fake speaks its documented endpoints and computes
answers with the same tiny model the transformers backend loads, so the probabilities of both
backends must agree in every mode.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from models.errors import BackpressureError, ClassifierError, UnsupportedAspectError
from models.sglang_client import SGLangClassifier
from models.transformers_backend import TransformersClassifier
from pipeline.aspects import FORWARD_LOOKING, PREDICTION, SENTIMENT
from tests.fakes.sglang_server import running_server
from tests.fakes.tiny_qwen import save_tiny_model
from workers.embedded import free_port

pytestmark = pytest.mark.integration

ASPECTS = [SENTIMENT, FORWARD_LOOKING, PREDICTION]
TEXTS = [
    "Apple beats earnings estimates and raises guidance.",
    "Tesla cuts 2,000 jobs to reduce costs; shares fell 4% after the downgrade.",
    "Nvidia expects margins to improve next year.",
    "x",
]
FAST = {"backoff_base_s": 0.01, "backoff_max_s": 0.05}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("sgl") / "tiny-qwen3")


@pytest.fixture(scope="module")
def server(model_dir: Path) -> Iterator[str]:
    with running_server(model_dir, weight_version="w42") as url:
        yield url


@pytest.fixture(scope="module")
def reference(model_dir: Path) -> list[dict[str, list[float]]]:
    clf = TransformersClassifier({a.name: model_dir for a in ASPECTS}, device="cpu")
    out = clf.classify(TEXTS, ASPECTS)
    return [{a.name: [s[a.name].probs[lab] for lab in a.labels] for a in ASPECTS} for s in out]


@pytest.fixture(autouse=True)
def clear_faults(server: str) -> Iterator[None]:
    httpx.post(server + "/_fake/faults", json={})
    yield
    httpx.post(server + "/_fake/faults", json={})


def _check(out, reference) -> None:
    assert len(out) == len(TEXTS)
    for scores, want in zip(out, reference, strict=True):
        assert set(scores) == {a.name for a in ASPECTS}
        for aspect in ASPECTS:
            got = [scores[aspect.name].probs[lab] for lab in aspect.labels]
            assert got == pytest.approx(want[aspect.name], abs=1e-4), aspect.name


@pytest.mark.parametrize(
    ("mode", "with_tokenizer"),
    [("chat", False), ("chat", True), ("generate", True), ("score", True)],
)
def test_probabilities_equal_transformers_backend(
    server, model_dir, reference, mode, with_tokenizer
) -> None:
    clf = SGLangClassifier(
        server, mode=mode, tokenizer_path=model_dir if with_tokenizer else None, **FAST
    )
    try:
        _check(clf.classify(TEXTS, ASPECTS), reference)
    finally:
        clf.close()


def test_model_version_from_get_model_info(server, model_dir) -> None:
    clf = SGLangClassifier(server, models={"sentiment": "sentiment-lora"}, **FAST)
    assert clf.served.version == "w42" and clf.served.model_path == str(model_dir)
    score = clf.classify(["Apple beats."], [SENTIMENT])[0]["sentiment"]
    assert (score.model, score.model_version) == ("sentiment-lora", "sentiment-lora@w42")
    assert not clf.supports(PREDICTION)
    with pytest.raises(UnsupportedAspectError):
        clf.classify(["x"], [PREDICTION])
    clf.close()


def test_503_and_429_are_retried(server, reference) -> None:
    clf = SGLangClassifier(server, max_retries=3, **FAST)
    before = httpx.get(server + "/_fake/stats").json()["requests"]
    httpx.post(server + "/_fake/faults", json={"fail": [503, 429], "retry_after": 0.01})
    out = clf.classify(TEXTS[:1], [SENTIMENT])
    after = httpx.get(server + "/_fake/stats").json()["requests"]
    assert after - before == 3  # two refusals, then the answer
    got = [out[0]["sentiment"].probs[lab] for lab in SENTIMENT.labels]
    assert got == pytest.approx(reference[0]["sentiment"], abs=1e-4)
    clf.close()


def test_persistent_overload_raises_backpressure_with_hint(server) -> None:
    clf = SGLangClassifier(server, max_retries=2, **FAST)
    httpx.post(server + "/_fake/faults", json={"fail": [503] * 10, "retry_after": 0.02})
    with pytest.raises(BackpressureError, match="HTTP 503") as info:
        clf.classify(TEXTS[:2], [SENTIMENT])
    assert info.value.retry_after == pytest.approx(0.02)
    clf.close()


def test_timeouts_become_backpressure(server) -> None:
    clf = SGLangClassifier(server, max_retries=1, timeout_s=0.2, **FAST)
    httpx.post(server + "/_fake/faults", json={"delay_s": 1.0})
    with pytest.raises(BackpressureError, match="Timeout"):
        clf.classify(TEXTS[:1], [SENTIMENT])
    clf.close()


def test_unreachable_server_raises_backpressure_at_start() -> None:
    with pytest.raises(BackpressureError, match="ConnectError"):
        SGLangClassifier(f"http://127.0.0.1:{free_port()}", max_retries=1, **FAST)


def test_client_errors_are_not_retried(server, model_dir) -> None:
    clf = SGLangClassifier(server, mode="score", tokenizer_path=model_dir, max_retries=3, **FAST)
    before = httpx.get(server + "/_fake/stats").json()["requests"]
    with pytest.raises(ClassifierError, match="HTTP 400") as info:
        clf._request("POST", "/v1/score", {"query": "q"})
    assert not isinstance(info.value, BackpressureError)
    assert httpx.get(server + "/_fake/stats").json()["requests"] - before == 1
    clf.close()

"""The transformers backend against a naive per-aspect full forward on a tiny real Qwen3."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from models.errors import ModelLoadError, UnsupportedAspectError  # noqa: E402
from models.transformers_backend import TransformersClassifier  # noqa: E402
from pipeline.aspects import FORWARD_LOOKING, PREDICTION, SENTIMENT, Aspect  # noqa: E402
from tests.fakes.tiny_qwen import save_tiny_model  # noqa: E402

ASPECTS = [SENTIMENT, FORWARD_LOOKING, PREDICTION]
TEXTS = [
    "Apple beats earnings estimates and raises guidance.",
    "Tesla cuts 2,000 jobs to reduce costs; shares fell 4% after the downgrade.",
    "x",
    "Nvidia expects margins to improve next year, analysts predict a rebound in demand.",
    "Exxon reported flat sales in the quarter.",
]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny-qwen3")


@pytest.fixture(scope="module")
def hf(model_dir: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), local_files_only=True)
    model.eval()
    return tok, model


def _label_ids(tok, aspect: Aspect) -> list[int]:
    return [
        tok(aspect.model_labels[lab], add_special_tokens=False)["input_ids"][0]
        for lab in aspect.labels
    ]


def _naive(tok, model, ids: list[int], aspect: Aspect) -> list[float]:
    with torch.inference_mode():
        logits = model(torch.tensor([ids])).logits[0, -1]
    return torch.softmax(logits[_label_ids(tok, aspect)], dim=-1).tolist()


def naive_system_first(tok, model, text: str, aspect: Aspect) -> list[float]:
    prompt = tok.apply_chat_template(
        [{"role": "system", "content": aspect.system_prompt}, {"role": "user", "content": text}],
        tokenize=False,
        add_generation_prompt=True,
        enable_thinking=False,
    )
    return _naive(tok, model, tok(prompt, add_special_tokens=False)["input_ids"], aspect)


def naive_text_first(tok, model, text: str, aspect: Aspect) -> list[float]:
    rendered = tok.apply_chat_template(
        [{"role": "user", "content": "@@TEXT@@\n\n" + aspect.system_prompt}],
        tokenize=False,
        add_generation_prompt=True,
        enable_thinking=False,
    )
    head, suffix = rendered.split("@@TEXT@@")
    ids = (
        tok(head + text, add_special_tokens=False)["input_ids"]
        + tok(suffix, add_special_tokens=False)["input_ids"]
    )
    return _naive(tok, model, ids, aspect)


def _all(model_dir: Path) -> dict[str, Path]:
    return {a.name: model_dir for a in ASPECTS}


@pytest.mark.parametrize("batch_size", [1, 2, 32])
def test_system_first_matches_naive_forward(model_dir, hf, batch_size) -> None:
    tok, model = hf
    clf = TransformersClassifier(_all(model_dir), device="cpu", batch_size=batch_size)
    out = clf.classify(TEXTS, ASPECTS)
    assert len(out) == len(TEXTS)
    for text, scores in zip(TEXTS, out, strict=True):
        assert set(scores) == {a.name for a in ASPECTS}
        for aspect in ASPECTS:
            want = naive_system_first(tok, model, text, aspect)
            got = [scores[aspect.name].probs[lab] for lab in aspect.labels]
            assert got == pytest.approx(want, abs=1e-5)
            assert (
                scores[aspect.name].label
                == aspect.labels[max(range(len(want)), key=want.__getitem__)]
            )


@pytest.mark.parametrize("batch_size", [1, 3, 32])
def test_text_first_shared_prefix_matches_naive_forward(model_dir, hf, batch_size) -> None:
    tok, model = hf
    clf = TransformersClassifier(
        _all(model_dir), device="cpu", batch_size=batch_size, prompt_layout="text-first"
    )
    out = clf.classify(TEXTS, ASPECTS)
    for text, scores in zip(TEXTS, out, strict=True):
        for aspect in ASPECTS:
            want = naive_text_first(tok, model, text, aspect)
            got = [scores[aspect.name].probs[lab] for lab in aspect.labels]
            assert got == pytest.approx(want, abs=1e-5)


def test_layouts_really_differ(model_dir) -> None:
    """Guard against both code paths silently computing the same prompt."""
    a = TransformersClassifier(_all(model_dir), device="cpu").classify(TEXTS[:2], [SENTIMENT])
    b = TransformersClassifier(_all(model_dir), device="cpu", prompt_layout="text-first").classify(
        TEXTS[:2], [SENTIMENT]
    )
    assert a[0]["sentiment"].probs != pytest.approx(b[0]["sentiment"].probs, abs=1e-4)


def test_layout_from_finfeed_json_and_version(tmp_path: Path, hf) -> None:
    d = save_tiny_model(
        tmp_path / "multi",
        meta={
            "model_version": "multi-v7",
            "model_name": "acme/multi",
            "prompt_layout": "text-first",
        },
    )
    clf = TransformersClassifier({"sentiment": d, "prediction": d}, device="cpu")
    assert clf.model_for("sentiment") == ("acme/multi", "multi-v7", "text-first")
    score = clf.classify(["Apple beats earnings estimates."], [SENTIMENT])[0]["sentiment"]
    assert (score.model, score.model_version) == ("acme/multi", "multi-v7")
    tok, model = hf  # same seed, same weights: the text-first answer
    want = naive_text_first(tok, model, "Apple beats earnings estimates.", SENTIMENT)
    assert [score.probs[lab] for lab in SENTIMENT.labels] == pytest.approx(want, abs=1e-5)


def test_version_hash_changes_with_config(tmp_path: Path) -> None:
    d = save_tiny_model(tmp_path / "m")
    v1 = TransformersClassifier({"sentiment": d}, device="cpu").model_for("sentiment")[1]
    cfg = json.loads((d / "config.json").read_text())
    cfg["rms_norm_eps"] = 1e-5
    (d / "config.json").write_text(json.dumps(cfg))
    v2 = TransformersClassifier({"sentiment": d}, device="cpu").model_for("sentiment")[1]
    assert v1.startswith("m-") and v2.startswith("m-") and v1 != v2


def test_aspects_sharing_a_directory_share_one_model(model_dir) -> None:
    clf = TransformersClassifier(_all(model_dir), device="cpu")
    assert len(clf._models) == 1


def test_input_order_and_duplicates_preserved(model_dir) -> None:
    clf = TransformersClassifier(_all(model_dir), device="cpu", batch_size=2)
    texts = [TEXTS[1], TEXTS[0], TEXTS[1], TEXTS[3]]
    out = clf.classify(texts, [SENTIMENT])
    single = {t: clf.classify([t], [SENTIMENT])[0]["sentiment"].probs for t in set(texts)}
    for t, scores in zip(texts, out, strict=True):
        assert scores["sentiment"].probs == pytest.approx(single[t], abs=1e-5)


def test_truncation_keeps_prompt_valid(model_dir, hf) -> None:
    tok, model = hf
    long_text = " ".join(["Apple beats earnings estimates and raises guidance."] * 200)
    clf = TransformersClassifier(_all(model_dir), device="cpu", max_length=64)
    scores = clf.classify([long_text], [SENTIMENT])[0]["sentiment"]
    assert sum(scores.probs.values()) == pytest.approx(1.0)
    # the truncated prompt still ends with the generation prompt: same as the naive forward on
    # the truncated text
    overhead = len(
        tok(
            tok.apply_chat_template(
                [
                    {"role": "system", "content": SENTIMENT.system_prompt},
                    {"role": "user", "content": ""},
                ],
                tokenize=False,
                add_generation_prompt=True,
                enable_thinking=False,
            ),
            add_special_tokens=False,
        )["input_ids"]
    )
    cut = tok.decode(tok(long_text, add_special_tokens=False)["input_ids"][: 64 - overhead])
    want = naive_system_first(tok, model, cut, SENTIMENT)
    assert [scores.probs[lab] for lab in SENTIMENT.labels] == pytest.approx(want, abs=1e-5)


def test_colliding_label_first_tokens_fail_at_load(model_dir) -> None:
    clash = Aspect(
        name="clash",
        labels=("up", "down"),
        system_prompt="Classify.",
        model_labels={"up": "positive outlook", "down": "positive but weak"},
        label_values={"up": 1.0, "down": -1.0},
    )
    with pytest.raises(ModelLoadError, match=r"positive outlook.*positive but weak"):
        TransformersClassifier({"clash": model_dir}, device="cpu", aspects=[clash])


def test_unsupported_aspect_raises(model_dir) -> None:
    clf = TransformersClassifier({"sentiment": model_dir}, device="cpu")
    assert clf.supports(SENTIMENT) and not clf.supports(PREDICTION)
    with pytest.raises(UnsupportedAspectError, match="prediction"):
        clf.classify(["x"], [SENTIMENT, PREDICTION])


def test_missing_directory_raises(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        TransformersClassifier({"sentiment": tmp_path / "nope"}, device="cpu")


def test_empty_batch(model_dir) -> None:
    clf = TransformersClassifier(_all(model_dir), device="cpu")
    assert clf.classify([], ASPECTS) == []

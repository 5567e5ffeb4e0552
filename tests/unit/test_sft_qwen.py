"""SFT of a tiny random-init Qwen3 as a label-token classifier: masking, learning, export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.prompting import encode, system_first_prompt, text_first_ids, text_first_template
from pipeline.aspects import BUILTIN_ASPECTS, SENTIMENT
from tests.fakes.tiny_qwen import save_tiny_model
from training.errors import SFTError
from training.sft_data import IGNORE, PromptEncoder, collate
from training.sft_qwen import SFTConfig, supervised_loss, train

ASPECTS = [BUILTIN_ASPECTS[n] for n in ("sentiment", "forward_looking", "prediction")]
SUBJECTS = ["Apple", "Microsoft", "Tesla", "Nvidia", "Amazon", "JPMorgan", "Exxon", "Pfizer"]
# event -> (sentiment, forward_looking, prediction): separable by the event alone
EVENTS = {
    "beats earnings estimates and raises guidance": ("positive", "yes", "yes"),
    "misses revenue forecasts as costs climb": ("negative", "no", "no"),
    "reported flat sales in the quarter": ("neutral", "no", "no"),
    "will open three factories in 2026": ("neutral", "yes", "no"),
    "expects margins to improve next year": ("positive", "yes", "yes"),
    "shares fell 4% after the downgrade": ("negative", "no", "no"),
}


def rows(subjects: list[str]) -> list[tuple[str, dict[str, str]]]:
    out = []
    for s in subjects:
        for event, labels in EVENTS.items():
            out.append(
                (
                    f"{s} {event}.",
                    dict(zip(("sentiment", "forward_looking", "prediction"), labels, strict=True)),
                )
            )
    return out


TRAIN, VAL = rows(SUBJECTS[2:]), rows(SUBJECTS[:2])


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """A tiny model is slowed 40x by two contended OpenMP threads on a loaded CI box."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("tiny") / "base", seed=1)


@pytest.fixture(scope="module")
def tokenizer(tiny_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_dir), local_files_only=True)


def _config(tiny_dir: Path, out: Path, **kw) -> SFTConfig:
    base = dict(
        model_path=str(tiny_dir), output_dir=str(out), lr=3e-3, batch_size=8, grad_accum=1,
        epochs=6, warmup_ratio=0.1, weight_decay=0.0, neftune_alpha=5.0, device="cpu",
        eval_batch_size=16, max_length=256, model_version="tiny-sft-test",
    )  # fmt: skip
    base.update(kw)
    return SFTConfig(**base)


def test_loss_mask_covers_label_and_end_token_only(tokenizer) -> None:
    enc = PromptEncoder(tokenizer, [SENTIMENT], "system-first", max_length=256)
    text = "Tesla shares fell 4% after the downgrade."
    ex = enc.example(text, "sentiment", "negative")
    prompt = encode(tokenizer, system_first_prompt(tokenizer, SENTIMENT, text))
    label_id = enc.label_tokens[0].id_of("negative")
    end_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert list(ex.input_ids) == [*prompt, label_id, end_id]  # the serving prompt, verbatim
    supervised = [i for i, v in enumerate(ex.labels) if v != IGNORE]
    assert supervised == [len(prompt), len(prompt) + 1]
    assert list(ex.labels[-2:]) == [label_id, end_id]

    short = enc.example("Apple beats.", "sentiment", "positive")
    batch = collate([ex, short], enc.pad_id)
    ids, mask, labels = batch["input_ids"], batch["attention_mask"], batch["labels"]
    pad = ids.shape[1] - len(short.input_ids)
    assert pad > 0
    assert mask[1, :pad].sum() == 0 and mask[1, pad:].all()  # LEFT padding
    assert (ids[1, :pad] == enc.pad_id).all() and (labels[1, :pad] == IGNORE).all()
    assert ((labels != IGNORE).sum(dim=1) == 2).all()  # exactly two supervised positions each
    assert (labels[:, -1] == end_id).all() and labels[1, -2] == enc.label_tokens[0].id_of(
        "positive"
    )
    assert (
        batch["position_ids"][1, pad] == 0
        and batch["position_ids"][1, -1] == len(short.input_ids) - 1
    )
    # a right-padded batch would put labels outside the last columns: refused, not ignored
    import torch

    shifted = torch.roll(labels, shifts=-1, dims=1)
    with pytest.raises(SFTError, match="left padded"):
        supervised_loss(torch.zeros(2, 3, 10), shifted)


def test_text_first_examples_are_the_backends_concatenation(tokenizer) -> None:
    enc = PromptEncoder(tokenizer, ASPECTS, "text-first", max_length=256)
    text = "Nvidia expects margins to improve next year."
    for aspect in ASPECTS:
        prefix, suffix = text_first_ids(tokenizer, text_first_template(tokenizer, aspect), text)
        label = aspect.labels[-1]
        ex = enc.example(text, aspect.name, label)
        assert list(ex.input_ids[:-2]) == prefix + suffix
        assert [v for v in ex.labels if v != IGNORE] == [
            enc.label_tokens[ASPECTS.index(aspect)].id_of(label),
            tokenizer.convert_tokens_to_ids("<|im_end|>"),
        ]
    with pytest.raises(SFTError, match="not a sentiment label"):
        enc.example(text, "sentiment", "bullish")


def test_system_first_learns_and_export_serves_identically(tiny_dir: Path, tmp_path: Path) -> None:
    from models.transformers_backend import TransformersClassifier

    out = tmp_path / "sentiment-sft"
    result = train(_config(tiny_dir, out), [SENTIMENT], TRAIN, VAL)
    start, best = result.history[0], result.best
    assert best is not None and start["step"] == 0
    assert best.loss < 0.5 * start["val_loss"]  # validation loss driven down
    trained = [h for h in result.history if "train_loss" in h]
    assert trained[-1]["train_loss"] < 0.5 * trained[0]["train_loss"]
    assert best.reports["sentiment"].accuracy >= 0.9 > start["sentiment"]["accuracy"]

    meta = json.loads((out / "finfeed.json").read_text(encoding="utf-8"))
    assert meta["prompt_layout"] == "system-first" and meta["model_version"] == "tiny-sft-test"
    assert meta["step"] == result.best_step and meta["aspects"][0]["name"] == "sentiment"
    assert meta["metrics"]["sentiment"]["accuracy"] == round(best.reports["sentiment"].accuracy, 4)
    assert meta["config"]["lr"] == 3e-3 and meta["history"]

    clf = TransformersClassifier({"sentiment": out}, device="cpu", aspects=[SENTIMENT])
    scores = clf.classify([t for t, _ in VAL], [SENTIMENT])
    assert clf.model_for("sentiment")[1] == "tiny-sft-test"
    for (aspect, label, probs), s in zip(best.predictions, scores, strict=True):
        got = s[aspect]
        assert got.label == label
        assert [got.probs[lab] for lab in SENTIMENT.labels] == pytest.approx(probs, abs=1e-4)


def test_text_first_multi_aspect_export_serves_identically(tiny_dir: Path, tmp_path: Path) -> None:
    from models.transformers_backend import TransformersClassifier

    out = tmp_path / "multi-sft"
    result = train(_config(tiny_dir, out, layout="text-first", epochs=4), ASPECTS, TRAIN, VAL)
    best = result.best
    assert best is not None and best.loss < result.history[0]["val_loss"]
    assert (
        json.loads((out / "finfeed.json").read_text(encoding="utf-8"))["prompt_layout"]
        == "text-first"
    )
    clf = TransformersClassifier({a.name: out for a in ASPECTS}, device="cpu", aspects=ASPECTS)
    assert clf.model_for("prediction")[2] == "text-first"
    scores = clf.classify([t for t, _ in VAL], ASPECTS)
    # the trainer evaluates row by row, aspect by aspect (build_examples order)
    served = [(a.name, s[a.name]) for s in scores for a in ASPECTS]
    assert len(served) == len(best.predictions)
    for (aspect, label, probs), (name, got) in zip(best.predictions, served, strict=True):
        assert aspect == name and got.label == label
        labels = BUILTIN_ASPECTS[aspect].labels
        assert [got.probs[lab] for lab in labels] == pytest.approx(probs, abs=1e-4)


def test_train_sft_cli_exports_a_servable_dir(tiny_dir: Path, tmp_path: Path) -> None:
    from finfeed.cli import main

    data = tmp_path / "train.jsonl"
    data.write_text(
        "".join(json.dumps({"text": t, **labels}) + "\n" for t, labels in TRAIN + VAL),
        encoding="utf-8",
    )
    out = tmp_path / "cli-sft"
    code = main(
        ["train-sft", "--model", str(tiny_dir), "--train", str(data), "--out", str(out),
         "--aspects", "sentiment", "--val-fraction", "0.25", "--max-steps", "3",
         "--batch-size", "8", "--grad-accum", "2", "--max-length", "256", "--device", "cpu"]
    )  # fmt: skip
    assert code == 0
    meta = json.loads((out / "finfeed.json").read_text(encoding="utf-8"))
    assert meta["config"]["grad_accum"] == 2 and meta["config"]["neftune_alpha"] == 5.0
    assert meta["config"]["lr"] == 2e-5 and meta["config"]["lr_scheduler"] == "cosine"
    assert (out / "config.json").is_file() and (out / "tokenizer.json").is_file()


def test_resume_continues_exactly_where_it_stopped(
    tiny_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import training.sft_qwen as sft

    kw = dict(epochs=2, batch_size=5, grad_accum=2, eval_every=2)
    whole = train(_config(tiny_dir, tmp_path / "whole", **kw), [SENTIMENT], TRAIN, VAL)
    assert whole.history[-1]["step"] == 8  # 36 rows / 5 = 8 micro-batches x 2 epochs / 2

    real_eval, calls = sft.run_evaluation, []

    def crash_on_third_eval(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:  # steps 0 and 2 done; dies evaluating step 4 (mid-epoch state)
            raise KeyboardInterrupt
        return real_eval(*args, **kwargs)

    cut = _config(tiny_dir, tmp_path / "cut", **kw)
    monkeypatch.setattr(sft, "run_evaluation", crash_on_third_eval)
    with pytest.raises(KeyboardInterrupt):
        train(cut, [SENTIMENT], TRAIN, VAL)
    monkeypatch.setattr(sft, "run_evaluation", real_eval)
    resumed = train(cut, [SENTIMENT], TRAIN, VAL, resume=True)
    assert [h["step"] for h in resumed.history] == [h["step"] for h in whole.history]
    for a, b in zip(resumed.history, whole.history, strict=True):
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-4, abs=1e-5)
    with pytest.raises(SFTError, match="cannot resume"):
        train(
            _config(tiny_dir, tmp_path / "cut", **{**kw, "batch_size": 4}),
            [SENTIMENT],
            TRAIN,
            VAL,
            resume=True,
        )

"""Training pieces of the embedded model: splits, batching, loss masking, artifact round trip."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import pytest
import torch

from models.embedded import EmbeddedClassifier, load_tokenizer, normalize_text
from training.embedded.card import write_artifact, write_model_card
from training.embedded.config import TrainConfig
from training.embedded.data import (
    ASPECT_LABELS,
    Encoded,
    Example,
    Splits,
    build_splits,
    length_bucketed_batches,
)
from training.embedded.model import build_model
from training.embedded.train import collate, multitask_loss


def _write(path: Path, rows: list[dict[str, object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


@pytest.fixture
def data_dirs(tmp_path: Path) -> tuple[Path, Path]:
    data, aspects = tmp_path / "data", tmp_path / "aspects"
    labels = ["negative", "neutral", "positive"]
    _write(
        data / "tfns" / "train.jsonl",
        [{"text": f"tweet {i} $ABC", "label": labels[i % 3]} for i in range(300)],
    )
    _write(
        data / "tfns" / "validation.jsonl",
        [{"text": f"val tweet {i}", "label": labels[i % 3]} for i in range(30)],
    )
    sentfin = [{"text": f"headline {i}", "label": labels[i % 3]} for i in range(300)]
    sentfin += [
        {"text": f"Firm {i} Q2 net loss at Rs {i} crore", "label": "neutral"} for i in range(40)
    ]
    _write(data / "sentfin" / "sentences.jsonl", sentfin)
    _write(
        aspects / "x.jsonl",
        [
            {
                "id": f"a{i}",
                "text": f"aspect row {i}",
                "genre": "headline",
                "split": "test" if i % 5 == 0 else "train",
                "sentiment": labels[i % 3],
                "forward_looking": "yes" if i % 2 else "no",
                "prediction": "no",
            }
            for i in range(50)
        ]
        + [{"text": "bad row", "split": "train"}],
    )
    return data, aspects


def test_splits_are_disjoint_deterministic_and_mixed_as_documented(
    data_dirs: tuple[Path, Path],
) -> None:
    data, aspects = data_dirs
    config = TrainConfig()
    a, b = build_splits(data, aspects, config), build_splits(data, aspects, config)
    assert [e.text for e in a.train] == [e.text for e in b.train]
    train = {e.text for e in a.train}
    held = {e.text for v in list(a.dev.values()) + list(a.test.values()) for e in v}
    assert not train & held
    assert len(a.test["tfns_validation"]) == 30
    assert 10 < len(a.test["sentfin_test"]) < 70
    # neutral-labelled reported losses never teach; they stay in SEntFiN's held-out test
    assert not [e for e in a.train if "net loss" in e.text and e.labels["sentiment"] == "neutral"]
    # aspect rows: their own test split, every aspect labelled, repeated in train
    assert len(a.test["aspects_test"]) == 10
    aspect_train = [e for e in a.train if e.source == "aspects"]
    assert all(set(e.labels) == set(ASPECT_LABELS) for e in aspect_train)
    distinct = {e.text for e in aspect_train}
    assert len(aspect_train) == config.aspects_oversample * len(distinct)
    assert all(set(e.labels) == {"sentiment"} for e in a.train if e.source != "aspects")


def test_length_bucketed_batches_cover_every_item_once() -> None:
    items = [Encoded(list(range(random.Random(i).randint(3, 60))), {}, 1.0) for i in range(1000)]
    batches = list(length_bucketed_batches(items, 32, random.Random(0), pool=10))
    seen = [id(e) for b in batches for e in b]
    assert sorted(seen) == sorted(id(e) for e in items)
    # padding waste is small: within a batch lengths are close
    waste = sum(max(len(e.ids) for e in b) * len(b) - sum(len(e.ids) for e in b) for b in batches)
    assert waste < 0.15 * sum(len(e.ids) for e in items)  # unsorted: about 0.8


def test_loss_ignores_aspects_a_row_is_not_labelled_on() -> None:
    items = [
        Encoded([101, 5, 102], {"sentiment": 2, "forward_looking": -100, "prediction": -100}, 1.0),
        Encoded([101, 6, 7, 102], {"sentiment": 0, "forward_looking": 1, "prediction": 0}, 2.0),
    ]
    batch = collate(items)
    logits = {name: torch.randn(2, len(labels)) for name, labels in ASPECT_LABELS.items()}
    loss = multitask_loss(logits, batch, smoothing=0.0)
    sentiment = torch.nn.functional.cross_entropy(
        logits["sentiment"], torch.tensor([2, 0]), reduction="none"
    )
    expected = (sentiment * torch.tensor([1.0, 2.0])).sum() / 3.0
    expected = expected + torch.nn.functional.cross_entropy(
        logits["forward_looking"][1:], torch.tensor([1])
    )
    expected = expected + torch.nn.functional.cross_entropy(
        logits["prediction"][1:], torch.tensor([0])
    )
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_written_artifact_serves_the_trained_network(tmp_path: Path) -> None:
    """Adapters merged at load reproduce the LoRA-wrapped training network."""
    config = dataclasses.replace(TrainConfig(), lora_rank=4)
    model = build_model(config, ASPECT_LABELS)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.requires_grad and (name.endswith("lora_B") or "LayerNorm" in name):
                param.add_(torch.randn_like(param) * 0.02)
            if "lora_" in name:  # stored in fp16: compare against fp16-exact factors
                param.copy_(param.half().float())
    model.eval()
    write_artifact(model, config, tmp_path, Splits(), [], 0.5, metrics={})
    write_model_card(tmp_path)
    texts = ["Acme beats estimates https://t.co/abc", "Shares fall", "We expect growth next year"]
    tokens = load_tokenizer()([normalize_text(t) for t in texts], padding=True, return_tensors="pt")
    with torch.no_grad():
        expected = model(tokens["input_ids"], tokens["attention_mask"])
    served = EmbeddedClassifier(tmp_path, use_onnx=False).predict_probs(texts)
    for name, probs in zip(model.aspect_names, expected, strict=True):
        torch.testing.assert_close(torch.from_numpy(served[name]), probs, atol=1e-4, rtol=0)
    assert "LoRA rank 4" in (tmp_path / "MODEL_CARD.md").read_text()
    assert json.loads((tmp_path / "config.json").read_text())["lora"]["rank"] == 4


def test_finished_artifact_carries_a_lexical_head_chosen_on_dev(
    tmp_path: Path, data_dirs: tuple[Path, Path]
) -> None:
    """finish_artifact fits the lexical head on the written encoder, records it, and the
    artifact then serves the blend; an aspect with a label missing from training gets none."""
    from training.embedded.train import finish_artifact

    data, aspects = data_dirs
    config = dataclasses.replace(TrainConfig(), lora_rank=4, lexical_min_df=1)
    splits = build_splits(data, aspects, config)
    out = tmp_path / "art"
    write_artifact(build_model(config, ASPECT_LABELS).eval(), config, out, splits, [], 0.5)
    metrics = finish_artifact(out, splits, config)
    doc = json.loads((out / "config.json").read_text())
    lexical = doc["lexical"]
    assert set(lexical["weights"]) == {"sentiment", "forward_looking"}  # prediction: "no" only
    assert set(lexical["dev_scores"]["sentiment"]) == {f"{w:g}" for w in config.lexical_weight_grid}
    assert doc["metrics"] == metrics and "metrics_encoder_only" in doc
    assert "Lexical head" in (out / "MODEL_CARD.md").read_text()
    served = EmbeddedClassifier(out, use_onnx=False)
    assert served.lexical is not None
    # --lexical-only on that artifact (its config now records the lexical settings) refits
    # the same head from the recorded settings
    from training.embedded.train import relexicalize

    before = (out / "lexical.safetensors").read_bytes()
    assert relexicalize(out, data, aspects) == metrics
    assert (out / "lexical.safetensors").read_bytes() == before
    # rewriting the encoder without a lexical block removes the stale head
    write_artifact(build_model(config, ASPECT_LABELS).eval(), config, out, splits, [], 0.5)
    assert not (out / "lexical.safetensors").exists()
    assert EmbeddedClassifier(out, use_onnx=False).lexical is None


def _random_artifact(out: Path, seed: int) -> Path:
    config = dataclasses.replace(TrainConfig(), lora_rank=4, seed=seed)
    model = build_model(config, ASPECT_LABELS)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.requires_grad and not name.endswith("lora_A"):
                param.add_(torch.randn_like(param) * 0.05)
    write_artifact(model.eval(), config, out, Splits(), [], 0.5, metrics={})
    return out


def test_soup_is_the_average_of_the_merged_networks(tmp_path: Path) -> None:
    """Stacked LoRA factors reproduce the mean of the merged weights exactly (up to fp16);
    SVD truncation keeps the update's leading directions; heads are averaged."""
    from models.embedded import EmbeddedArtifact, merged_network
    from training.embedded.soup import soup

    arts = [_random_artifact(tmp_path / f"a{i}", seed) for i, seed in enumerate((1, 2))]
    nets = [merged_network(EmbeddedArtifact.load(a)) for a in arts]
    out = soup(arts, tmp_path / "soup", "0.0.1-soup")
    doc = json.loads((out / "config.json").read_text())
    assert doc["lora"]["rank"] == 8 and len(doc["soup"]["ingredients"]) == 2
    souped = merged_network(EmbeddedArtifact.load(out)).state_dict()
    states = [n.state_dict() for n in nets]
    for key in ("encoder.encoder.layer.0.attention.self.query.weight", "heads.sentiment.weight"):
        expected = (states[0][key] + states[1][key]) / 2
        torch.testing.assert_close(souped[key], expected, atol=2e-3, rtol=0)
    truncated = soup(arts, tmp_path / "soup4", "0.0.1-soup4", max_rank=4)
    assert json.loads((truncated / "config.json").read_text())["lora"]["rank"] == 4
    small = merged_network(EmbeddedArtifact.load(truncated)).state_dict()
    key = "encoder.encoder.layer.0.attention.self.query.weight"
    # rank 4 of a rank-8 average: not exact, but far closer to the soup than either run is
    err_trunc = (small[key] - souped[key]).norm()
    assert 0 < err_trunc < (souped[key] - states[0][key]).norm()


def test_distillation_mixes_label_and_teacher_cross_entropy() -> None:
    """With teacher probabilities, a labelled row's loss is (1-w) CE(label) + w CE(teacher);
    rows not labelled on an aspect still contribute nothing for it."""
    soft = {"sentiment": (0.2, 0.5, 0.3), "forward_looking": (0.9, 0.1), "prediction": (0.6, 0.4)}
    items = [
        Encoded(
            [101, 5, 102], {"sentiment": 2, "forward_looking": -100, "prediction": -100}, 1.0, soft
        ),
        Encoded(
            [101, 6, 102], {"sentiment": 0, "forward_looking": 1, "prediction": -100}, 1.0, soft
        ),
    ]
    batch = collate(items)
    logits = {name: torch.randn(2, len(labels)) for name, labels in ASPECT_LABELS.items()}
    hard_only = multitask_loss(logits, batch, smoothing=0.0)
    w = 0.3
    mixed = multitask_loss(logits, batch, smoothing=0.0, distill_weight=w)
    soft_ce = 0.0
    for name, rows in (("sentiment", [0, 1]), ("forward_looking", [1])):
        log_p = torch.log_softmax(logits[name][rows], dim=-1)
        q = torch.tensor([soft[name]] * len(rows))
        soft_ce += float(-(q * log_p).sum(-1).mean())
    assert mixed.item() == pytest.approx((1 - w) * hard_only.item() + w * soft_ce, rel=1e-5)
    # the teacher term is minimised by the teacher's own distribution
    teacher_logits = {k: torch.log(torch.tensor([v, v])) for k, v in soft.items()}
    pure = multitask_loss(teacher_logits, batch, smoothing=0.0, distill_weight=1.0)
    shifted = {
        k: v + torch.tensor([0.5] + [0.0] * (v.shape[1] - 1)) for k, v in teacher_logits.items()
    }
    assert pure.item() < multitask_loss(shifted, batch, smoothing=0.0, distill_weight=1.0).item()


def test_teacher_probs_are_the_geometric_mean_of_encoder_only_teachers(tmp_path: Path) -> None:
    import numpy as np

    from training.embedded.distill import model_versions, teacher_probs

    arts = [_random_artifact(tmp_path / f"t{i}", seed) for i, seed in enumerate((3, 4))]
    texts = ["Acme beats estimates", "Shares slump after guidance cut", "Board meets Tuesday"]
    examples = [Example(t, {"sentiment": "neutral"}, "tfns") for t in texts]
    each = [
        EmbeddedClassifier(a, use_onnx=False, use_lexical=False).predict_probs(texts) for a in arts
    ]
    joint = teacher_probs([str(a) for a in arts], examples, TrainConfig())
    for name in ASPECT_LABELS:
        expected = np.sqrt(each[0][name].astype(np.float64) * each[1][name])
        expected /= expected.sum(-1, keepdims=True)
        np.testing.assert_allclose(joint[name], expected, atol=1e-6)
        assert not np.allclose(joint[name], each[0][name], atol=1e-3)  # both teachers count
    versions = model_versions([str(a) for a in arts])
    assert len(set(versions)) == 2 and all(v.startswith("1.") for v in versions)


def test_recipe_trains_teachers_then_distils_the_student_and_resumes(
    tmp_path: Path, data_dirs: tuple[Path, Path]
) -> None:
    from models.embedded import EmbeddedArtifact
    from training.embedded.recipe import Step, finished, run_recipe

    data, aspects = data_dirs
    base = dataclasses.replace(TrainConfig(), lora_rank=4, epochs=1, lexical=False, version="0.0.1")
    steps = [
        Step("t1", {"seed": 1}),
        Step("t2", {"seed": 2}),
        Step("student", {"seed": 3, "distill_weight": 0.7}, teachers=("t1", "t2")),
    ]
    out, work = tmp_path / "out", tmp_path / "work"
    metrics = run_recipe(steps, data, aspects, out, work, base)
    assert set(metrics) == {"tfns_validation", "sentfin_test", "aspects_test"}
    teachers = [work / t / "artifact" for t in ("t1", "t2")]
    assert all(finished(t) for t in teachers)
    versions = [EmbeddedArtifact.load(t).model_version for t in teachers]
    assert versions[0] != versions[1] and versions[0].startswith("0.0.1-t1+")
    doc = json.loads((out / "config.json").read_text())
    assert doc["version"] == "0.0.1" and doc["training"]["teachers"] == versions
    assert doc["training"]["config"]["distill_weight"] == 0.7
    card = (out / "MODEL_CARD.md").read_text()
    assert "training.embedded.recipe" in card and "Knowledge distillation" in card
    # a second run reuses the finished teachers instead of training them again
    stamps = [(t / "adapters.safetensors").stat().st_mtime_ns for t in teachers]
    run_recipe(steps, data, aspects, out, work, base)
    assert [(t / "adapters.safetensors").stat().st_mtime_ns for t in teachers] == stamps
    # a warm-started step starts from an earlier (here: finished, reused) step's network
    warm = [steps[0], Step("again", {"seed": 4}, teachers=("t1",), init_from="t1")]
    run_recipe(warm, data, aspects, tmp_path / "out2", work, base)
    doc2 = json.loads((tmp_path / "out2" / "config.json").read_text())
    assert doc2["training"]["config"]["init_from"] == str(teachers[0])
    assert doc2["training"]["init_from"] == versions[0]
    assert "Warm start" in (tmp_path / "out2" / "MODEL_CARD.md").read_text()
    with pytest.raises(ValueError, match="unknown steps"):
        run_recipe([Step("s", teachers=("nope",))], data, aspects, out, work, base)


def _lexical_examples() -> list[Example]:
    """Sentiment rows whose label a bag of words can learn, plus rows for the other aspects."""
    words = {
        "negative": "slump plunge cut",
        "neutral": "meets holds files",
        "positive": "beat soar raise",
    }
    rows = [
        Example(
            f"Firm {i} shares {words[label].split()[i % 3]} today", {"sentiment": label}, "tfns"
        )
        for i in range(60)
        for label in (("negative", "neutral", "positive")[i % 3],)
    ]
    rows += [
        Example(
            f"We expect item {i} next year" if i % 2 else f"Item {i} was reported last year",
            {
                "sentiment": "neutral",
                "forward_looking": "yes" if i % 2 else "no",
                "prediction": "yes" if i % 2 else "no",
            },
            "aspects",
        )
        for i in range(40)
    ]
    return rows + rows[:10]  # repeated rows (oversampling) must share their fold


def test_out_of_fold_lexical_scores_come_from_models_that_never_saw_the_row() -> None:
    import numpy as np

    from models.embedded import normalize_text
    from models.lexical import NgramFeaturizer, TfidfSpace
    from training.embedded.data import bucket
    from training.embedded.lexical import fit_linear, out_of_fold_log_probs

    examples = _lexical_examples()
    config = dataclasses.replace(TrainConfig(), lexical_min_df=1)
    folds = 4
    oof = out_of_fold_log_probs(examples, config, folds)
    labels = ASPECT_LABELS["sentiment"]
    assert oof["sentiment"].shape == (len(examples), 3)
    np.testing.assert_allclose(np.exp(oof["sentiment"]).sum(-1), 1.0, atol=1e-5)
    # recompute one fold by hand: a model fitted without that fold's texts
    texts = [normalize_text(ex.text) for ex in examples]
    space = TfidfSpace.fit(
        NgramFeaturizer(hash_bits=config.lexical_hash_bits), sorted(set(texts)), 1
    )
    fold = [min(folds - 1, int(bucket(ex.text, salt="lexical-oof") * folds)) for ex in examples]
    seen: set[str] = set()
    train_idx = []
    for i, ex in enumerate(examples):
        if "sentiment" in ex.labels and ex.text not in seen:
            seen.add(ex.text)
            if fold[i] != 0:
                train_idx.append(i)
    model = fit_linear(
        space.transform([texts[i] for i in train_idx]).to_scipy(),
        [labels.index(examples[i].labels["sentiment"]) for i in train_idx],
        3,
        config.lexical_c,
        config.seed,
    )
    held = [i for i in range(len(examples)) if fold[i] == 0]
    assert held, "the fixture needs rows in fold 0"
    np.testing.assert_allclose(
        oof["sentiment"][held],
        model.log_probs(space.transform([texts[i] for i in held])),
        atol=1e-5,
    )
    # a repeated row gets the same scores as its first copy
    np.testing.assert_allclose(oof["sentiment"][-10:], oof["sentiment"][:10], atol=1e-6)
    # out of fold is not memorised: on its training rows an in-sample model is more confident
    everyone = fit_linear(
        space.transform(texts[:60]).to_scipy(),
        [labels.index(ex.labels["sentiment"]) for ex in examples[:60]],
        3,
        config.lexical_c,
        config.seed,
    )
    gold = [labels.index(ex.labels["sentiment"]) for ex in examples[:60]]
    in_sample = everyone.log_probs(space.transform(texts[:60]))[np.arange(60), gold].mean()
    assert oof["sentiment"][np.arange(60), gold].mean() < in_sample
    with pytest.raises(ValueError, match="at least 2 folds"):
        out_of_fold_log_probs(examples, config, 1)


def test_teacher_with_out_of_fold_lexical_blends_at_the_teachers_weights(tmp_path: Path) -> None:
    import numpy as np

    from models.lexical import blend
    from training.embedded.distill import teacher_probs
    from training.embedded.lexical import out_of_fold_log_probs

    art = _random_artifact(tmp_path / "t", 5)
    doc = json.loads((art / "config.json").read_text())
    doc["lexical"] = {"weights": {"sentiment": 0.4, "forward_looking": 0.0, "prediction": 0.2}}
    (art / "config.json").write_text(json.dumps(doc))
    examples = _lexical_examples()
    config = dataclasses.replace(
        TrainConfig(),
        lexical_min_df=1,
        teacher_lexical_folds=3,
        teacher_lexical_aspects=("sentiment", "prediction"),
    )
    joint = teacher_probs([str(art)], examples, config)
    encoder = EmbeddedClassifier(art, use_onnx=False, use_lexical=False).predict_probs(
        [ex.text for ex in examples]
    )
    oof = out_of_fold_log_probs(examples, config, 3)
    np.testing.assert_allclose(
        joint["sentiment"], blend(encoder["sentiment"], oof["sentiment"], 0.4), atol=1e-5
    )
    np.testing.assert_allclose(
        joint["prediction"], blend(encoder["prediction"], oof["prediction"], 0.2), atol=1e-5
    )
    np.testing.assert_allclose(joint["forward_looking"], encoder["forward_looking"], atol=1e-5)
    assert not np.allclose(joint["sentiment"], encoder["sentiment"], atol=1e-3)
    # by default only sentiment's teacher gets the lexical blend
    default = teacher_probs(
        [str(art)], examples, dataclasses.replace(config, teacher_lexical_aspects=("sentiment",))
    )
    np.testing.assert_allclose(default["sentiment"], joint["sentiment"], atol=1e-6)
    np.testing.assert_allclose(default["prediction"], encoder["prediction"], atol=1e-5)


def test_warm_start_continues_from_the_served_network(tmp_path: Path) -> None:
    from training.embedded.model import trainable_state

    art = _random_artifact(tmp_path / "a", 6)
    config = dataclasses.replace(TrainConfig(), lora_rank=4, seed=99, init_from=str(art))
    model = build_model(config, ASPECT_LABELS).eval()
    texts = ["Acme beats estimates", "Shares slump after guidance cut"]
    tokens = load_tokenizer()([normalize_text(t) for t in texts], padding=True, return_tensors="pt")
    with torch.no_grad():
        ours = model(tokens["input_ids"], tokens["attention_mask"])
    served = EmbeddedClassifier(art, use_onnx=False, use_lexical=False).predict_probs(texts)
    for name, probs in zip(model.aspect_names, ours, strict=True):
        torch.testing.assert_close(torch.from_numpy(served[name]), probs, atol=1e-5, rtol=0)
    # a fresh start differs, and the warm-started tensors are still the trainable ones
    cold = build_model(dataclasses.replace(config, init_from=None), ASPECT_LABELS)
    warm_state, cold_state = trainable_state(model), trainable_state(cold)
    assert warm_state.keys() == cold_state.keys()
    assert not torch.equal(
        warm_state["heads.sentiment.weight"], cold_state["heads.sentiment.weight"]
    )
    with pytest.raises(ValueError, match="LoRA"):
        build_model(dataclasses.replace(config, lora_rank=8), ASPECT_LABELS)

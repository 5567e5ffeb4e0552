"""Linear baselines on embeddings: fit, vote, save/load, the CLI, and the MiniLM encoder."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from pipeline.aspects import SENTIMENT
from training.baselines import (
    BaselineConfig,
    BaselineEnsemble,
    ensemble_vote,
    make_embedder,
    train_baselines,
)
from training.errors import BaselineError

COMPANIES = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Tyrell"]
CUES = {
    "positive": ["beats estimates", "raises guidance", "wins a large contract", "shares jump"],
    "negative": ["misses estimates", "cuts guidance", "faces a fraud probe", "shares slump"],
    "neutral": [
        "schedules its earnings call",
        "names a new board member",
        "holds its AGM",
        "files its annual report",
    ],
}
FILLER = [
    "on Tuesday",
    "in early trade",
    "this quarter",
    "according to a filing",
    "analysts said",
    "",
]


def synthetic(n: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = ("positive", "negative", "neutral")[i % 3]
        text = f"{rng.choice(COMPANIES)} {rng.choice(CUES[label])} {rng.choice(FILLER)}".strip()
        rows.append((text, label))
    return rows


def test_ensemble_vote_majority_and_tie_goes_to_best_member() -> None:
    preds = {
        "a": ["positive", "neutral", "negative"],
        "b": ["positive", "negative", "neutral"],
        "c": ["negative", "negative", "positive"],
    }
    # row 0: 2 vs 1; row 1: 2 vs 1; row 2: three-way tie -> first member in priority wins
    assert ensemble_vote(preds, ["c", "a", "b"]) == ["positive", "negative", "positive"]
    assert ensemble_vote(preds, ["b", "a", "c"])[2] == "neutral"


def test_tfidf_baselines_learn_a_separable_set_and_round_trip(tmp_path: Path) -> None:
    train, val = synthetic(240, seed=1), synthetic(60, seed=2)
    config = BaselineConfig(embedders=("tfidf", "tfidf-char"), seed=3)
    ens = train_baselines(train, val, SENTIMENT, config)
    assert {m.name for m in ens.members} == {"tfidf", "tfidf-char"}
    for name in ("tfidf", "tfidf-char", "ensemble"):
        assert ens.val_reports[name].accuracy >= 0.95, name
        assert ens.val_reports[name].n == len(val)
    # members sorted best first by validation accuracy
    accs = [m.val_report.accuracy for m in ens.members]
    assert accs == sorted(accs, reverse=True)
    path = ens.save(tmp_path / "bl.pkl")
    loaded = BaselineEnsemble.load(path)
    texts = [t for t, _ in val]
    assert loaded.predict_texts(texts) == ens.predict_texts(texts)
    assert loaded.metrics["val"]["ensemble"]["accuracy"] == ens.val_reports["ensemble"].accuracy


def test_random_labels_stay_near_chance() -> None:
    """The baselines measure signal: shuffled labels must not score like real ones."""
    rng = random.Random(5)
    train = [(t, rng.choice(SENTIMENT.labels)) for t, _ in synthetic(240, seed=1)]
    val = [(t, rng.choice(SENTIMENT.labels)) for t, _ in synthetic(90, seed=2)]
    ens = train_baselines(train, val, SENTIMENT, BaselineConfig(embedders=("tfidf",)))
    assert ens.val_reports["tfidf"].accuracy < 0.6


def test_rejects_unknown_labels_and_embedders() -> None:
    with pytest.raises(BaselineError, match="not sentiment labels"):
        train_baselines([("x", "bullish")], [], SENTIMENT, BaselineConfig(embedders=("tfidf",)))
    with pytest.raises(BaselineError, match="unknown embedder"):
        make_embedder("word2vec-google-news")


def test_minilm_embedder_encodes_locally() -> None:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # two contended OpenMP threads are far slower on a loaded box
    try:
        emb = make_embedder("minilm")
        vecs = emb.transform(["Acme beats estimates", "Globex misses estimates"])
    finally:
        torch.set_num_threads(threads)
    assert vecs.shape == (2, 384)
    assert abs(float((vecs[0] ** 2).sum()) - 1.0) < 1e-4  # normalised


def test_train_baselines_cli(tmp_path: Path) -> None:
    from finfeed.cli import main

    src = tmp_path / "train.jsonl"
    rows = synthetic(300, seed=7)
    src.write_text(
        "".join(json.dumps({"text": t, "sentiment": lab}) + "\n" for t, lab in rows),
        encoding="utf-8",
    )
    report = tmp_path / "report.json"
    out = tmp_path / "bl.pkl"
    code = main(
        ["train-baselines", "--train", str(src), "--embedders", "tfidf,tfidf-char",
         "--val-fraction", "0.2", "--report", str(report), "--out", str(out)]
    )  # fmt: skip
    assert code == 0 and out.is_file()
    data = json.loads(report.read_text(encoding="utf-8"))
    assert set(data["models"]) == {"tfidf", "tfidf-char", "ensemble"}
    assert data["models"]["ensemble"]["accuracy"] >= 0.95
    assert data["models"]["ensemble"]["n"] > 30

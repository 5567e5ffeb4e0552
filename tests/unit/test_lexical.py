"""The embedded model's lexical head: features, TF-IDF, linear scores, blend, persistence,
and the weight chosen on dev."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from models.embedded import DEFAULT_ARTIFACT_DIR, EmbeddedClassifier
from models.errors import ModelLoadError
from models.lexical import (
    LEXICAL_FILE,
    LexicalHead,
    LinearModel,
    NgramFeaturizer,
    TfidfSpace,
    blend,
)
from training.embedded.lexical import choose_weight, fit_linear


def test_features_words_bigrams_and_padded_char_ngrams() -> None:
    f = NgramFeaturizer(hash_bits=16)
    words, chars = f.ids("Ab cd")
    # words "ab", "cd" and the bigram "ab cd"; the single-letter-free regex keeps both words
    assert len(words) == 3
    # " ab " and " cd ": 3 bigrams + 2 trigrams + 1 four-gram each; no 5-grams (too short)
    assert len(chars) == 12
    assert all(0 <= i < f.space for i in words)
    assert all(f.space <= i < 2 * f.space for i in chars)  # char ids live above word ids
    assert f.ids("AB CD") == (words, chars)  # case-insensitive
    assert f.ids("ab dc")[0][:1] == words[:1] and f.ids("ab dc")[0][2] != words[2]


def test_huge_inputs_read_only_their_start() -> None:
    from models.lexical import MAX_CHARS

    f = NgramFeaturizer()
    head = "Acme beats estimates; " * (MAX_CHARS // 22 + 1)
    huge = head + "x" * 1_000_000  # one giant token past the cut
    assert f.ids(huge) == f.ids(huge[:MAX_CHARS])
    # a long word (not cached) still gets every n-gram of its padded form
    assert len(f.ids("a" * 3_000)[1]) == sum(3_002 - n + 1 for n in range(2, 6))


def _space(texts: list[str], min_df: int = 1) -> TfidfSpace:
    return TfidfSpace.fit(NgramFeaturizer(hash_bits=18), texts, min_df=min_df)


def test_min_df_drops_rare_ngrams_and_idf_is_smoothed() -> None:
    texts = ["profit rises", "profit falls", "profit rises again"]
    space = _space(texts, min_df=2)
    f = space.featurizer
    profit, rises, falls = (f.ids(w)[0][0] for w in ("profit", "rises", "falls"))
    kept = set(space.features.tolist())
    assert profit in kept and rises in kept and falls not in kept
    idf = dict(zip(space.features.tolist(), space.idf.tolist(), strict=True))
    assert idf[profit] == pytest.approx(math.log(4 / 4) + 1)  # in all 3 texts
    assert idf[rises] == pytest.approx(math.log(4 / 3) + 1)  # in 2 of 3


def test_rows_are_l2_normalised_per_kind_and_unknown_text_is_empty() -> None:
    space = _space(["shares jump on record sales", "shares slump on weak sales"])
    rows = space.transform(["shares jump", "zzzz qqqq"])
    first = rows.values[rows.indptr[0] : rows.indptr[1]]
    cols = rows.columns[rows.indptr[0] : rows.indptr[1]]
    is_char = space.features[cols] >= space.featurizer.space
    assert np.linalg.norm(first[is_char]) == pytest.approx(1.0, rel=1e-5)
    assert np.linalg.norm(first[~is_char]) == pytest.approx(1.0, rel=1e-5)
    # "zzzz qqqq" shares only the padding-edge bigrams (" z", "q ") at most: nothing of the words
    second_words = space.features[rows.columns[rows.indptr[1] : rows.indptr[2]]]
    assert not np.any(second_words < space.featurizer.space)


def test_linear_scores_match_a_dense_computation() -> None:
    space = _space(["beats estimates", "misses estimates", "in line with estimates"])
    rng = np.random.default_rng(0)
    model = LinearModel(
        rng.normal(size=(len(space.features), 3)).astype(np.float32),
        rng.normal(size=3).astype(np.float32),
    )
    rows = space.transform(["beats estimates", "", "misses"])
    dense = rows.to_scipy().toarray() @ model.coef + model.intercept
    expected = dense - np.log(np.exp(dense).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(model.log_probs(rows), expected, atol=1e-5)
    # a subset of rows, reordered, scores as those rows did
    np.testing.assert_allclose(model.log_probs(rows.take([2, 0])), expected[[2, 0]], atol=1e-5)


def test_blend_is_a_weighted_geometric_mean() -> None:
    enc = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], dtype=np.float32)
    lex = np.log(np.array([[0.1, 0.2, 0.7], [0.2, 0.6, 0.2]], dtype=np.float32))
    assert blend(enc, lex, 0.0) is enc
    np.testing.assert_allclose(blend(enc, lex, 1.0), np.exp(lex), atol=1e-6)
    half = blend(enc, lex, 0.5)
    expected = np.sqrt(enc * np.exp(lex))
    np.testing.assert_allclose(half, expected / expected.sum(axis=1, keepdims=True), atol=1e-6)
    np.testing.assert_allclose(half.sum(axis=1), 1.0, atol=1e-6)


def test_binary_and_multiclass_fits_match_sklearn_probabilities() -> None:
    from sklearn.linear_model import LogisticRegression

    texts = [f"{w} guidance {i}" for i, w in enumerate(["raises", "cuts", "keeps"] * 20)]
    space = _space(texts)
    x = space.transform(texts).to_scipy()
    for y in ([i % 3 for i in range(60)], [int(i % 3 == 0) for i in range(60)]):
        n_labels = len(set(y))
        ours = fit_linear(x, y, n_labels, c=3.0, seed=0)
        ref = LogisticRegression(C=3.0, max_iter=3000, random_state=0).fit(x, y)
        got = np.exp(ours.log_probs(space.transform(texts)))
        np.testing.assert_allclose(got, ref.predict_proba(x), atol=1e-4)
    with pytest.raises(ValueError, match="every label"):
        fit_linear(x, [0] * 60, 2, c=1.0, seed=0)


def test_head_round_trips_and_rejects_a_mismatched_file(tmp_path: Path) -> None:
    texts = ["upgrade to buy", "downgrade to sell", "annual meeting date set"]
    space = _space(texts)
    rng = np.random.default_rng(1)
    head = LexicalHead(
        space,
        {"sentiment": LinearModel(rng.normal(size=(len(space.features), 3)).astype(np.float32),
                                  np.zeros(3, np.float32))},
        {"sentiment": 0.4},
    )  # fmt: skip
    head.save(tmp_path)
    labels = {"sentiment": ("negative", "neutral", "positive")}
    loaded = LexicalHead.load(tmp_path, head.config(), labels)
    enc = {"sentiment": np.full((3, 3), 1 / 3, dtype=np.float32)}
    np.testing.assert_allclose(
        loaded.blend(texts, enc)["sentiment"], head.blend(texts, enc)["sentiment"], atol=2e-3
    )  # coefficients are stored in fp16
    with pytest.raises(ModelLoadError, match="does not match"):
        LexicalHead.load(tmp_path, head.config(), {"sentiment": ("no", "yes")})


def test_weight_choice_follows_dev_log_loss() -> None:
    rng = np.random.default_rng(2)
    labels = ("no", "yes")
    gold = rng.integers(0, 2, size=400)
    truth = {"dev": [labels[g] for g in gold]}
    enc = {"dev": np.where(gold[:, None] == np.arange(2), 0.6, 0.4).astype(np.float32)}
    grid = (0.0, 0.2, 0.4, 0.6)
    informative = {"dev": np.log(np.where(gold[:, None] == np.arange(2), 0.9, 0.1))}
    noise = {"dev": np.log(rng.dirichlet([1, 1], size=400))}
    best, scores = choose_weight(enc, informative, truth, labels, grid)
    assert best == 0.6 and scores["0.6"]["log_loss"] < scores["0"]["log_loss"]
    assert choose_weight(enc, noise, truth, labels, grid)[0] == 0.0


def test_shipped_artifact_blends_its_lexical_head(tmp_path: Path) -> None:
    """The shipped model serves the blend; the encoder alone is a distinct, labelled version,
    and an artifact that declares a head without its file fails to load."""
    texts = [
        "$XYZ: Goldman cuts to Sell",
        "Acme price target raised to $60 from $45 at Jefferies",
        "Board schedules annual meeting",
    ]
    blended = EmbeddedClassifier(use_onnx=False)
    assert blended.lexical is not None and blended.lexical.active
    alone = EmbeddedClassifier(use_onnx=False, use_lexical=False)
    assert alone.model_version == blended.model_version + "-encoder-only"
    a, b = blended.predict_probs(texts), alone.predict_probs(texts)
    for name in blended.lexical.active:
        assert not np.allclose(a[name], b[name], atol=1e-4)
        np.testing.assert_allclose(a[name].sum(axis=1), 1.0, atol=1e-5)

    broken = tmp_path / "art"
    shutil.copytree(DEFAULT_ARTIFACT_DIR, broken)
    (broken / LEXICAL_FILE).unlink()
    with pytest.raises(ModelLoadError, match=LEXICAL_FILE):
        EmbeddedClassifier(broken, use_onnx=False)

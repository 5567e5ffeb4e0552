"""Active-learning relabelling on a synthetic set with flipped labels and a perfect oracle."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from pipeline.aspects import SENTIMENT
from tests.fakes.openai_server import keyword_label, running_server
from training.active_learning import ActiveLearningConfig, relabel
from training.baselines import BaselineConfig
from training.errors import ActiveLearningError

# cue phrases the fake OpenAI server's keyword rule labels the same way
CUES = {
    "positive": ["beats estimates", "raises guidance", "posts record sales", "wins an upgrade"],
    "negative": ["misses estimates", "cuts guidance", "faces a probe", "falls after a warning"],
    "neutral": [
        "schedules its earnings call",
        "names a new director",
        "holds its annual meeting",
        "files its annual report",
    ],
}
COMPANIES = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Stark",
    "Wayne",
    "Tyrell",
    "Cyberdyne",
]
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
        label = SENTIMENT.labels[i % 3]
        text = (
            f"{rng.choice(COMPANIES)} {rng.choice(CUES[label])} {rng.choice(FILLER)} #{i}".strip()
        )
        rows.append((text, label))
    return rows


def flip(rows: list[tuple[str, str]], share: float, seed: int) -> tuple[list[str], set[int]]:
    rng = random.Random(seed)
    labels = [lab for _, lab in rows]
    flipped = set(rng.sample(range(len(rows)), int(share * len(rows))))
    for i in flipped:
        labels[i] = rng.choice([lab for lab in SENTIMENT.labels if lab != labels[i]])
    return labels, flipped


CONFIG = ActiveLearningConfig(
    baseline=BaselineConfig(embedders=("tfidf", "tfidf-char"), seed=1), folds=5, max_rounds=6
)


def test_recovers_flipped_labels_and_stops() -> None:
    rows = synthetic(450, seed=11)
    truth = {t: lab for t, lab in rows}
    noisy, flipped = flip(rows, 0.15, seed=3)
    asked: list[str] = []

    def oracle(texts, proposed):
        asked.extend(texts)
        return [truth[t] for t in texts]

    val = synthetic(90, seed=12)
    result = relabel([t for t, _ in rows], noisy, SENTIMENT, oracle, CONFIG, val=val)
    texts = [t for t, _ in rows]
    recovered = {i for i in flipped if result.labels[i] == rows[i][1]}
    assert len(recovered) >= 0.8 * len(flipped), (len(recovered), len(flipped))
    # only flipped rows changed (the oracle is right), each changed row now holds the truth
    assert set(result.changed_round) <= flipped
    assert all(result.labels[i] == rows[i][1] for i in result.changed_round)
    # the loop stopped because a round changed nothing, before the round cap
    assert result.rounds[-1].changed == 0 and len(result.rounds) - 1 < CONFIG.max_rounds
    assert result.rounds[1].changed > 0
    # the weakest member was dropped after the first changing round
    assert len(result.rounds[0].members) == 2 and len(result.rounds[-1].members) == 1
    assert result.rounds[1].dropped in {"tfidf", "tfidf-char"}
    # the oracle was asked about each row once at most, and only about candidates
    assert len(asked) == len(set(asked)) == result.oracle_calls
    assert sum(r.candidates for r in result.rounds) >= len(result.changed_round)
    # accuracy on the (clean) validation set does not get worse
    first, last = result.rounds[0].val_accuracy, result.rounds[-1].val_accuracy
    assert last["ensemble"] >= first["ensemble"] - 0.02
    assert {truth[t] for t in texts} == set(SENTIMENT.labels)


def test_oracle_that_disagrees_changes_nothing() -> None:
    rows = synthetic(150, seed=5)
    noisy, _ = flip(rows, 0.2, seed=6)
    by_text = {t: noisy[i] for i, (t, _) in enumerate(rows)}
    # an oracle that always confirms the current (noisy) label: nothing may change
    result = relabel(
        [t for t, _ in rows], noisy, SENTIMENT, lambda texts, _: [by_text[t] for t in texts], CONFIG
    )
    assert result.changed == 0 and result.labels == noisy
    assert len(result.rounds) == 2 and result.rounds[1].candidates > 0


def test_rejects_bad_input() -> None:
    with pytest.raises(ActiveLearningError, match="at least"):
        relabel(["a"], ["positive"], SENTIMENT, lambda t, p: p, CONFIG)
    rows = synthetic(30, seed=1)
    with pytest.raises(ActiveLearningError, match="not sentiment labels"):
        relabel([t for t, _ in rows], ["bullish"] * 30, SENTIMENT, lambda t, p: p, CONFIG)


def test_relabel_cli_with_an_llm_oracle(tmp_path: Path) -> None:
    from finfeed.cli import main

    rows = synthetic(240, seed=21)
    noisy, flipped = flip(rows, 0.15, seed=22)
    src = tmp_path / "labelled.jsonl"
    src.write_text(
        "".join(
            json.dumps({"id": f"r{i}", "text": t, "label": noisy[i]}) + "\n"
            for i, (t, _) in enumerate(rows)
        )
        # an abstained LLM majority and a held-out test row pass through untouched
        + json.dumps({"id": "abstained", "text": "Acme misses estimates", "label": None})
        + "\n"
        + json.dumps(
            {"id": "held", "text": "Acme misses estimates", "label": "positive", "split": "test"}
        )
        + "\n",
        encoding="utf-8",
    )
    val = tmp_path / "val.jsonl"
    val.write_text(
        "".join(json.dumps({"text": t, "label": lab}) + "\n" for t, lab in synthetic(60, 23)),
        encoding="utf-8",
    )
    out = tmp_path / "relabelled.jsonl"
    with running_server() as (url, app):
        code = main(
            ["relabel", "-i", str(src), "-o", str(out), "--val", str(val),
             "--label-field", "label", "--embedders", "tfidf,tfidf-char",
             "--oracle-base-url", url, "--oracle-models", "kw-plain"]
        )  # fmt: skip
        asked = sum(n for (model, _), n in app.state.requests.items() if model == "kw-plain")
    assert code == 0
    got = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [g["id"] for g in got] == [*(f"r{i}" for i in range(len(rows))), "abstained", "held"]
    assert got[-2]["label"] is None and got[-1]["label"] == "positive"
    assert "label_before" not in got[-1] and "label_before" not in got[-2]
    changed = [g for g in got if "label_before" in g]
    assert changed and all(g["label"] == keyword_label(g["text"]) for g in changed)
    fixed = sum(got[i]["label"] == rows[i][1] for i in flipped)
    assert fixed >= 0.7 * len(flipped)
    log = json.loads(out.with_suffix(".rounds.json").read_text(encoding="utf-8"))
    assert log["rounds"][-1]["changed"] == 0 and log["oracle_calls"] == asked

"""LLM-ensemble labelling against a local OpenAI-compatible server with quirky fake models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.aspects import FORWARD_LOOKING, PREDICTION, SENTIMENT
from tests.fakes.openai_server import keyword_label, running_server
from training.errors import LabellingError
from training.labelling_prompts import labelling_prompt, parse_answer
from training.labelling_report import LabellingReport, compare_with_human
from training.llm_labelling import (
    LabellingConfig,
    label_snippets,
    majority_vote,
    parse_tie_rule,
)

SNIPPETS = [
    "Acme beats estimates and raises its outlook",
    "Globex misses revenue forecasts as costs climb",
    "Initech will report results on Thursday",
    "Umbrella shares soars to a record after the upgrade",
    "Regulator opens a probe into Hooli pricing",
    "Stark Industries holds its annual meeting in May",
]


@pytest.fixture(scope="module")
def server():
    with running_server(stall_s=2.0) as (url, app):
        yield url, app


def _config(url: str, models: tuple[str, ...], **kw) -> LabellingConfig:
    base = dict(base_url=url, models=models, timeout_s=0.5, backoff_s=0.01, max_retries=2)
    base.update(kw)
    return LabellingConfig(**base)


def test_parse_answer_handles_fences_trailing_text_and_bad_labels() -> None:
    fenced = '```json\n{"rationale": "Beat and raise.", "label": "Positive"}\n```\nThanks!'
    assert parse_answer(fenced, SENTIMENT).label == "positive"
    assert parse_answer(fenced, SENTIMENT).rationale == "Beat and raise."
    trailing = 'Sure. {"rationale": "r", "label": "negative."} hope that helps {oops'
    assert parse_answer(trailing, SENTIMENT).label == "negative"
    bad = parse_answer('{"rationale": "r", "label": "bullish"}', SENTIMENT)
    assert bad.label is None and "bullish" in bad.error
    assert parse_answer("positive", SENTIMENT).label is None  # no JSON: abstain
    # model label strings of yes/no aspects are accepted and canonicalised
    assert parse_answer('{"label": "forward-looking"}', FORWARD_LOOKING).label == "yes"
    assert parse_answer('{"label": "Not Prediction"}', PREDICTION).label == "no"


def test_majority_vote_and_tie_rules() -> None:
    m = majority_vote(["positive", "positive", "neutral", None])
    assert (m.label, m.agreement, m.tie) == ("positive", 0.5, False)
    tie = majority_vote(["positive", "negative", None])
    assert tie.label is None and tie.tie and tie.agreement == 0.0
    rule = parse_tie_rule("neutral,negative", SENTIMENT)
    assert rule == ("neutral", "negative", "positive")
    assert majority_vote(["positive", "negative"], rule).label == "negative"
    assert majority_vote([None, None]).label is None
    with pytest.raises(LabellingError, match="unknown labels"):
        parse_tie_rule("bullish", SENTIMENT)


def test_prompts_carry_definitions_decision_tree_and_json_format() -> None:
    for aspect in (SENTIMENT, FORWARD_LOOKING, PREDICTION):
        prompt = labelling_prompt(aspect)
        assert '"rationale"' in prompt and '"label"' in prompt
        assert "|".join(aspect.labels) in prompt
        assert "Decision tree" in prompt and "doubt" in prompt
    assert "material impact" in labelling_prompt(SENTIMENT)


def test_ensemble_votes_majority_abstentions_and_retries(server) -> None:
    url, app = server
    models = ("kw-plain", "kw-fenced", "kw-badlabel", "kw-flaky", "kw-busy")
    rows = [{"id": f"s{i}", "text": t} for i, t in enumerate(SNIPPETS)]
    items = label_snippets(rows, SENTIMENT, _config(url, models, concurrency=8))
    assert [i.row["id"] for i in items] == [r["id"] for r in rows]  # input order kept
    for item in items:
        truth = keyword_label(item.text)
        votes = {v.model: v for v in item.votes}
        assert list(votes) == list(models)
        assert votes["kw-plain"].label == truth
        assert votes["kw-fenced"].label == truth  # fenced JSON + chatter parsed
        assert votes["kw-fenced"].rationale == f"Keyword rule says {truth}."
        # the flaky model timed out once, then answered; the busy one got a 429 first
        assert votes["kw-flaky"].label == truth and votes["kw-flaky"].attempts == 2
        assert votes["kw-busy"].label == truth and votes["kw-busy"].attempts == 2
        assert app.state.requests[("kw-flaky", item.text)] == 2
        assert app.state.requests[("kw-plain", item.text)] == 1
        if truth == "neutral":
            assert votes["kw-badlabel"].label == "neutral"
            assert item.majority.agreement == 1.0
        else:  # bullish/bearish: abstains, the other four agree
            assert votes["kw-badlabel"].label is None
            assert "invalid label" in votes["kw-badlabel"].error
            assert item.majority.agreement == pytest.approx(4 / 5)
        assert item.majority.label == truth
    assert any("material impact" in p for p in app.state.system_prompts)

    report = LabellingReport(aspect="sentiment", models=models)
    for item in items:
        report.add(item)
    summary = report.to_dict()
    n_polar = sum(keyword_label(t) != "neutral" for t in SNIPPETS)
    assert summary["per_model"]["kw-badlabel"]["abstentions"] == n_polar
    assert summary["per_model"]["kw-flaky"]["retries"] == len(SNIPPETS)
    assert summary["abstained"] == 0 and summary["labelled"] == len(SNIPPETS)
    cost = summary["cost"]
    # four models report usage; kw-fenced omits it and is estimated at the 10:1 ratio
    assert cost["requests"] == len(SNIPPETS) * 5
    assert cost["requests_with_estimated_usage"] == len(SNIPPETS)
    assert cost["input_tokens"] > cost["output_tokens"] > 0


def test_gives_up_after_retries_and_ties_abstain(server) -> None:
    url, app = server
    text = "Zeta falls after the downgrade"
    # timeout shorter than the stall and no retry: the flaky model gives up and abstains
    cfg = _config(url, ("kw-flaky",), max_retries=0)
    (item,) = label_snippets([{"text": text}], SENTIMENT, cfg)
    assert item.votes[0].label is None and item.votes[0].error.startswith("gave up")
    assert item.majority.label is None
    assert app.state.requests[("kw-flaky", text)] == 1
    # two models disagree: a tie abstains, or follows the configured priority
    pair = ("kw-plain", "kw-contrarian")
    (tied,) = label_snippets([{"text": text}], SENTIMENT, _config(url, pair))
    assert tied.majority.tie and tied.majority.label is None
    rule = parse_tie_rule("positive", SENTIMENT)
    (broken,) = label_snippets([{"text": text}], SENTIMENT, _config(url, pair, tie_rule=rule))
    assert broken.majority.label == "positive"
    # an unknown model is a non-retryable 4xx: one attempt, abstains
    (unknown,) = label_snippets([{"text": text}], SENTIMENT, _config(url, ("nope",)))
    assert unknown.votes[0].attempts == 1 and "HTTP 404" in unknown.votes[0].error


def test_human_comparison_lists_disagreement_rationales(server) -> None:
    url, _ = server
    rows = [
        {"id": "h1", "text": SNIPPETS[0], "human": "positive"},
        {"id": "h2", "text": SNIPPETS[1], "human": "neutral"},  # humans disagree here
        {"id": "h3", "text": SNIPPETS[2], "human": "neutral"},
        {"id": "h4", "text": SNIPPETS[3]},  # no human label: not compared
    ]
    items = label_snippets(
        rows, SENTIMENT, _config(url, ("kw-plain", "kw-contrarian", "kw-fenced"))
    )
    human = compare_with_human(items, SENTIMENT, "human")
    assert human["compared"] == 3
    assert human["accuracy"] == pytest.approx(2 / 3, abs=1e-4)
    (dis,) = human["disagreements"]
    assert dis["id"] == "h2" and dis["majority"] == "negative" and dis["human"] == "neutral"
    assert dis["rationales"]["kw-contrarian"].startswith("positive: ")
    assert human["per_model_accuracy"]["kw-contrarian"] == pytest.approx(1 / 3, abs=1e-4)


def test_label_cli_writes_votes_and_report(server, tmp_path: Path) -> None:
    from finfeed.cli import main

    url, app = server
    src = tmp_path / "in.jsonl"
    src.write_text(
        "\n".join(
            json.dumps({"id": i, "text": t, "gold": keyword_label(t)})
            for i, t in enumerate(SNIPPETS[:3])
        )
        + "\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.jsonl"
    code = main(
        ["label", "-i", str(src), "-o", str(out), "--base-url", url,
         "--models", "kw-plain,kw-fenced,kw-badlabel", "--human-field", "gold",
         "--price-in", "1.0", "--price-out", "10.0"]
    )  # fmt: skip
    assert code == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["label"] for r in rows] == [keyword_label(t) for t in SNIPPETS[:3]]
    assert all(len(r["votes"]) == 3 and r["aspect"] == "sentiment" for r in rows)
    report = json.loads(out.with_suffix(".report.json").read_text(encoding="utf-8"))
    assert report["human"]["accuracy"] == 1.0
    assert report["cost"]["cost"] > 0

    # --resume labels only rows the output does not hold yet, appending them
    more = tmp_path / "more.jsonl"
    more.write_text(
        src.read_text(encoding="utf-8") + json.dumps({"id": 9, "text": SNIPPETS[4]}) + "\n",
        encoding="utf-8",
    )
    args = ["label", "-i", str(more), "-o", str(out), "--base-url", url, "--models", "kw-plain"]
    before = sum(n for (m, _), n in app.state.requests.items() if m == "kw-plain")
    assert main([*args, "--resume"]) == 0
    after = sum(n for (m, _), n in app.state.requests.items() if m == "kw-plain")
    assert after - before == 1
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == [0, 1, 2, 9] and rows[-1]["label"] == "negative"

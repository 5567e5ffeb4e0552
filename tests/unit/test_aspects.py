"""Aspects are declared data: built-ins, user files, validation, scores."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.aspects import (
    BUILTIN_ASPECTS,
    DEFAULT_ASPECT_NAMES,
    SENTIMENT,
    load_aspects,
    parse_aspect_names,
)
from pipeline.errors import ConfigError


def test_builtins_match_the_public_checkpoints() -> None:
    assert DEFAULT_ASPECT_NAMES == ("sentiment", "forward_looking", "prediction")
    assert (
        SENTIMENT.system_prompt
        == "Classify the financial sentiment as positive, neutral, or negative."
    )
    assert BUILTIN_ASPECTS["forward_looking"].system_prompt == (
        "Classify whether it is forward looking or not forward looking."
    )
    assert SENTIMENT.label_regex() == "(negative|neutral|positive)"


def test_score_is_p_positive_minus_p_negative() -> None:
    assert SENTIMENT.score({"negative": 0.2, "neutral": 0.3, "positive": 0.5}) == pytest.approx(0.3)
    fine = BUILTIN_ASPECTS["fine_sentiment"]
    assert fine.score({"strong_positive": 1.0}) == pytest.approx(1.0)
    assert fine.score({"mildly_negative": 1.0}) == pytest.approx(-1 / 3)


def test_user_file_adds_and_overrides_aspects(tmp_path: Path) -> None:
    path = tmp_path / "aspects.yaml"
    path.write_text(
        """
aspects:
  - name: esg
    labels: [harmful, none, beneficial]
    system_prompt: "Classify the ESG impact as harmful, none, or beneficial."
    label_values: {harmful: -1, beneficial: 1}
    model: /models/esg
  - name: sentiment
    labels: [negative, neutral, positive]
    system_prompt: "Classify the sentiment."
    model_labels: {negative: bearish, neutral: neutral, positive: bullish}
    label_values: {negative: -1, positive: 1}
""",
        encoding="utf-8",
    )
    registry = load_aspects(path)
    esg = registry.get("esg")
    assert esg.labels == ("harmful", "none", "beneficial")
    assert esg.model_labels["none"] == "none"  # defaults to the label itself
    assert esg.score({"beneficial": 0.7, "harmful": 0.1, "none": 0.2}) == pytest.approx(0.6)
    assert registry.get("sentiment").model_labels["positive"] == "bullish"
    assert [a.name for a in registry.select(["esg", "prediction"])] == ["esg", "prediction"]


@pytest.mark.parametrize(
    "body, match",
    [
        (
            '{"aspects": [{"name": "x", "labels": ["a"], "system_prompt": "p"}]}',
            "two distinct labels",
        ),
        (
            '{"aspects": [{"name": "bad name", "labels": ["a", "b"], "system_prompt": "p"}]}',
            "identifier",
        ),
        ('{"aspects": [{"name": "x", "labels": ["a", "b"]}]}', "system_prompt"),
        (
            '{"aspects": [{"name": "x", "labels": ["a", "b"], "system_prompt": "p", "label_values": {"c": 1}}]}',
            "unknown labels",
        ),
        ('{"aspects": {"name": "x"}}', "'aspects' list"),
    ],
)
def test_malformed_declarations_are_refused(tmp_path: Path, body: str, match: str) -> None:
    path = tmp_path / "a.json"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ConfigError, match=match):
        load_aspects(path)


def test_selection() -> None:
    registry = load_aspects(None)
    assert parse_aspect_names(" sentiment, prediction ") == ("sentiment", "prediction")
    assert parse_aspect_names("") is None
    assert [a.name for a in registry.select(None)] == list(DEFAULT_ASPECT_NAMES)
    with pytest.raises(ConfigError, match="unknown aspect 'nope'"):
        registry.select(["nope"])

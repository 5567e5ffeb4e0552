"""The training run's configuration: one frozen dataclass, recorded in the artifact."""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, field
from typing import Any

# Linears of each BERT layer that get a low-rank update (names relative to the layer).
LORA_TARGETS: tuple[str, ...] = (
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
)


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one run. Defaults are a plain run's (a teacher of the shipped
    model); ``training.embedded.recipe`` lists what the shipped student changes."""

    version: str = "1.4.0"
    # encoder input
    max_length: int = 128  # serving truncation, recorded in config.json
    train_max_length: int = 64  # training truncation: p99 of the training texts is < 40 tokens
    pooling: str = "mean"
    # adapters
    lora_rank: int = 32
    lora_alpha: float = 32.0
    lora_dropout: float = 0.1
    lora_targets: tuple[str, ...] = LORA_TARGETS
    train_layer_norms: bool = True
    # optimisation
    epochs: int = 5
    batch_size: int = 32
    lr: float = 6e-4
    head_lr: float = 2e-3
    weight_decay: float = 0.01
    warmup_frac: float = 0.06
    label_smoothing: float = 0.05
    # exponential moving average of the trainable weights; dev evaluation, model selection
    # and the artifact use the averaged weights (0 turns it off)
    ema_decay: float = 0.0
    seed: int = 13
    threads: int = 2
    # data mixing (see training.embedded.data)
    source_weights: dict[str, float] = field(
        default_factory=lambda: {"tfns": 1.0, "sentfin": 1.0, "aspects": 1.0}
    )
    aspects_oversample: int = 2  # the hand-labelled aspect rows are few: repeat them per epoch
    drop_sentfin_neutral_losses: bool = True
    # lexical head (models.lexical): hashed n-gram TF-IDF + logistic regression per aspect,
    # blended with the encoder at a per-aspect weight chosen on dev from the grid
    lexical: bool = True
    lexical_hash_bits: int = 20
    lexical_min_df: int = 3
    lexical_c: float = 3.0
    lexical_weight_grid: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
    # knowledge distillation: artifacts whose (geometric-mean, encoder-only) probabilities on
    # the training rows are mixed into the targets at distill_weight; () trains on labels only
    teachers: tuple[str, ...] = ()
    distill_weight: float = 0.5
    # K > 1: each teacher's encoder probabilities are blended (at the teacher's own lexical
    # weights) with an out-of-fold lexical model: K folds over the training texts, each fold
    # scored by a lexical model fitted on the others, so no row is scored by a model that saw it
    teacher_lexical_folds: int = 0
    # the aspects whose teachers get that blend: the hand-labelled aspects have ~1,200 rows,
    # too few for a lexical model fitted on 4/5 of them to teach (measured: it lowered the
    # forward-looking and prediction dev scores); sentiment's has ~17,000
    teacher_lexical_aspects: tuple[str, ...] = ("sentiment",)
    # warm start: an artifact whose adapters, LayerNorms and heads initialise the network
    # (same LoRA shape); None starts from the base encoder with fresh adapters and heads
    init_from: str | None = None
    dev_frac: float = 0.1  # carved from each training source, for model selection
    sentfin_test_frac: float = 0.1  # SEntFiN held out entirely, reported once at the end
    limit: int | None = None  # train on the first N rows only (smoke runs)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["lora_targets"] = list(self.lora_targets)
        data["lexical_weight_grid"] = list(self.lexical_weight_grid)
        data["teachers"] = list(self.teachers)
        data["teacher_lexical_aspects"] = list(self.teacher_lexical_aspects)
        return data


def add_mode_flags(parser: argparse.ArgumentParser) -> None:
    """The run's mode switches, shared by ``python -m training.embedded.train`` and
    ``finfeed train-embedded`` (kept here: importing this module does not import torch)."""
    parser.add_argument(
        "--resume", action="store_true", help="continue from the checkpoint in --work-dir"
    )
    parser.add_argument(
        "--finalize",
        action="store_true",
        help="stop training: write the artifact from the checkpoint's best state",
    )
    parser.add_argument(
        "--lexical-only",
        action="store_true",
        help="refit only the lexical head of the artifact in --out (encoder untouched)",
    )
    parser.add_argument(
        "--no-lexical", action="store_true", help="write the encoder without a lexical head"
    )

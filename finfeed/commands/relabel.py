"""``finfeed relabel``: the active-learning loop that fixes LLM labels with linear models.

Where every linear model (one per embedding, out of fold) agrees on a label and the file's
label disagrees, an oracle LLM behind an OpenAI-compatible endpoint is asked; rows where it
agrees with the linear models are relabelled; the weakest linear model is dropped; the rest
retrain; repeat until no row changes. Writes the relabelled JSON Lines (changed rows keep
``label_before`` and ``relabelled_round``) and a per-round log. See
training/active_learning.py.
"""

from __future__ import annotations

import argparse
from typing import Any

from finfeed.commands._training_options import Opt, command

OPTS = (
    Opt(
        "input",
        "FINFEED_RELABEL_INPUT",
        "labelled JSON Lines (e.g. finfeed label's output)",
        required=True,
        short="-i",
    ),
    Opt(
        "output",
        "FINFEED_RELABEL_OUTPUT",
        "relabelled JSON Lines to write",
        required=True,
        short="-o",
    ),
    Opt("aspect", "FINFEED_RELABEL_ASPECT", "aspect the labels answer", default="sentiment"),
    Opt("aspects_file", "FINFEED_ASPECTS_FILE", "YAML/JSON file declaring more aspects"),
    Opt("text_field", "FINFEED_RELABEL_TEXT_FIELD", "field holding the text", default="text"),
    Opt(
        "label_field",
        "FINFEED_RELABEL_LABEL_FIELD",
        "field holding the label (default: the aspect's name, else label)",
    ),
    Opt("val", "FINFEED_RELABEL_VAL", "validation JSON Lines (default: a stable slice of --input)"),
    Opt(
        "val_fraction",
        "FINFEED_RELABEL_VAL_FRACTION",
        "validation share without --val",
        type=float,
        default=0.1,
    ),
    Opt(
        "embedders",
        "FINFEED_RELABEL_EMBEDDERS",
        "linear members' embeddings",
        default="minilm,tfidf,tfidf-char",
    ),
    Opt("folds", "FINFEED_RELABEL_FOLDS", "folds for out-of-fold predictions", type=int, default=5),
    Opt(
        "max_rounds",
        "FINFEED_RELABEL_MAX_ROUNDS",
        "stop after this many rounds",
        type=int,
        default=10,
    ),
    Opt(
        "min_members",
        "FINFEED_RELABEL_MIN_MEMBERS",
        "never drop below this many linear models",
        type=int,
        default=1,
    ),
    Opt("seed", "FINFEED_RELABEL_SEED", "random seed", type=int, default=13),
    Opt(
        "oracle_base_url",
        "FINFEED_RELABEL_ORACLE_BASE_URL",
        "oracle's OpenAI-compatible base URL",
        required=True,
    ),
    Opt(
        "oracle_models",
        "FINFEED_RELABEL_ORACLE_MODELS",
        "oracle model name(s), comma-separated",
        required=True,
    ),
    Opt("oracle_api_key", "FINFEED_RELABEL_ORACLE_API_KEY", "bearer token for the oracle endpoint"),
    Opt(
        "oracle_concurrency",
        "FINFEED_RELABEL_ORACLE_CONCURRENCY",
        "oracle requests in flight",
        type=int,
        default=16,
    ),
    Opt(
        "oracle_timeout",
        "FINFEED_RELABEL_ORACLE_TIMEOUT",
        "oracle request timeout, seconds",
        type=float,
        default=60.0,
    ),
    Opt("log", "FINFEED_RELABEL_LOG", "round log JSON (default <output>.rounds.json)"),
)


def register(subparsers: Any) -> None:
    command(
        subparsers,
        "relabel",
        help="active-learning relabelling: linear models flag, an oracle LLM decides",
        description=" ".join(__doc__.split("\n\n")[1].split()),
        opts=OPTS,
        run=run,
    )


def run(args: argparse.Namespace) -> int:
    from training import active_learning

    return active_learning.run(args)

"""``finfeed label``: label snippets with an ensemble of LLMs behind an OpenAI-compatible API.

Each model of ``--models`` answers every snippet with a one-sentence rationale and a label;
the majority vote is the label (ties abstain or follow ``--tie``). Writes JSONL with every
vote and rationale, the majority and the agreement, and a JSON report (agreement, per-model
abstentions and retries, token usage and cost, and with ``--human-field`` the accuracy
against human labels listing each disagreement's rationales). See training/llm_labelling.py.
"""

from __future__ import annotations

import argparse
from typing import Any

from finfeed.commands._training_options import Opt, command

OPTS = (
    Opt("input", "FINFEED_LABEL_INPUT", "JSON Lines file of snippets", required=True, short="-i"),
    Opt(
        "output", "FINFEED_LABEL_OUTPUT", "labelled JSON Lines to write", required=True, short="-o"
    ),
    Opt("aspect", "FINFEED_LABEL_ASPECT", "aspect to label", default="sentiment"),
    Opt("aspects_file", "FINFEED_ASPECTS_FILE", "YAML/JSON file declaring more aspects"),
    Opt(
        "base_url",
        "FINFEED_LABEL_BASE_URL",
        "OpenAI-compatible base URL (…/v1)",
        required=True,
    ),
    Opt("api_key", "FINFEED_LABEL_API_KEY", "bearer token for the endpoint"),
    Opt(
        "models",
        "FINFEED_LABEL_MODELS",
        "comma-separated model names (the ensemble)",
        required=True,
    ),
    Opt("concurrency", "FINFEED_LABEL_CONCURRENCY", "requests in flight", type=int, default=16),
    Opt("retries", "FINFEED_LABEL_RETRIES", "retries per request", type=int, default=4),
    Opt("timeout", "FINFEED_LABEL_TIMEOUT", "request timeout, seconds", type=float, default=60.0),
    Opt(
        "backoff",
        "FINFEED_LABEL_BACKOFF",
        "first retry delay, seconds (doubles)",
        type=float,
        default=1.0,
    ),
    Opt(
        "tie",
        "FINFEED_LABEL_TIE",
        "tie rule: 'abstain' or a label priority such as neutral,negative,positive",
        default="abstain",
    ),
    Opt("json_mode", "FINFEED_LABEL_JSON_MODE", "send response_format=json_object", flag=True),
    Opt(
        "prompt_file",
        "FINFEED_LABEL_PROMPT_FILE",
        "labelling prompt body replacing the built-in one",
    ),
    Opt("text_field", "FINFEED_LABEL_TEXT_FIELD", "field holding the text", default="text"),
    Opt(
        "output_field",
        "FINFEED_LABEL_OUTPUT_FIELD",
        "field the majority label is written to",
        default="label",
    ),
    Opt("human_field", "FINFEED_LABEL_HUMAN_FIELD", "field with human labels to compare against"),
    Opt(
        "price_in",
        "FINFEED_LABEL_PRICE_IN",
        "price per million input tokens",
        type=float,
        default=0.0,
    ),
    Opt(
        "price_out",
        "FINFEED_LABEL_PRICE_OUT",
        "price per million output tokens",
        type=float,
        default=0.0,
    ),
    Opt("limit", "FINFEED_LABEL_LIMIT", "label the first N rows only", type=int),
    Opt(
        "resume",
        "FINFEED_LABEL_RESUME",
        "append to --output, skipping rows (by id, else text) it already holds",
        flag=True,
    ),
    Opt("report", "FINFEED_LABEL_REPORT", "report JSON path (default <output>.report.json)"),
)


def register(subparsers: Any) -> None:
    command(
        subparsers,
        "label",
        help="label snippets with an LLM ensemble (OpenAI-compatible endpoint)",
        description=" ".join(__doc__.split("\n\n")[1].split()),
        opts=OPTS,
        run=run,
    )


def run(args: argparse.Namespace) -> int:
    from training import llm_labelling

    return llm_labelling.run(args)

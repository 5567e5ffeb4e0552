"""``finfeed backfill``: historical files through the same pipeline, no Kafka, Parquet out.

Reads ``--input`` (JSON Lines: one raw message a line; or Parquet: one snippet a row with
the input contract's column names), validates, dedupes on event time (7-day horizon by
default), scores with the configured classifier and writes ``enriched``, ``timeseries``,
``duplicates`` and ``deadletter`` Parquet files under ``--output``. Knowledge time is when
the backfill scored a snippet, or with ``--knowledge-time event`` its publication time (as
if it had been scored live).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from finfeed.commands._options import add_classifier_options, add_option, classifier_settings
from finfeed.commands.worker import add_enrichment_options, worker_settings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "backfill",
        help="run historical JSON Lines / Parquet files through the pipeline into Parquet",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    add_option(
        parser,
        "--input",
        "-i",
        env="FINFEED_BACKFILL_INPUT",
        read_env=True,
        help="FILE.jsonl(.gz) or FILE.parquet",
    )
    add_option(
        parser,
        "--output",
        "-o",
        env="FINFEED_BACKFILL_OUTPUT",
        read_env=True,
        help="output directory (enriched/, timeseries/, duplicates/, deadletter/)",
    )
    add_option(
        parser,
        "--knowledge-time",
        env="FINFEED_BACKFILL_KNOWLEDGE_TIME",
        choices=["processing", "event"],
        default="processing",
        read_env=True,
        help="knowledge time of the points: when scored (default) or the event time",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace Parquet files already in --output"
    )
    add_enrichment_options(parser)
    add_classifier_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from tqdm import tqdm

    from models.errors import ClassifierError
    from pipeline.errors import PipelineError
    from workers.backfill import Backfill, BackfillOptions
    from workers.enricher import EnrichConfig, company_tagging
    from workers.errors import WorkerError
    from workers.runtime import classifier_for

    if not args.input or not args.output:
        print("finfeed backfill: --input and --output are required", file=sys.stderr)
        return 2
    source = Path(args.input)
    if not source.is_file():
        print(f"finfeed backfill: {source} not found", file=sys.stderr)
        return 1
    cls_cfg = classifier_settings(args)
    worker_cfg = worker_settings(args)
    options = BackfillOptions(
        input=source,
        output=Path(args.output),
        batch_size=cls_cfg.batch_size,
        knowledge_time=args.knowledge_time,
        overwrite=args.overwrite,
    )
    bar = tqdm(unit="msg", desc="backfill", disable=not sys.stderr.isatty())
    try:
        classifier, aspects = classifier_for(cls_cfg)
        try:
            backfill = Backfill(
                classifier,
                aspects,
                options,
                config=EnrichConfig.from_settings(worker_cfg),
                tag_companies=company_tagging(worker_cfg.company_registry),
                progress=lambda n: _advance(bar, n),
            )
            stats = backfill.run()
        finally:
            classifier.close()
            bar.close()
    except (WorkerError, PipelineError, ClassifierError) as exc:
        print(f"finfeed backfill: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({**stats.to_dict(), "output": str(options.output)}))
    return 0


def _advance(bar: Any, n: int) -> None:
    bar.update(n)

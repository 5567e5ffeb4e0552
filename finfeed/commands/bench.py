"""``finfeed bench``: end-to-end throughput of broker + Redis + worker (prints figures).

Runs ``bench/bench_pipeline.py`` from the source checkout: the embedded classifier alone,
the pipeline end to end with it, the ratio of the two, the pipeline with a zero-cost scorer
(its own overhead), and the worker's memory. Arguments after ``--`` go to the benchmark
(``finfeed bench -- --n-zero 50000 --skip-embedded``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_pipeline.py"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="benchmark the pipeline end to end (embedded broker, Redis, worker)",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    parser.add_argument(
        "bench_args", nargs=argparse.REMAINDER, help="arguments for bench_pipeline.py"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import importlib.util

    if not BENCH.is_file():
        print(
            f"finfeed bench: {BENCH} not found; run it from a source checkout of finfeed",
            file=sys.stderr,
        )
        return 1
    spec = importlib.util.spec_from_file_location("finfeed_bench_pipeline", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    forwarded = [a for a in args.bench_args if a != "--"]
    return int(module.main(forwarded))

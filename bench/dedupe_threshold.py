"""Choose the near-duplicate threshold on labelled reprint pairs; print figures, assert nothing.

    .venv/bin/python bench/dedupe_threshold.py [--pairs bench/data/reprints.jsonl]

For each shingle size and threshold it prints precision / recall / F1 of the decision the
store makes ("exact hash equal, or estimated Jaccard >= threshold") over
bench/data/reprints.jsonl, the per-kind recall (or false-positive rate) at the chosen
setting, the largest-similarity not-duplicates and smallest-similarity duplicates (the
margin), and the LSH S-curve of the bands x rows split: the probability that a pair of a
given true similarity becomes a candidate at all.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipeline.dedupe import (  # noqa: E402
    DEFAULT_BANDS,
    DEFAULT_MIN_NEAR_TOKENS,
    DEFAULT_ROWS,
    DEFAULT_SHINGLE_SIZE,
    RECOMMENDED_THRESHOLD,
    Fingerprinter,
    candidate_probability,
    estimated_jaccard,
)
from pipeline.normalize import normalize_text  # noqa: E402

THRESHOLDS = (0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)
SHINGLE_SIZES = (1, 2, 3, 4, 5)


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def prf(pred: list[bool], gold: list[bool]) -> tuple[float, float, float, int, int]:
    tp = sum(p and g for p, g in zip(pred, gold, strict=True))
    fp = sum(p and not g for p, g in zip(pred, gold, strict=True))
    fn = sum(g and not p for p, g in zip(pred, gold, strict=True))
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1, fp, fn


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--pairs", type=Path, default=REPO / "bench" / "data" / "reprints.jsonl")
    ap.add_argument(
        "--chosen", type=float, default=RECOMMENDED_THRESHOLD, help="threshold to detail"
    )
    args = ap.parse_args()
    pairs = [
        json.loads(line) for line in args.pairs.read_text(encoding="utf-8").splitlines() if line
    ]
    gold = [p["label"] == "dup" for p in pairs]
    print(f"{len(pairs)} pairs: {sum(gold)} dup, {len(gold) - sum(gold)} not_dup ({args.pairs})")

    norm = [(normalize_text(p["a"]), normalize_text(p["b"])) for p in pairs]
    exact = [a == b for a, b in norm]
    print(
        f"exact-hash matches: {sum(exact)} ({sum(e and g for e, g in zip(exact, gold, strict=True))} of them dup)\n"
    )

    print(
        "true Jaccard of the fingerprint features (no MinHash error): F1 by shingle size x threshold"
    )
    print("(short = texts under 10 words match only as exact copies; plain = every text shingled)")
    print("k       " + " ".join(f"{t:>6.2f}" for t in THRESHOLDS))
    for k in SHINGLE_SIZES:
        for label, min_tokens in (("short", DEFAULT_MIN_NEAR_TOKENS), ("plain", 0)):
            feat = Fingerprinter(shingle_size=k, min_near_tokens=min_tokens).features
            sims = [jaccard(set(feat(a)), set(feat(b))) for a, b in norm]
            row = [
                prf([e or s >= t for e, s in zip(exact, sims, strict=True)], gold)[2]
                for t in THRESHOLDS
            ]
            print(f"{k} {label}  " + " ".join(f"{f:6.3f}" for f in row))

    fpr = Fingerprinter()
    print(f"\nMinHash estimate with the default Fingerprinter {fpr.describe()}")
    fps = [(fpr.fingerprint(p["a"]), fpr.fingerprint(p["b"])) for p in pairs]
    est = [estimated_jaccard(a.minhash, b.minhash) for a, b in fps]
    # what the store decides: exact hash, or a shared LSH band AND estimate >= threshold
    banded = [bool(set(a.bands) & set(b.bands)) for a, b in fps]
    print("decision as the store makes it (exact hash, or shared band and estimate >= threshold)")
    print(f"{'threshold':>9} {'precision':>9} {'recall':>7} {'F1':>6} {'FP':>3} {'FN':>3}")
    for t in THRESHOLDS:
        pred = [e or (c and s >= t) for e, c, s in zip(exact, banded, est, strict=True)]
        p, r, f, nfp, nfn = prf(pred, gold)
        print(f"{t:9.2f} {p:9.3f} {r:7.3f} {f:6.3f} {nfp:3d} {nfn:3d}")

    by_kind: dict[tuple[str, str], list[bool]] = defaultdict(list)
    for p, e, s in zip(pairs, exact, est, strict=True):
        by_kind[(p["label"], p["kind"])].append(e or s >= args.chosen)  # band hit ~ certain here
    print(f"\nper kind at threshold {args.chosen}: share called duplicate")
    for (label, kind), calls in sorted(by_kind.items()):
        print(
            f"  {label:8} {kind:32} {sum(calls):3d}/{len(calls):3d} = {sum(calls) / len(calls):.2f}"
        )

    dup_sims = sorted(
        (s, p["id"], p["kind"]) for p, s, g in zip(pairs, est, gold, strict=True) if g
    )
    non_sims = sorted(
        ((s, p["id"], p["kind"]) for p, s, g in zip(pairs, est, gold, strict=True) if not g),
        reverse=True,
    )
    print(
        "\nlowest-similarity duplicates:    "
        + ", ".join(f"{s:.2f} {k}" for s, _, k in dup_sims[:6])
    )
    print(
        "highest-similarity not-duplicates: "
        + ", ".join(f"{s:.2f} {k}" for s, _, k in non_sims[:6])
    )

    print(
        f"\nLSH S-curve: P(candidate) for true Jaccard s, bands x rows (default {DEFAULT_BANDS}x{DEFAULT_ROWS}, shingle {DEFAULT_SHINGLE_SIZE})"
    )
    sims_axis = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
    print("b x r    " + " ".join(f"{s:>6.1f}" for s in sims_axis))
    for b, r in ((16, 8), (20, 6), (32, 4), (42, 3), (64, 2)):
        mark = " <- default" if (b, r) == (DEFAULT_BANDS, DEFAULT_ROWS) else ""
        print(
            f"{b:2d} x {r}   "
            + " ".join(f"{candidate_probability(s, b, r):6.3f}" for s in sims_axis)
            + mark
        )


if __name__ == "__main__":
    main()

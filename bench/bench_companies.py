"""Company tagging: precision/recall on the labelled set, per method and category, fuzzy
threshold sweep, throughput, SEntFiN target recall and S&P 500 registry coverage.

Run: .venv/bin/python bench/bench_companies.py [--errors] [--shared-data ../shared/data]

Figures (all from this run, printed):
- micro precision / recall / F1 over (sentence, symbol) pairs of
  training/data/companies_eval.jsonl, per category and per detection method, for the "dev"
  split (used while writing the rules) and the "holdout" split (written afterwards and not
  tuned on: the honest figure);
- the same at several rapidfuzz thresholds (the Levenshtein-ratio cut-off for name variants);
- throughput of ``CompanyTagger.tag`` on one core (snippets/s) on the eval texts and on
  ~200-character texts;
- SEntFiN (``sentfin/sentences.jsonl``): its ``targets`` are entity strings, most of them not
  listed companies (people, sectors, indices, unlisted firms). We count a target as "in the
  registry" when its string resolves exactly (name or alias key; no ticker reading, so the
  sector "IT" is not Gartner; no fuzzy matching) to a registry
  company, and report the share of those in-registry targets whose company the tagger finds
  in the headline: a recall figure for companies we know, not for all entities;
- S&P 500 coverage: share of ``sp500/companies.jsonl`` symbols the registry resolves.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipeline.companies import CompanyRegistry, CompanyTagger  # noqa: E402

EVAL = REPO / "training" / "data" / "companies_eval.jsonl"
SHARED = Path(os.environ.get("FINFEED_SHARED_DATA", REPO.parent / "shared" / "data"))


def load_eval(path: Path = EVAL) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def evaluate(tagger: CompanyTagger, rows: list[dict[str, object]], show_errors: bool) -> None:
    tp = fp = fn = 0
    by_cat: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    by_method: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    errors: list[str] = []
    for row in rows:
        text = str(row["text"])
        gold = set(row["gold"])  # type: ignore[call-overload]
        mentions = tagger.find(text)
        first_method: dict[str, str] = {}
        for m in mentions:
            first_method.setdefault(m.symbol, m.method)
        pred = set(first_method)
        cat = by_cat[str(row["category"])]
        t, f, n = len(pred & gold), len(pred - gold), len(gold - pred)
        tp, fp, fn = tp + t, fp + f, fn + n
        cat[0], cat[1], cat[2] = cat[0] + t, cat[1] + f, cat[2] + n
        for symbol, method in first_method.items():
            by_method[method][0 if symbol in gold else 1] += 1
        if f or n:
            errors.append(
                f"  [{row['category']}] {text}\n      gold={sorted(gold)} pred={sorted(pred)}"
            )
    p, r, f1 = prf(tp, fp, fn)
    print(f"eval set: {len(rows)} sentences, {tp + fn} gold (sentence, company) pairs")
    print(f"micro precision {p:.3f}  recall {r:.3f}  F1 {f1:.3f}  (tp={tp} fp={fp} fn={fn})")
    print("per category (tp/fp/fn, P, R):")
    for name, (ct, cf, cn) in sorted(by_cat.items()):
        cp, cr, _ = prf(ct, cf, cn)
        print(f"  {name:14s} {ct:4d}/{cf:3d}/{cn:3d}  P={cp:.3f} R={cr:.3f}")
    print("per method of the first mention (correct / wrong symbols, precision):")
    for method, (good, bad) in sorted(by_method.items()):
        print(f"  {method:8s} {good:4d} / {bad:3d}  P={good / (good + bad):.3f}")
    if show_errors:
        print(f"errors ({len(errors)} sentences):")
        print("\n".join(errors))


def sweep(registry: CompanyRegistry, rows: list[dict[str, object]]) -> None:
    print("fuzzy threshold sweep (Levenshtein ratio for name variants):")
    for threshold in (None, 75.0, 80.0, 85.0, 90.0, 95.0):
        tagger = CompanyTagger(registry, fuzzy_threshold=threshold)
        tp = fp = fn = 0
        for row in rows:
            gold = set(row["gold"])  # type: ignore[call-overload]
            pred = set(tagger.tag(str(row["text"])))
            tp, fp, fn = tp + len(pred & gold), fp + len(pred - gold), fn + len(gold - pred)
        p, r, f1 = prf(tp, fp, fn)
        label = "off" if threshold is None else f"{threshold:.0f}"
        print(f"  threshold {label:>3s}: P={p:.3f} R={r:.3f} F1={f1:.3f}")


def throughput(tagger: CompanyTagger, texts: list[str], label: str, seconds: float = 3.0) -> None:
    """Snippets per CPU-second of this process (robust to other jobs on a shared machine)
    and per wall-clock second (what a loaded machine actually delivers)."""
    cpu_rates: list[float] = []
    wall_rates: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        c0, w0 = time.process_time(), time.perf_counter()
        for text in texts:
            tagger.tag(text)
        cpu_rates.append(len(texts) / max(time.process_time() - c0, 1e-9))
        wall_rates.append(len(texts) / (time.perf_counter() - w0))
    mean_chars = statistics.fmean(len(t) for t in texts)
    print(
        f"throughput ({label}, {len(texts)} texts, mean {mean_chars:.0f} chars, one core): "
        f"median {statistics.median(cpu_rates):,.0f} snippets per CPU-second, "
        f"{statistics.median(wall_rates):,.0f} per wall second over {len(cpu_rates)} passes"
    )


def sentfin(tagger: CompanyTagger, registry: CompanyRegistry) -> None:
    path = SHARED / "sentfin" / "sentences.jsonl"
    if not path.exists():
        print(f"sentfin: {path} not found, skipped")
        return
    targets = in_registry = found = 0
    tagged_sentences = extra = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        text = row["text"]
        predicted = tagger.tag(text)
        known: set[str] = set()
        for target in row.get("targets", []):
            targets += 1
            symbol = registry.resolve_name(target["target"], threshold=None, tickers=False)
            if symbol is None:
                continue
            in_registry += 1
            known.add(symbol)
            found += symbol in predicted
        tagged_sentences += bool(predicted)
        extra += len(set(predicted) - known)
    print(
        f"sentfin: {targets} entity targets; {in_registry} ({in_registry / targets:.1%}) resolve "
        f"exactly to a registry company; the tagger finds {found} of those "
        f"({found / max(in_registry, 1):.1%} resolved share of in-registry targets)"
    )
    print(
        f"sentfin: {tagged_sentences} headlines tagged; {extra} tags are not among the "
        "in-registry targets (an upper bound on false positives: SEntFiN lists one or a few "
        "entities per headline, not every company named)"
    )


def sp500_coverage(registry: CompanyRegistry) -> None:
    path = SHARED / "sp500" / "companies.jsonl"
    if not path.exists():
        print(f"sp500: {path} not found, skipped")
        return
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    missing = [r["symbol"] for r in rows if registry.resolve_ticker(r["symbol"]) is None]
    covered = len(rows) - len(missing)
    print(f"sp500 coverage: {covered}/{len(rows)} symbols ({covered / len(rows):.1%}) resolve")
    if missing:
        print(f"  missing: {' '.join(sorted(missing))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--errors", action="store_true", help="print every misclassified sentence")
    args = parser.parse_args()

    t0 = time.perf_counter()
    registry = CompanyRegistry.load()
    print(f"registry: {len(registry)} companies loaded in {time.perf_counter() - t0:.3f} s")
    tagger = CompanyTagger(registry)
    rows = load_eval()
    for split in ("dev", "holdout"):
        part = [r for r in rows if r.get("split") == split]
        print(f"--- {split} split ---")
        evaluate(tagger, part, args.errors)
    print("--- all ---")
    evaluate(tagger, rows, False)
    sweep(registry, rows)
    texts = [str(r["text"]) for r in rows]
    throughput(tagger, texts, "eval set")
    long_texts = [" ".join(texts[i : i + 4])[:200] for i in range(0, len(texts) - 3)]
    throughput(tagger, long_texts, "~200-char texts")
    tfns = SHARED / "tfns" / "validation.jsonl"
    if tfns.exists():
        tweets = [json.loads(x)["text"] for x in tfns.read_text(encoding="utf-8").splitlines()]
        throughput(tagger, tweets[:2000], "TFNS tweets")
        counts = Counter(m.method for t in tweets for m in tagger.find(t))
        print(f"TFNS validation mentions by method: {dict(counts.most_common())}")
    sentfin(tagger, registry)
    sp500_coverage(registry)


if __name__ == "__main__":
    main()

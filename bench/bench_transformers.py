"""Benchmark the transformers backend: snippets/s and MFU, one aspect vs three, both layouts.

A Qwen3-0.6B-shaped model (the real config values, random weights) with the faithful Qwen3
tokenizer (models/qwen_tokenizer.py) scores real finance snippets (../shared/data/tfns) on:

* NOSIBLE layout (system-first): one model per aspect, as the published checkpoints;
  3 aspects = 3 models = 3 passes over the text;
* text-first shared-prefix layout: one multi-aspect model; the text's KV cache is computed
  once and expanded across aspects, each adding only its suffix tokens.

It prints throughput, useful FLOPs and MFU for each, and the 3-aspect / 1-aspect cost ratios.
FLOPs per token = 2 * non-embedding params (the label-row head is negligible) plus the
attention term 4 * layers * heads * head_dim * context. Padding is not counted as useful.

    python bench/bench_transformers.py --small          # CPU, scaled-down config
    python bench/bench_transformers.py                  # GPU, Qwen3-0.6B shape, bf16
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# bf16 dense peak TFLOPS per GPU (no sparsity)
PEAK_TFLOPS = {
    "H100": 989.0,
    "H200": 989.0,
    "A100": 312.0,
    "L40S": 362.0,
    "L4": 121.0,
    "A10": 125.0,
}

QWEN3_06B = dict(
    hidden_size=1024,
    num_hidden_layers=28,
    num_attention_heads=16,
    num_key_value_heads=8,
    head_dim=128,
    intermediate_size=3072,
    vocab_size=151936,
    tie_word_embeddings=True,
    max_position_embeddings=40960,
    rope_theta=1000000.0,
    rms_norm_eps=1e-6,
)
SMALL = dict(
    QWEN3_06B,
    hidden_size=256,
    num_hidden_layers=4,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=64,
    intermediate_size=768,
)


def load_texts(n: int) -> list[str]:
    data = Path(os.environ.get("FINFEED_SHARED_DATA", REPO.parent / "shared" / "data"))
    path = data / "tfns" / "validation.jsonl"
    texts = [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines()]
    reps = (n + len(texts) - 1) // len(texts)
    return (texts * reps)[:n]


def save_model(root: Path, config_kw: dict, tokenizer, layout: str, names: list[str]) -> list[Path]:
    """One set of random weights, saved once; other dirs link to the same files."""
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(0)
    model = Qwen3ForCausalLM(Qwen3Config(**config_kw))
    first = root / names[0]
    model.save_pretrained(str(first))
    tokenizer.save_pretrained(str(first))
    dirs = [first]
    for name in names[1:]:
        d = root / name
        d.mkdir()
        for f in first.iterdir():
            (d / f.name).symlink_to(f)
        dirs.append(d)
    for d in dirs:
        (d / "finfeed.json").unlink(missing_ok=True)
        (d / "finfeed.json").write_text(json.dumps({"prompt_layout": layout}))
    del model
    return dirs


def flops_per_sequence(cfg: dict, n_tokens: int, ctx_start: int = 0) -> float:
    """Forward FLOPs for n_tokens new tokens after ctx_start cached ones."""
    h, layers, inter = cfg["hidden_size"], cfg["num_hidden_layers"], cfg["intermediate_size"]
    heads, kv, hd = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
    per_layer = h * heads * hd + 2 * h * kv * hd + heads * hd * h + 3 * h * inter
    dense = 2 * layers * per_layer * n_tokens
    ctx = sum(ctx_start + i + 1 for i in range(n_tokens))
    attention = 4 * layers * heads * hd * ctx
    return float(dense + attention)


def useful_flops(clf, cfg: dict, texts: list[str], aspects) -> float:
    from models.prompting import encode, system_first_prompt

    total = 0.0
    for aspect in aspects:
        lm = clf._aspect_model[aspect.name]
        clf._plan(lm, aspect)
        for text in texts:
            if lm.layout == "text-first":
                continue
            total += flops_per_sequence(
                cfg, len(encode(lm.tokenizer, system_first_prompt(lm.tokenizer, aspect, text)))
            )
    lm = clf._aspect_model[aspects[0].name]
    if lm.layout == "text-first":
        plans = [clf._plan(lm, a) for a in aspects]
        head = plans[0].template.head
        for text in texts:
            n = len(encode(lm.tokenizer, head + text))
            total += flops_per_sequence(cfg, n)
            total += sum(flops_per_sequence(cfg, len(p.suffix_ids), n) for p in plans)
    return total


def run_case(clf, aspects, texts, cfg, device) -> tuple[float, float]:
    import torch

    clf.classify(texts[: min(len(texts), clf.batch_size)], aspects)  # warm-up
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    clf.classify(texts, aspects)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return seconds, useful_flops(clf, cfg, texts, aspects)


def main() -> int:
    import torch

    from models.qwen_tokenizer import qwen3_tokenizer
    from models.transformers_backend import TransformersClassifier
    from pipeline.aspects import FORWARD_LOOKING, PREDICTION, SENTIMENT

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--small", action="store_true", help="scaled-down config (CPU)")
    p.add_argument("--device", default=None, help="cpu, cuda (default: cuda when available)")
    p.add_argument("--n", type=int, default=None, help="snippets (default 4096 GPU, 128 --small)")
    p.add_argument("--batch-size", type=int, default=None, help="default 128 GPU, 16 CPU")
    p.add_argument("--dtype", default="auto")
    p.add_argument(
        "--peak-tflops",
        type=float,
        default=None,
        help="device peak for MFU (default: by GPU name; none on CPU)",
    )
    p.add_argument(
        "--tokenizer-cache", default=str(Path.home() / ".cache" / "finfeed" / "qwen3-tokenizer")
    )
    args = p.parse_args()

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    cfg = SMALL if args.small else QWEN3_06B
    n = args.n or (128 if args.small or device == "cpu" else 4096)
    batch = args.batch_size or (16 if device == "cpu" else 128)
    peak = args.peak_tflops
    gpu = torch.cuda.get_device_name(0) if device.startswith("cuda") else "cpu"
    if peak is None and device.startswith("cuda"):
        peak = next((v for k, v in PEAK_TFLOPS.items() if k in gpu), None)
    if device == "cpu":
        torch.set_num_threads(max(1, os.cpu_count() or 1))
    texts = load_texts(n)
    tok = qwen3_tokenizer(args.tokenizer_cache)
    aspects = [SENTIMENT, FORWARD_LOOKING, PREDICTION]
    print(
        f"device={gpu} config={'small' if args.small else 'qwen3-0.6b'} n={n} batch={batch} "
        f"dtype={args.dtype} peak_tflops={peak}"
    )
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        nosible = save_model(root, cfg, tok, "system-first", ["sentiment", "forward", "prediction"])
        shared = save_model(root, cfg, tok, "text-first", ["multi"])[0]
        layouts = {
            "nosible(system-first, 3 models)": {
                a.name: d for a, d in zip(aspects, nosible, strict=True)
            },
            "shared-prefix(text-first, 1 model)": {a.name: shared for a in aspects},
        }
        for label, paths in layouts.items():
            clf = TransformersClassifier(paths, device=device, dtype=args.dtype, batch_size=batch)
            for k in (1, 3):
                secs, flops = run_case(clf, aspects[:k], texts, cfg, device)
                tflops = flops / secs / 1e12
                mfu = f"{tflops / peak:.1%}" if peak else "n/a"
                results[(label, k)] = secs
                print(
                    f"{label:36s} aspects={k}  {n / secs:9.1f} snippets/s  {secs:7.2f} s  "
                    f"{tflops:7.3f} TFLOP/s  MFU={mfu}"
                )
            clf.close()
    for label in layouts:
        print(
            f"{label:36s} cost(3 aspects)/cost(1 aspect) = {results[(label, 3)] / results[(label, 1)]:.2f}"
        )
    a, b = "nosible(system-first, 3 models)", "shared-prefix(text-first, 1 model)"
    print(
        f"3 aspects: shared-prefix is {results[(a, 3)] / results[(b, 3)]:.2f}x faster than NOSIBLE layout"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

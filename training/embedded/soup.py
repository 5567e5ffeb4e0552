"""Average the encoders of several embedded artifacts into one (a uniform "model soup").

    python -m training.embedded.soup --out DIR ART1 ART2 [...]

Runs fine-tuned from the same base encoder (different seeds, say) land close enough in weight
space that the average of their weights scores better than either, at the cost of one model
(Wortsman et al. 2022, "Model soups"). For LoRA artifacts the average of the merged updates
``mean_i(scale_i * B_i @ A_i)`` is again low-rank: the factors are stacked,
``B = [B_1 ... B_k] / k`` and ``A = [A_1; ...; A_k]`` (rank ``sum r_i``, same scale), so the
soup is exact and loads through the normal adapter code. LayerNorms and heads are averaged.

The soup's config.json is the first artifact's with the LoRA rank, the version and a
``soup`` block (its ingredients) changed; then ``train-embedded --lexical-only --out DIR``
fits the lexical head and scores the held-out sets.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from models.embedded import EmbeddedArtifact


def soup(
    artifacts: Sequence[Path], out_dir: Path, version: str, max_rank: int | None = None
) -> Path:
    """Write the soup of ``artifacts`` to ``out_dir``; ``max_rank`` truncates each averaged
    update to its best rank-``max_rank`` approximation (SVD) to keep the artifact small."""
    if len(artifacts) < 2:
        raise ValueError("a soup needs at least two artifacts")
    loaded = [EmbeddedArtifact.load(a) for a in artifacts]
    scales = {a.lora_alpha / a.lora_rank for a in loaded}
    if len({(a.lora_targets, tuple(a.labels.items())) for a in loaded}) != 1:
        raise ValueError("artifacts differ in adapter targets or aspects")
    k = len(loaded)
    adapters = [load_file(str(a.directory / "adapters.safetensors")) for a in loaded]
    heads = [load_file(str(a.directory / "heads.safetensors")) for a in loaded]
    if len({frozenset(x) for x in adapters}) != 1 or len({frozenset(h) for h in heads}) != 1:
        raise ValueError("artifacts hold different tensors")
    merged: dict[str, torch.Tensor] = {}
    for key in adapters[0]:
        tensors = [a[key].float() for a in adapters]
        if key.endswith(".lora_A"):  # [r, in] stacked along the rank
            merged[key] = torch.cat(tensors, dim=0)
        elif key.endswith(".lora_B"):  # [out, r]; each scaled so the common scale applies
            parts = [t * (a.lora_alpha / a.lora_rank) for t, a in zip(tensors, loaded, strict=True)]
            merged[key] = torch.cat(parts, dim=1) / k
        else:
            merged[key] = torch.stack(tensors).mean(dim=0)
    rank = sum(a.lora_rank for a in loaded)
    if max_rank is not None and max_rank < rank:
        for key in [k_ for k_ in merged if k_.endswith(".lora_A")]:
            prefix = key[: -len(".lora_A")]
            delta = merged[f"{prefix}.lora_B"] @ merged[key]
            u, s, vh = torch.linalg.svd(delta, full_matrices=False)
            merged[f"{prefix}.lora_B"] = u[:, :max_rank] * s[:max_rank]
            merged[key] = vh[:max_rank]
        rank = max_rank
    for key, t in merged.items():
        if key.endswith(("lora_A", "lora_B")):
            merged[key] = t.half()
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(
        {k_: v.contiguous() for k_, v in merged.items()}, str(out_dir / "adapters.safetensors")
    )
    save_file(
        {
            key: torch.stack([h[key].float() for h in heads]).mean(dim=0).contiguous()
            for key in heads[0]
        },
        str(out_dir / "heads.safetensors"),
    )
    doc = json.loads((loaded[0].directory / "config.json").read_text(encoding="utf-8"))
    doc["version"] = version
    doc["lora"]["rank"] = rank
    doc["lora"]["alpha"] = float(rank)  # scale 1: the B factors above carry each run's scale
    doc["soup"] = {
        "ingredients": [{"version": a.version, "digest": a.digest[:16]} for a in loaded],
        "method": "uniform average of merged LoRA updates (stacked factors), LayerNorms, heads",
        "scales": sorted(scales),
    }
    doc.pop("lexical", None)
    doc["metrics"] = {}
    doc.pop("metrics_encoder_only", None)
    doc["training"]["config"]["version"] = version
    (out_dir / "config.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return out_dir


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("artifacts", type=Path, nargs="+")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--max-rank", type=int, default=None, help="SVD-truncate the updates")
    args = parser.parse_args()
    print(soup(args.artifacts, args.out, args.version, args.max_rank))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

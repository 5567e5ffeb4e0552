"""The trainable network: MiniLM-L6 frozen, LoRA on its linears, LayerNorms and heads trained.

Serving never imports this module: ``adapter_state`` writes the tensors that
``models.embedded.merged_network`` folds into the base weights.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import nn

from models.embedded import EncoderWithHeads, load_base_encoder
from training.embedded.config import TrainConfig


class LoRALinear(nn.Module):
    """``base(x) + scale * B(A(dropout(x)))`` with ``base`` frozen; B starts at zero."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float, dropout: float) -> None:
        super().__init__()
        self.base = base
        for p in self.base.parameters():
            p.requires_grad_(False)
        self.lora_A = nn.Parameter(torch.empty(rank, base.in_features))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.scale = alpha / rank
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        update = (self.dropout(x) @ self.lora_A.t()) @ self.lora_B.t()
        return self.base(x) + self.scale * update


def build_model(config: TrainConfig, labels: Mapping[str, Sequence[str]]) -> EncoderWithHeads:
    """Base encoder with LoRA injected, trainable LayerNorms (optional) and fresh heads."""
    torch.manual_seed(config.seed)
    encoder = load_base_encoder()
    for p in encoder.parameters():
        p.requires_grad_(False)
    for layer in encoder.encoder.layer:
        for target in config.lora_targets:
            parent_name, _, attr = target.rpartition(".")
            parent = layer.get_submodule(parent_name)
            base = getattr(parent, attr)
            setattr(
                parent,
                attr,
                LoRALinear(base, config.lora_rank, config.lora_alpha, config.lora_dropout),
            )
        if config.train_layer_norms:
            for module in layer.modules():
                if isinstance(module, nn.LayerNorm):
                    for p in module.parameters():
                        p.requires_grad_(True)
    hidden = int(encoder.config.hidden_size)
    heads = {name: nn.Linear(hidden, len(names)) for name, names in labels.items()}
    for head in heads.values():
        nn.init.normal_(head.weight, std=0.02)
        nn.init.zeros_(head.bias)
    model = EncoderWithHeads(encoder, heads, config.pooling)
    if config.init_from:
        warm_start(model, Path(config.init_from), config)
    return model


def warm_start(model: EncoderWithHeads, artifact_dir: Path, config: TrainConfig) -> None:
    """Load an artifact's adapters, LayerNorms and heads into ``model`` (built with the same
    LoRA shape and aspects), so training continues from the network it serves."""
    from safetensors.torch import load_file

    from models.embedded import EmbeddedArtifact

    artifact = EmbeddedArtifact.load(artifact_dir)
    shape = (artifact.lora_rank, artifact.lora_alpha, tuple(artifact.lora_targets))
    if shape != (config.lora_rank, config.lora_alpha, tuple(config.lora_targets)):
        raise ValueError(
            f"cannot warm-start from {artifact_dir}: LoRA (rank, alpha, targets) {shape} "
            f"differs from this run's"
        )
    ours = {name: model.heads[name].out_features for name in model.aspect_names}
    if {name: len(labels) for name, labels in artifact.labels.items()} != ours:
        raise ValueError(f"cannot warm-start from {artifact_dir}: its aspects differ")
    adapters = load_file(str(artifact_dir / "adapters.safetensors"))
    heads = load_file(str(artifact_dir / "heads.safetensors"))
    params = dict(model.encoder.named_parameters())
    trainable = {n for n, p in params.items() if p.requires_grad}
    if set(adapters) != trainable:
        raise ValueError(
            f"cannot warm-start from {artifact_dir}: its adapters do not match this run's "
            f"trainable tensors ({len(adapters)} vs {len(trainable)})"
        )
    with torch.no_grad():
        for name, tensor in adapters.items():
            params[name].copy_(tensor.float())
        for name in model.aspect_names:
            model.heads[name].weight.copy_(heads[f"{name}.weight"].float())
            model.heads[name].bias.copy_(heads[f"{name}.bias"].float())


def trainable_state(model: EncoderWithHeads) -> dict[str, torch.Tensor]:
    """Everything that training changed (LoRA, LayerNorms, heads), for checkpoints."""
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    return {n: t.detach().clone() for n, t in model.state_dict().items() if n in names}


def adapter_state(model: EncoderWithHeads) -> dict[str, torch.Tensor]:
    """``adapters.safetensors`` content: keys relative to the base ``BertModel``.

    ``encoder.layer.0.attention.self.query.lora_A`` and ``...LayerNorm.weight``, as
    ``models.embedded.merged_network`` expects (the ``.base`` wrapper level removed).
    """
    out: dict[str, torch.Tensor] = {}
    for name, param in model.encoder.named_parameters():
        if not param.requires_grad:
            continue
        key = name.replace(".base.", ".")
        # low-rank factors in fp16 (half the bytes); LayerNorms are tiny and stay fp32
        dtype = torch.float16 if key.endswith(("lora_A", "lora_B")) else torch.float32
        out[key] = param.detach().to(dtype).contiguous()
    return out


def head_state(model: EncoderWithHeads) -> dict[str, torch.Tensor]:
    """``heads.safetensors`` content: ``<aspect>.weight`` / ``<aspect>.bias`` in fp32."""
    return {
        f"{name}.{kind}": getattr(model.heads[name], kind).detach().float().contiguous()
        for name in model.aspect_names
        for kind in ("weight", "bias")
    }

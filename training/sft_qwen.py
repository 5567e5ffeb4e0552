"""Supervised fine-tuning of a Qwen3 causal LM as a label-token classifier, exported for serving.

    python -m training.sft_qwen --model /models/Qwen3-0.6B-Base --train labelled.jsonl \\
        --aspects sentiment --out runs/sentiment-sft

Step 7 of the published method (``../shared/METHOD.md``): next-token prediction of the label.
Each example is the serving prompt followed by the label token and the end token
(``<|im_end|>``); prompt tokens are masked with -100, so the loss falls on exactly two
positions; batches are LEFT padded, so every sequence ends at the last column and the label
is always predicted from column -3 (which lets the forward pass keep only the last three
positions' logits: the 151k-wide LM head is never applied to the prompt). Evaluation reads
the label position only (the end token excluded): the argmax over the aspect's label tokens,
scored with ``training.metrics`` (accuracy, macro-F1).

Prompts are built by ``models.prompting``, the code the transformers backend, the SGLang
client and the tests' fake SGLang server use, so training and serving tokenise identically:

``system-first`` (default, NOSIBLE's layout): system = ``aspect.system_prompt``, user = the
    text, ``enable_thinking=False``; one model per aspect, or several aspects in one model.
``text-first`` (``--layout text-first --aspects sentiment,forward_looking,prediction``): one
    model for all aspects, the text first and each aspect's instruction after it
    (``text_first_ids``), so serving encodes a text once and shares its KV cache.

Defaults are the published hyper-parameters: AdamW lr 2e-5, cosine schedule, 3 % warmup,
batch 16 x 4 accumulation, weight decay 0.1, NEFTune alpha 5, bf16 autocast on CUDA (fp32
on CPU), 5 epochs, best checkpoint by validation loss. The best checkpoint IS the export:
``save_pretrained`` weights + tokenizer + ``finfeed.json`` (model version, prompt layout,
aspects, metrics, config, step), which ``models.transformers_backend`` reads; serve it with
``finfeed classify --backend transformers --model-paths <out>``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from models.prompting import (
    PromptLayout,
    parse_layout,
)
from pipeline.aspects import Aspect
from training.errors import SFTError
from training.metrics import EvalReport, evaluate
from training.sft_data import (
    IGNORE,
    Example,
    PromptEncoder,
    batches,
    build_examples,
    collate,
)

log = logging.getLogger("finfeed.train_sft")

TAIL = 3  # logits kept per sequence: label position, end position, one past the end


# --------------------------------------------------------------------------- config


@dataclass(frozen=True)
class SFTConfig:
    """One fine-tuning run; defaults are the published hyper-parameters."""

    model_path: str
    output_dir: str
    aspects: tuple[str, ...] = ("sentiment",)
    layout: PromptLayout = "system-first"
    lr: float = 2e-5
    lr_scheduler: str = "cosine"
    warmup_ratio: float = 0.03
    batch_size: int = 16
    grad_accum: int = 4
    weight_decay: float = 0.1
    neftune_alpha: float = 5.0  # 0 disables NEFTune
    epochs: int = 5
    max_steps: int = 0  # optimiser steps; 0 = epochs decide
    eval_every: int = 0  # optimiser steps between evaluations; 0 = once per epoch
    eval_batch_size: int = 32
    max_length: int = 2048
    grad_clip: float = 1.0
    dtype: str = "auto"  # auto: bf16 autocast on CUDA, fp32 on CPU
    device: str | None = None
    seed: int = 13
    gradient_checkpointing: bool = False
    model_version: str | None = None
    save_state: bool = True  # <output_dir>/last/state.pt at each evaluation, for --resume

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------- model


def tail_logits(model: Any, batch: Mapping[str, Any], device: Any) -> Any:
    """Logits of the last ``TAIL`` positions [B, 3, V]; the LM head skips the prompt."""
    out = model(
        input_ids=batch["input_ids"].to(device),
        attention_mask=batch["attention_mask"].to(device),
        position_ids=batch["position_ids"].to(device),
        logits_to_keep=TAIL,
        use_cache=False,
    )
    return out.logits


def supervised_loss(logits: Any, labels: Any) -> Any:
    """Next-token cross-entropy on the supervised positions (mean over them).

    ``logits`` hold the last ``TAIL`` positions; the targets are the labels shifted by one.
    Left padding puts every supervised token in the last ``TAIL - 1`` columns; a label
    anywhere else would be silently dropped, so it raises.
    """
    import torch.nn.functional as F

    if (labels[:, : -(TAIL - 1)] != IGNORE).any():
        raise SFTError("supervised tokens outside the last positions: batch not left padded")
    targets = labels[:, -(TAIL - 1) :].to(logits.device)
    return F.cross_entropy(
        logits[:, :-1].float().reshape(-1, logits.size(-1)),
        targets.reshape(-1),
        ignore_index=IGNORE,
    )


def add_neftune(model: Any, alpha: float) -> Any:
    """NEFTune: uniform noise of scale alpha/sqrt(L*d) on input embeddings, training only."""
    embeddings = model.get_input_embeddings()

    def hook(module: Any, _inputs: Any, output: Any) -> Any:
        if not module.training:
            return output
        mag = alpha / math.sqrt(output.size(1) * output.size(2))
        return output + output.new_empty(output.shape).uniform_(-mag, mag)

    return embeddings.register_forward_hook(hook)


@dataclass
class Evaluation:
    """Validation loss (label + end), label-token loss, per-aspect reports, predictions."""

    loss: float
    label_loss: float
    reports: dict[str, EvalReport]
    predictions: list[tuple[str, str, list[float]]]  # (aspect, label, probs over its labels)

    def metrics(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "val_loss": round(self.loss, 6),
            "val_label_loss": round(self.label_loss, 6),
        }
        for name, r in self.reports.items():
            out[name] = {
                "accuracy": round(r.accuracy, 4),
                "macro_f1": round(r.macro_f1, 4),
                "n": r.n,
            }
        return out


def run_evaluation(
    model: Any, encoder: PromptEncoder, examples: Sequence[Example], batch_size: int, device: Any,
    autocast: Any,
) -> Evaluation:  # fmt: skip
    """Evaluate on the label position only: argmax over the aspect's label tokens."""
    import torch
    import torch.nn.functional as F

    was_training = model.training
    model.eval()
    total = label_total = 0.0
    n_tokens = 0
    preds: list[tuple[str, str, list[float]]] = []
    truth: dict[str, list[str]] = {a.name: [] for a in encoder.aspects}
    guess: dict[str, list[str]] = {a.name: [] for a in encoder.aspects}
    label_ids = [torch.tensor(lt.token_ids, device=device) for lt in encoder.label_tokens]
    with torch.inference_mode():
        for chunk in batches(examples, batch_size, None):
            batch = collate(chunk, encoder.pad_id)
            with autocast():
                logits = tail_logits(model, batch, device).float()
            loss = supervised_loss(logits, batch["labels"])
            total += float(loss) * 2 * len(chunk)
            n_tokens += 2 * len(chunk)
            at_label = logits[:, 0]  # predicts the label token
            label_total += float(
                F.cross_entropy(at_label, batch["labels"][:, -2].to(device), reduction="sum")
            )
            for r, e in enumerate(chunk):
                lt = encoder.label_tokens[e.aspect]
                probs = torch.softmax(at_label[r].index_select(0, label_ids[e.aspect]), dim=-1)
                name = encoder.aspects[e.aspect].name
                predicted = lt.labels[int(probs.argmax())]
                preds.append((name, predicted, probs.tolist()))
                truth[name].append(lt.labels[e.label])
                guess[name].append(predicted)
    if was_training:
        model.train()
    reports = {
        a.name: evaluate(truth[a.name], guess[a.name], a.labels)
        for a in encoder.aspects
        if truth[a.name]
    }
    n = max(1, len(examples))
    return Evaluation(total / max(1, n_tokens), label_total / n, reports, preds)


# --------------------------------------------------------------------------- loop


@dataclass
class TrainResult:
    best_step: int
    best: Evaluation | None
    history: list[dict[str, Any]] = field(default_factory=list)
    output_dir: Path | None = None


def _device_and_autocast(config: SFTConfig) -> tuple[Any, Any]:
    import contextlib

    import torch

    device = torch.device(config.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    dtype = config.dtype
    if dtype == "auto":
        dtype = "bfloat16" if device.type == "cuda" else "float32"
    if dtype == "float32":
        return device, contextlib.nullcontext
    table = {"bfloat16": torch.bfloat16, "float16": torch.float16}
    if dtype not in table:
        raise SFTError(f"dtype must be auto, float32, bfloat16 or float16, got {dtype!r}")
    return device, lambda: torch.autocast(device_type=device.type, dtype=table[dtype])


def load_model(path: Path) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not path.is_dir():
        raise SFTError(f"model directory {path} does not exist")
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(
            str(path), local_files_only=True, dtype=torch.float32
        )
    except (OSError, ValueError) as exc:
        raise SFTError(f"cannot load a causal LM and tokenizer from {path}: {exc}") from exc
    return model, tokenizer


def train(
    config: SFTConfig,
    aspects: Sequence[Aspect],
    train_rows: Sequence[tuple[str, Mapping[str, str]]],
    val_rows: Sequence[tuple[str, Mapping[str, str]]],
    *,
    resume: bool = False,
) -> TrainResult:
    """Fine-tune, evaluate, and export the best checkpoint (by validation loss) to output_dir.

    With ``resume``, continue from ``<output_dir>/last/state.pt`` (weights, optimiser,
    schedule, step, RNG states, history): the batches still to come are exactly those an
    uninterrupted run would have seen.
    """
    import torch

    # grad mode is thread-global and other code in the process may have switched it off
    # (loading a serving backend does): training turns it on for its own duration only
    with torch.enable_grad():
        return _train(config, aspects, train_rows, val_rows, resume)


def _train(
    config: SFTConfig,
    aspects: Sequence[Aspect],
    train_rows: Sequence[tuple[str, Mapping[str, str]]],
    val_rows: Sequence[tuple[str, Mapping[str, str]]],
    resume: bool,
) -> TrainResult:
    import torch
    from transformers import get_cosine_schedule_with_warmup, get_linear_schedule_with_warmup

    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    device, autocast = _device_and_autocast(config)
    model, tokenizer = load_model(Path(config.model_path))
    encoder = PromptEncoder(tokenizer, aspects, config.layout, config.max_length)
    train_ex = build_examples(encoder, train_rows)
    val_ex = build_examples(encoder, val_rows)
    if not train_ex:
        raise SFTError("no training examples for the selected aspects")
    model.to(device)
    if config.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": config.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=config.lr,
        fused=device.type == "cuda",
    )
    micro_per_epoch = math.ceil(len(train_ex) / config.batch_size)
    steps_per_epoch = math.ceil(micro_per_epoch / config.grad_accum)
    total_steps = config.max_steps or steps_per_epoch * config.epochs
    warmup = math.ceil(config.warmup_ratio * total_steps)
    make_schedule = (
        get_cosine_schedule_with_warmup
        if config.lr_scheduler == "cosine"
        else get_linear_schedule_with_warmup
    )
    scheduler = make_schedule(optimizer, warmup, total_steps)
    hook = add_neftune(model, config.neftune_alpha) if config.neftune_alpha > 0 else None
    log.info(
        "train %d examples, val %d, %d optimiser steps (%d per epoch), warmup %d, device %s",
        len(train_ex), len(val_ex), total_steps, steps_per_epoch, warmup, device,
    )  # fmt: skip
    result = TrainResult(best_step=0, best=None)
    out_dir = Path(config.output_dir)
    state_path = out_dir / "last" / "state.pt"
    step = micro = epoch = skip = 0
    best_loss = math.inf
    running = 0.0
    running_n = 0
    tokens = 0
    started = time.monotonic()
    epoch_rng = rng.getstate()

    def save_state() -> None:
        state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = state_path.with_suffix(".tmp")
        torch.save(
            {
                "config": config.to_dict(),
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "step": step,
                "micro": micro,
                "epoch": epoch,
                "epoch_rng": epoch_rng,
                "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state_all() if device.type == "cuda" else None,
                "history": result.history,
                "best_loss": best_loss,
                "best_step": result.best_step,
            },
            tmp,
        )
        tmp.replace(state_path)

    def checkpoint(epoch_progress: float) -> None:
        nonlocal running, running_n, best_loss
        entry: dict[str, Any] = {
            "step": step,
            "epoch": round(epoch_progress, 3),
            "train_loss": round(running / max(1, running_n), 6),
            "lr": scheduler.get_last_lr()[0],
            "tokens_per_s": round(tokens / max(1e-9, time.monotonic() - started), 1),
        }
        running, running_n = 0.0, 0
        if val_ex:
            ev = run_evaluation(model, encoder, val_ex, config.eval_batch_size, device, autocast)
            entry.update(ev.metrics())
            if ev.loss < best_loss:
                best_loss, result.best, result.best_step = ev.loss, ev, step
                export(model, tokenizer, out_dir, config, aspects, entry, step)
                entry["saved"] = True
        elif step == total_steps:
            export(model, tokenizer, out_dir, config, aspects, entry, step)
        result.history.append(entry)
        log.info("%s", json.dumps(entry))
        if config.save_state:
            save_state()

    if resume:
        if not state_path.is_file():
            raise SFTError(f"nothing to resume: {state_path} does not exist")
        state = torch.load(state_path, map_location="cpu", weights_only=False)
        saved = state["config"]
        for key in ("model_path", "aspects", "layout", "batch_size", "grad_accum", "seed"):
            if saved[key] != config.to_dict()[key]:
                raise SFTError(
                    f"cannot resume: {key} was {saved[key]!r}, now {config.to_dict()[key]!r}"
                )
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step, micro, epoch = state["step"], state["micro"], state["epoch"]
        result.history, best_loss, result.best_step = (
            state["history"],
            state["best_loss"],
            state["best_step"],
        )
        rng.setstate(state["epoch_rng"])
        torch.set_rng_state(state["torch_rng"])
        if state["cuda_rng"] is not None and device.type == "cuda":
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        skip = micro - epoch * micro_per_epoch  # micro-batches of this epoch already done
        log.info("resumed at step %d (epoch %d, micro-batch %d)", step, epoch, skip)
    elif val_ex:  # step 0: where the base model starts, for the run's record
        start = run_evaluation(model, encoder, val_ex, config.eval_batch_size, device, autocast)
        result.history.append({"step": 0, "epoch": 0.0, **start.metrics()})
        log.info("%s", json.dumps(result.history[-1]))
    model.train()
    optimizer.zero_grad(set_to_none=True)
    while step < total_steps:
        epoch_rng = rng.getstate()  # the epoch's batch order follows from this state
        for k, chunk in enumerate(batches(train_ex, config.batch_size, rng)):
            if k < skip:
                continue
            batch = collate(chunk, encoder.pad_id)
            with autocast():
                logits = tail_logits(model, batch, device)
            loss = supervised_loss(logits, batch["labels"])
            (loss / config.grad_accum).backward()
            running += float(loss.detach())
            running_n += 1
            tokens += int(batch["attention_mask"].sum())
            micro += 1
            in_epoch = micro - epoch * micro_per_epoch
            last_micro = in_epoch == micro_per_epoch
            if in_epoch % config.grad_accum and not last_micro:  # accumulate
                continue
            if config.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            at_epoch_end = last_micro and config.eval_every <= 0
            if (
                (config.eval_every > 0 and step % config.eval_every == 0)
                or at_epoch_end
                or step == total_steps
            ):
                checkpoint(micro / micro_per_epoch)
            if step >= total_steps:
                break
        skip = 0
        epoch += 1
    if hook is not None:
        hook.remove()
    result.output_dir = out_dir
    if result.history:
        meta = json.loads((out_dir / "finfeed.json").read_text(encoding="utf-8"))
        meta["history"] = result.history
        (out_dir / "finfeed.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return result


def export(
    model: Any,
    tokenizer: Any,
    out_dir: Path,
    config: SFTConfig,
    aspects: Sequence[Aspect],
    metrics: Mapping[str, Any],
    step: int,
) -> None:
    """Write the servable model dir: weights, tokenizer, finfeed.json (version, layout...)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))
    stamp = datetime.now(UTC)
    version = config.model_version or (
        f"{'-'.join(a.name for a in aspects)}-sft-{stamp.strftime('%Y%m%dT%H%M%SZ')}"
    )
    meta = {
        "model_version": version,
        "model_name": out_dir.name,
        "prompt_layout": config.layout,
        "aspects": [a.to_dict() for a in aspects],
        "metrics": dict(metrics),
        "step": step,
        "base_model": config.model_path,
        "trained_at": stamp.isoformat().replace("+00:00", "Z"),
        "config": config.to_dict(),
    }
    (out_dir / "finfeed.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")


def run(args: Any) -> int:
    """Entry point of ``finfeed train-sft`` / ``python -m training.sft_qwen``."""
    from pipeline.aspects import load_aspects, parse_aspect_names
    from training.labelled import class_balance, load_rows, split_rows

    registry = load_aspects(args.aspects_file)
    aspects = registry.select(parse_aspect_names(args.aspects))
    layout = parse_layout(args.layout, where="--layout")
    fields = {aspects[0].name: args.label_field} if args.label_field else None
    rows = load_rows([Path(p) for p in args.train.split(",")], aspects, label_fields=fields)
    if args.val:
        val = load_rows([Path(p) for p in args.val.split(",")], aspects, label_fields=fields)
        train_rows = [r for r in rows if r.split != "test"]
    else:
        split = split_rows(rows, args.val_fraction)
        train_rows, val = split.train, split.val
    if args.limit:
        train_rows = train_rows[: args.limit]
    for a in aspects:
        log.info(
            "%s: train %s, val %s",
            a.name,
            class_balance(train_rows, a.name),
            class_balance(val, a.name),
        )
    config = SFTConfig(
        model_path=args.model,
        output_dir=args.out,
        aspects=tuple(a.name for a in aspects),
        layout=layout,
        lr=args.lr,
        lr_scheduler=args.lr_scheduler,
        warmup_ratio=args.warmup_ratio,
        batch_size=args.batch_size,
        grad_accum=args.grad_accum,
        weight_decay=args.weight_decay,
        neftune_alpha=args.neftune_alpha,
        epochs=args.epochs,
        max_steps=args.max_steps,
        eval_every=args.eval_every,
        max_length=args.max_length,
        dtype=args.dtype,
        device=args.device,
        seed=args.seed,
        gradient_checkpointing=args.gradient_checkpointing,
        model_version=args.model_version,
        save_state=not args.no_state,
    )
    result = train(
        config,
        aspects,
        [(r.text, r.labels) for r in train_rows],
        [(r.text, r.labels) for r in val],
        resume=args.resume,
    )
    for entry in result.history:
        print(json.dumps(entry))
    if result.best is not None:
        print(f"best step {result.best_step}: {json.dumps(result.best.metrics())}")
    print(
        f"exported {result.output_dir} (serve: --backend transformers --model-paths {result.output_dir})"
    )
    return 0


if __name__ == "__main__":
    import sys

    from finfeed.cli import main

    sys.exit(main(["train-sft", *sys.argv[1:]]))

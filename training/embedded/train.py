"""Train the embedded model and write its artifact, top to bottom.

    python -m training.embedded.train --data ../shared/data --out models/artifacts/embedded-v1

1. Config (``TrainConfig``) and data splits (``training.embedded.data``).
2. Model: MiniLM-L6 frozen + LoRA + LayerNorms + one head per aspect.
3. Loop: AdamW, warmup then cosine decay, multi-task masked cross-entropy, length-bucketed
   batches; dev evaluation twice per epoch; the best state by dev score is kept. A checkpoint
   (trainable weights, optimiser, step, metrics, config) is written as it goes; ``--resume``
   continues from it.
4. Artifact: adapters, heads, config.json; then the *written* artifact is reloaded through the
   serving code (``models.embedded``, fp32 torch) and scored on the held-out sets, and those
   metrics go into config.json and MODEL_CARD.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import random
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional as F

from models.embedded import EncoderWithHeads, load_tokenizer
from training.embedded.card import write_artifact, write_model_card
from training.embedded.config import TrainConfig, add_mode_flags
from training.embedded.data import (
    ASPECT_LABELS,
    Encoded,
    Example,
    Splits,
    build_splits,
    encode,
    length_bucketed_batches,
)
from training.embedded.distill import model_versions, teacher_probs
from training.embedded.lexical import add_lexical_head
from training.embedded.model import build_model, trainable_state
from training.metrics import EvalReport, evaluate

log = logging.getLogger("finfeed.train_embedded")

REPO = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- batching


def collate(batch: Sequence[Encoded]) -> dict[str, Any]:
    width = max(len(e.ids) for e in batch)
    ids = torch.zeros((len(batch), width), dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, e in enumerate(batch):
        ids[row, : len(e.ids)] = torch.tensor(e.ids)
        mask[row, : len(e.ids)] = 1
    targets = {
        name: torch.tensor([e.targets[name] for e in batch], dtype=torch.long)
        for name in ASPECT_LABELS
    }
    weights = torch.tensor([e.weight for e in batch], dtype=torch.float32)
    out = {"ids": ids, "mask": mask, "targets": targets, "weights": weights}
    if batch[0].soft:
        out["soft"] = {
            name: torch.tensor([e.soft[name] for e in batch], dtype=torch.float32)
            for name in ASPECT_LABELS
        }
    return out


def multitask_loss(
    logits: Mapping[str, torch.Tensor],
    batch: Mapping[str, Any],
    smoothing: float,
    distill_weight: float = 0.0,
) -> torch.Tensor:
    """Sum over aspects of the weighted mean cross-entropy over rows labelled on that aspect.

    With teacher probabilities in the batch (``batch["soft"]``), a row's loss is
    ``(1 - distill_weight) * CE(label) + distill_weight * CE(teacher probabilities)``: the
    second term has the gradient of KL(teacher || student).
    """
    total = torch.zeros(())
    soft = batch.get("soft")
    for name, target in batch["targets"].items():
        labelled = target != -100
        if not bool(labelled.any()):
            continue
        losses = F.cross_entropy(
            logits[name][labelled], target[labelled], reduction="none", label_smoothing=smoothing
        )
        if soft is not None and distill_weight > 0:
            log_p = F.log_softmax(logits[name][labelled], dim=-1)
            soft_losses = -(soft[name][labelled] * log_p).sum(-1)
            losses = (1.0 - distill_weight) * losses + distill_weight * soft_losses
        w = batch["weights"][labelled]
        total = total + (losses * w).sum() / w.sum()
    return total


# --------------------------------------------------------------------------- evaluation


@torch.inference_mode()
def predict(
    model: EncoderWithHeads, items: Sequence[Encoded], batch_size: int = 128
) -> dict[str, list[str]]:
    model.eval()
    preds: dict[str, list[str]] = {name: [""] * len(items) for name in ASPECT_LABELS}
    order = sorted(range(len(items)), key=lambda i: len(items[i].ids))
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        batch = collate([items[i] for i in idx])
        logits = model.logits(batch["ids"], batch["mask"])
        for name, labels in ASPECT_LABELS.items():
            for i, k in zip(idx, logits[name].argmax(-1).tolist(), strict=True):
                preds[name][i] = labels[k]
    return preds


def report(
    examples: Sequence[Example], preds: Mapping[str, Sequence[str]]
) -> dict[str, EvalReport]:
    """One report per aspect the examples are labelled on."""
    out: dict[str, EvalReport] = {}
    for name, labels in ASPECT_LABELS.items():
        rows = [i for i, ex in enumerate(examples) if name in ex.labels]
        if rows:
            out[name] = evaluate(
                [examples[i].labels[name] for i in rows], [preds[name][i] for i in rows], labels
            )
    return out


def dev_score(reports: Mapping[str, Mapping[str, EvalReport]]) -> float:
    """Model-selection score: mean macro-F1 over (dev source, aspect) pairs."""
    values = [r.macro_f1 for per_aspect in reports.values() for r in per_aspect.values()]
    return sum(values) / len(values) if values else 0.0


# --------------------------------------------------------------------------- loop


class WeightAverage:
    """Exponential moving average of the trainable weights (Polyak averaging).

    ``update`` after each optimiser step; ``swap_in`` loads the averaged weights for
    evaluation and returns the live ones, to load back before training goes on.
    """

    def __init__(self, model: EncoderWithHeads, decay: float) -> None:
        self.decay = decay
        self.updates = 0
        self.shadow = trainable_state(model)

    @torch.no_grad()
    def update(self, model: EncoderWithHeads) -> None:
        self.updates += 1
        # early on the average would mostly remember the initial weights: warm the decay up
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for name, param in model.named_parameters():
            if name in self.shadow:
                self.shadow[name].lerp_(param.detach(), 1.0 - decay)

    def swap_in(self, model: EncoderWithHeads) -> dict[str, torch.Tensor]:
        live = trainable_state(model)
        model.load_state_dict(self.shadow, strict=False)
        return live


def lr_factor(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def train(
    config: TrainConfig,
    data_dir: Path,
    aspects_dir: Path,
    out_dir: Path,
    work_dir: Path,
    resume: bool = False,
    finalize: bool = False,
) -> dict[str, Any]:
    """Train (or, with ``finalize``, only write the checkpoint's best state) and write the
    artifact; returns the held-out metrics."""
    torch.set_num_threads(config.threads)
    random.seed(config.seed)
    splits: Splits = build_splits(data_dir, aspects_dir, config)
    log.info("data: %s", json.dumps(splits.summary()))
    tokenizer = load_tokenizer()
    train_items = encode(splits.train, tokenizer, ASPECT_LABELS, config.train_max_length)
    dev_items = {
        k: encode(v, tokenizer, ASPECT_LABELS, config.max_length) for k, v in splits.dev.items()
    }
    if config.teachers and not finalize:
        soft = teacher_probs(config.teachers, splits.train, config)
        train_items = [
            dataclasses.replace(
                item, soft={name: tuple(map(float, soft[name][i])) for name in ASPECT_LABELS}
            )
            for i, item in enumerate(train_items)
        ]

    model = build_model(config, ASPECT_LABELS)
    head_params = [p for n, p in model.named_parameters() if n.startswith("heads.")]
    body_params = [
        p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("heads.")
    ]
    n_trainable = sum(p.numel() for p in head_params + body_params)
    log.info("trainable parameters: %d", n_trainable)
    optimizer = torch.optim.AdamW(
        [
            {"params": body_params, "lr": config.lr},
            {"params": head_params, "lr": config.head_lr},
        ],
        weight_decay=config.weight_decay,
    )
    steps_per_epoch = math.ceil(len(train_items) / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    warmup = max(1, int(config.warmup_frac * total_steps))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, total_steps, warmup)
    )

    work_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = work_dir / "checkpoint.pt"
    step, best_score, best_state, history = 0, -1.0, trainable_state(model), []
    ema = WeightAverage(model, config.ema_decay) if config.ema_decay > 0 else None
    if (resume or finalize) and ckpt_path.exists():
        ckpt = torch.load(ckpt_path, weights_only=False)
        model.load_state_dict(ckpt["trainable"], strict=False)
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        step, best_score, best_state = ckpt["step"], ckpt["best_score"], ckpt["best_state"]
        history = ckpt["history"]
        if ema is not None and ckpt.get("ema") is not None:
            ema.shadow = ckpt["ema"]
        log.info("resumed at step %d (best dev score %.4f)", step, best_score)
    elif finalize:
        raise FileNotFoundError(f"--finalize needs a checkpoint at {ckpt_path}")
    if finalize:
        log.info("finalising from the checkpoint's best state (dev score %.4f)", best_score)

    def save_checkpoint() -> None:
        torch.save(
            {
                "trainable": trainable_state(model),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "step": step,
                "best_score": best_score,
                "best_state": best_state,
                "history": history,
                "ema": ema.shadow if ema is not None else None,
                "config": config.to_dict(),
            },
            work_dir / "checkpoint.tmp",
        )
        (work_dir / "checkpoint.tmp").replace(ckpt_path)

    eval_every = max(1, steps_per_epoch // 2)
    started = time.monotonic()
    for epoch in range(step // steps_per_epoch, 0 if finalize else config.epochs):
        rng = random.Random(config.seed * 1000 + epoch)
        batches = list(length_bucketed_batches(train_items, config.batch_size, rng))
        for i, items in enumerate(batches):
            if epoch * steps_per_epoch + i < step:
                continue  # resumed: this batch was already trained on
            model.train()
            batch = collate(items)
            loss = multitask_loss(
                model.logits(batch["ids"], batch["mask"]),
                batch,
                config.label_smoothing,
                config.distill_weight if config.teachers else 0.0,
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(body_params + head_params, 1.0)
            optimizer.step()
            scheduler.step()
            if ema is not None:
                ema.update(model)
            step += 1
            if step % 50 == 0:
                rate = step / max(1e-9, time.monotonic() - started)
                log.info(
                    "epoch %d step %d/%d loss %.4f (%.2f steps/s)",
                    epoch,
                    step,
                    total_steps,
                    loss.item(),
                    rate,
                )
            if step % eval_every == 0 or step == total_steps:
                live = ema.swap_in(model) if ema is not None else None
                reports = {
                    src: report(splits.dev[src], predict(model, items_))
                    for src, items_ in dev_items.items()
                }
                score = dev_score(reports)
                entry = {
                    "step": step,
                    "epoch": epoch,
                    "dev_score": score,
                    "dev": {
                        src: {
                            a: {"macro_f1": r.macro_f1, "accuracy": r.accuracy}
                            for a, r in rs.items()
                        }
                        for src, rs in reports.items()
                    },
                }
                history.append(entry)
                log.info("dev %s", json.dumps(entry))
                if score > best_score:
                    best_score, best_state = score, trainable_state(model)
                if live is not None:
                    model.load_state_dict(live, strict=False)
                save_checkpoint()

    model.load_state_dict(best_state, strict=False)
    model.eval()
    write_artifact(
        model,
        config,
        out_dir,
        splits,
        history,
        best_score,
        teachers=model_versions(config.teachers) if config.teachers else None,
        init_from=model_versions([config.init_from])[0] if config.init_from else None,
    )
    return finish_artifact(out_dir, splits, config)


def finish_artifact(out_dir: Path, splits: Splits, config: TrainConfig) -> dict[str, Any]:
    """Fit the lexical head on the written encoder (if configured), score the held-out sets
    through the serving code and rewrite config.json and the model card with the results."""
    extra: dict[str, Any] = {}
    if config.lexical:
        report = add_lexical_head(out_dir, splits, config)
        extra["lexical"] = json.loads((out_dir / "config.json").read_text())["lexical"]
        log.info("lexical head: %s", json.dumps(report["dev_scores"]))
        extra["metrics_encoder_only"] = evaluate_artifact(out_dir, splits, use_lexical=False)
    metrics = evaluate_artifact(out_dir, splits)
    doc = json.loads((out_dir / "config.json").read_text(encoding="utf-8"))
    doc["metrics"] = metrics
    doc.update(extra)
    (out_dir / "config.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    write_model_card(out_dir)
    return metrics


def relexicalize(
    out_dir: Path, data_dir: Path, aspects_dir: Path, version: str | None = None
) -> dict[str, Any]:
    """Refit only the lexical head of the artifact in ``out_dir`` (encoder untouched), with
    the data splits and settings its config.json records."""
    doc = json.loads((out_dir / "config.json").read_text(encoding="utf-8"))
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    recorded = {k: v for k, v in doc["training"]["config"].items() if k in known}
    for key in ("lora_targets", "lexical_weight_grid", "teachers", "teacher_lexical_aspects"):
        if key in recorded:
            recorded[key] = tuple(recorded[key])
    config = dataclasses.replace(TrainConfig(), **{**recorded, "lexical": True})
    if version is not None:
        config = dataclasses.replace(config, version=version)
        doc["version"] = version
    splits = build_splits(data_dir, aspects_dir, config)
    doc["training"]["config"] = config.to_dict()
    (out_dir / "config.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return finish_artifact(out_dir, splits, config)


def evaluate_artifact(out_dir: Path, splits: Splits, use_lexical: bool = True) -> dict[str, Any]:
    """Held-out metrics of the written artifact, scored through the serving code (fp32)."""
    from models.embedded import EmbeddedClassifier

    classifier = EmbeddedClassifier(
        out_dir, use_onnx=False, batch_size=128, use_lexical=use_lexical
    )
    metrics: dict[str, Any] = {}
    for name, examples in splits.test.items():
        probs = classifier.predict_probs([ex.text for ex in examples])
        preds = {
            a: [labels[int(k)] for k in probs[a].argmax(-1)] for a, labels in ASPECT_LABELS.items()
        }
        metrics[name] = {a: r.to_dict() for a, r in report(examples, preds).items()}
        for a, r in report(examples, preds).items():
            log.info(
                "%s / %s%s:\n%s", name, a, "" if use_lexical else " (encoder only)", r.format()
            )
    classifier.close()
    return metrics


# --------------------------------------------------------------------------- entry point


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        type=Path,
        default=REPO.parent / "shared" / "data",
        help="labelled data folder with tfns/ and sentfin/",
    )
    parser.add_argument(
        "--aspects-data",
        type=Path,
        default=REPO / "training" / "data" / "aspects",
        help="folder of hand-labelled aspect rows (*.jsonl)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO / "models" / "artifacts" / "embedded-v1",
        help="artifact directory to write",
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        help="checkpoint folder (default <cache>/train-embedded)",
    )
    add_mode_flags(parser)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--limit", type=int, default=None, help="train on N rows (smoke run)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--head-lr", type=float, default=None)
    parser.add_argument("--lora-rank", type=int, default=None)
    parser.add_argument("--seed", type=int, default=None, help="initialisation and data order")
    parser.add_argument(
        "--ema-decay", type=float, default=None, help="weight averaging decay (0 = off)"
    )
    parser.add_argument("--version", default=None, help="artifact version string")
    parser.add_argument(
        "--teacher",
        dest="teachers",
        action="append",
        type=Path,
        default=None,
        help="artifact to distil from (repeat for an ensemble of teachers)",
    )
    parser.add_argument(
        "--distill-weight", type=float, default=None, help="teacher share of the loss (0-1)"
    )
    parser.add_argument(
        "--teacher-lexical-folds",
        type=int,
        default=None,
        help="K > 1: teachers blend in K-fold out-of-fold lexical scores",
    )
    parser.add_argument(
        "--init-from", type=Path, default=None, help="artifact to warm-start the network from"
    )


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    changes = {
        field: getattr(args, attr)
        for field, attr in [
            ("epochs", "epochs"),
            ("limit", "limit"),
            ("threads", "threads"),
            ("lr", "lr"),
            ("head_lr", "head_lr"),
            ("lora_rank", "lora_rank"),
            ("ema_decay", "ema_decay"),
            ("seed", "seed"),
            ("version", "version"),
            ("distill_weight", "distill_weight"),
            ("teacher_lexical_folds", "teacher_lexical_folds"),
        ]
        if getattr(args, attr, None) is not None
    }
    if getattr(args, "no_lexical", False):
        changes["lexical"] = False
    if getattr(args, "teachers", None):
        changes["teachers"] = tuple(str(p) for p in args.teachers)
    if getattr(args, "init_from", None) is not None:
        changes["init_from"] = str(args.init_from)
    return dataclasses.replace(TrainConfig(), **changes)


def default_work_dir() -> Path:
    import os

    cache = Path(os.environ.get("FINFEED_CACHE_DIR", Path.home() / ".cache" / "finfeed"))
    return cache / "train-embedded"


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    if getattr(args, "lexical_only", False):
        metrics = relexicalize(args.out, args.data, args.aspects_data, args.version)
    else:
        metrics = train(
            config,
            data_dir=args.data,
            aspects_dir=args.aspects_data,
            out_dir=args.out,
            work_dir=args.work_dir or default_work_dir(),
            resume=args.resume,
            finalize=getattr(args, "finalize", False),
        )
    print(
        json.dumps(
            {
                s: {
                    a: {k: m[k] for k in ("n", "accuracy", "macro_f1", "weighted_f1")}
                    for a, m in v.items()
                }
                for s, v in metrics.items()
            },
            indent=2,
        )
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.embedded.train", description=__doc__.split("\n")[0]
    )
    add_arguments(parser)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    return run(parser.parse_args())


if __name__ == "__main__":
    raise SystemExit(main())

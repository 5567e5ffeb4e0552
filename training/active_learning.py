"""Active-learning relabelling: linear models flag suspect labels, an oracle LLM decides.

    python -m training.active_learning --input labelled.jsonl --output relabelled.jsonl \\
        --aspect sentiment --oracle-base-url http://localhost:8000/v1 --oracle-models big-model

Step 6 of the published method (``../shared/METHOD.md``), which added 3.5 points of
validation accuracy: where every linear model agrees on a label and the (LLM majority) label
disagrees, ask an oracle LLM; relabel where the oracle agrees with the linear models; drop the
weakest linear model; retrain; repeat until no sample changes.

The loop, top to bottom (``relabel``):

1. Features for the pool and the validation rows, once per embedder (``FeatureBank``).
2. Round 0: fit every member on the pool's current labels, score on validation.
3. Each round: out-of-fold predictions (``folds``-fold, so a model never predicts a row it
   was fitted on and cannot simply echo its label) -> candidates where all members agree on
   a label other than the current one -> the oracle answers for candidates it has not seen
   (answers are cached across rounds: the oracle is paid once per row) -> rows where the
   oracle agrees with the members take the new label -> the weakest member (lowest
   validation accuracy; out-of-fold accuracy without a validation set) is dropped while more
   than ``min_members`` remain -> refit and score. Stop when a round changes nothing or
   after ``max_rounds``.

Each round is logged (``RoundLog``: members, candidates, oracle calls, agreements, changes,
accuracies) and the relabelled rows keep ``label_before`` and ``relabelled_round``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.aspects import Aspect
from training.baselines import (
    BaselineConfig,
    Embedder,
    FeatureBank,
    LinearBaseline,
    fit_members,
    make_embedder,
)
from training.errors import ActiveLearningError

log = logging.getLogger("finfeed.relabel")

# texts and the members' proposed labels -> the oracle's label per text (None = no answer)
Oracle = Callable[[Sequence[str], Sequence[str]], Sequence[str | None]]


@dataclass(frozen=True)
class ActiveLearningConfig:
    """One relabelling run; ``baseline`` configures the linear members."""

    baseline: BaselineConfig = field(
        default_factory=lambda: BaselineConfig(embedders=("minilm", "tfidf", "tfidf-char"))
    )
    folds: int = 5
    max_rounds: int = 10
    min_members: int = 1
    seed: int = 13

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True, slots=True)
class RoundLog:
    round: int
    members: tuple[str, ...]
    candidates: int
    oracle_asked: int
    oracle_agreed: int
    changed: int
    dropped: str | None
    val_accuracy: Mapping[str, float]
    pool_label_counts: Mapping[str, int]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class RelabelResult:
    labels: list[str]  # final label per pool row
    changed_round: dict[int, int]  # row index -> round it was relabelled in
    rounds: list[RoundLog]
    oracle_calls: int

    @property
    def changed(self) -> int:
        return len(self.changed_round)


def out_of_fold(
    member: LinearBaseline,
    features: Any,
    labels: Sequence[str],
    folds: int,
    config: BaselineConfig,
    seed: int,
) -> list[str]:
    """Each row predicted by the member fitted on the other folds."""
    n = len(labels)
    order = list(range(n))
    random.Random(seed).shuffle(order)
    preds: list[str] = [""] * n
    for k in range(folds):
        held = order[k::folds]
        held_set = set(held)
        fit_idx = [i for i in range(n) if i not in held_set]
        probe = LinearBaseline(member.embedder)
        probe.fit(features[fit_idx], [labels[i] for i in fit_idx], config)
        for i, p in zip(held, probe.predict(features[held]), strict=True):
            preds[i] = p
    return preds


def relabel(
    texts: Sequence[str],
    labels: Sequence[str],
    aspect: Aspect,
    oracle: Oracle,
    config: ActiveLearningConfig,
    *,
    val: Sequence[tuple[str, str]] = (),
    embedders: Sequence[Embedder] | None = None,
) -> RelabelResult:
    """Run the loop on a pool of (text, label) rows; returns the final labels and the log."""
    if len(texts) != len(labels):
        raise ActiveLearningError(f"{len(texts)} texts but {len(labels)} labels")
    if len(texts) < 2 * config.folds:
        raise ActiveLearningError(f"need at least {2 * config.folds} rows, got {len(texts)}")
    bad = sorted(set(labels) - set(aspect.labels))
    if bad:
        raise ActiveLearningError(f"labels {bad} are not {aspect.name} labels")
    bc = config.baseline
    embedders = list(embedders or [make_embedder(s, bc.encode_batch_size) for s in bc.embedders])
    n = len(texts)
    bank = FeatureBank.build(embedders, texts, [*texts, *(t for t, _ in val)])
    pool_index = list(range(n))
    val_index = list(range(n, n + len(val)))
    val_labels = [lab for _, lab in val]
    current = list(labels)
    members = [LinearBaseline(e) for e in embedders]
    oracle_cache: dict[int, str | None] = {}
    changed_round: dict[int, int] = {}
    rounds: list[RoundLog] = []

    def fit_and_score() -> dict[str, float]:
        reports = fit_members(members, bank, pool_index, current, val_index, val_labels, aspect, bc)
        return {name: round(r.accuracy, 4) for name, r in reports.items()}

    def counts() -> dict[str, int]:
        return {lab: current.count(lab) for lab in aspect.labels}

    accuracy = fit_and_score()
    rounds.append(RoundLog(0, tuple(m.name for m in members), 0, 0, 0, 0, None, accuracy, counts()))
    log.info("round 0: members %s, val accuracy %s", [m.name for m in members], accuracy)
    for r in range(1, config.max_rounds + 1):
        oof = {
            m.name: out_of_fold(
                m, bank.features[m.name][:n], current, config.folds, bc, config.seed + r
            )
            for m in members
        }
        candidates = [
            i
            for i in range(n)
            if len({oof[m.name][i] for m in members}) == 1 and oof[members[0].name][i] != current[i]
        ]
        to_ask = [i for i in candidates if i not in oracle_cache]
        if to_ask:
            proposed = [oof[members[0].name][i] for i in to_ask]
            answers = list(oracle([texts[i] for i in to_ask], proposed))
            if len(answers) != len(to_ask):
                raise ActiveLearningError(f"oracle gave {len(answers)} answers for {len(to_ask)}")
            oracle_cache.update(zip(to_ask, answers, strict=True))
        agreed = [i for i in candidates if oracle_cache.get(i) == oof[members[0].name][i]]
        for i in agreed:
            current[i] = oof[members[0].name][i]
            changed_round.setdefault(i, r)
        dropped = None
        if agreed and len(members) > config.min_members:
            if val_index:
                weakest = min(members, key=lambda m: accuracy.get(m.name, 0.0))
            else:
                weakest = min(
                    members,
                    key=lambda m: sum(a == b for a, b in zip(oof[m.name], current, strict=True)),
                )
            members.remove(weakest)
            dropped = weakest.name
        if agreed:
            accuracy = fit_and_score()
        rounds.append(
            RoundLog(
                round=r,
                members=tuple(m.name for m in members),
                candidates=len(candidates),
                oracle_asked=len(to_ask),
                oracle_agreed=len(agreed),
                changed=len(agreed),
                dropped=dropped,
                val_accuracy=accuracy,
                pool_label_counts=counts(),
            )
        )
        log.info(
            "round %d: %d candidates, asked %d, relabelled %d, dropped %s, val accuracy %s",
            r, len(candidates), len(to_ask), len(agreed), dropped, accuracy,
        )  # fmt: skip
        if not agreed:
            break
    return RelabelResult(current, changed_round, rounds, len(oracle_cache))


class LLMOracle:
    """An oracle backed by ``training.llm_labelling`` (one or more models, majority vote)."""

    def __init__(self, labeller: Any) -> None:
        self.labeller = labeller

    def __call__(self, texts: Sequence[str], proposed: Sequence[str]) -> list[str | None]:
        from training.llm_labelling import majority_vote

        votes = self.labeller.vote(list(texts))
        return [majority_vote([v.label for v in row]).label for row in votes]


def run(args: Any) -> int:
    """Entry point of ``finfeed relabel`` / ``python -m training.active_learning``."""
    from pipeline.aspects import load_aspects
    from training.labelled import (
        LabelledRow,
        canonical_label,
        load_rows,
        read_jsonl,
        stable_fraction,
        write_jsonl,
    )
    from training.llm_labelling import EnsembleLabeller, LabellingConfig

    aspect = load_aspects(args.aspects_file).get(args.aspect)
    fields = {aspect.name: args.label_field} if args.label_field else None
    # every input row is written back in input order; rows without text or a usable label
    # (an abstaining LLM majority is null) and held-out rows pass through unchanged
    raw = [obj for _, obj in read_jsonl(Path(args.input))]
    label_key: dict[int, str] = {}  # raw index -> field holding its label
    pool_index: list[int] = []
    val_rows: list[LabelledRow] = []
    pool: list[LabelledRow] = []
    for n, obj in enumerate(raw):
        key = args.label_field or (aspect.name if aspect.name in obj else "label")
        text, label = obj.get(args.text_field), canonical_label(aspect, obj.get(key))
        if not isinstance(text, str) or not text.strip() or label is None:
            continue
        row = LabelledRow(text.strip(), {aspect.name: label}, split=str(obj.get("split", "")))
        if row.split == "test":
            continue
        if not args.val and stable_fraction(row.text) < args.val_fraction:
            val_rows.append(row)  # a stable slice validates and is not relabelled
            continue
        label_key[n] = key
        pool_index.append(n)
        pool.append(row)
    if args.val:
        val_rows = load_rows(
            [Path(args.val)], [aspect], text_field=args.text_field, label_fields=fields
        )
    labeller = EnsembleLabeller(
        LabellingConfig(
            base_url=args.oracle_base_url,
            models=tuple(m.strip() for m in args.oracle_models.split(",") if m.strip()),
            api_key=args.oracle_api_key or "",
            concurrency=args.oracle_concurrency,
            timeout_s=args.oracle_timeout,
        ),
        aspect,
    )
    config = ActiveLearningConfig(
        baseline=BaselineConfig(
            aspect=aspect.name,
            embedders=tuple(e.strip() for e in args.embedders.split(",") if e.strip()),
            seed=args.seed,
        ),
        folds=args.folds,
        max_rounds=args.max_rounds,
        min_members=args.min_members,
        seed=args.seed,
    )
    result = relabel(
        [r.text for r in pool],
        [r.labels[aspect.name] for r in pool],
        aspect,
        LLMOracle(labeller),
        config,
        val=[(r.text, r.labels[aspect.name]) for r in val_rows],
    )
    out_rows = [dict(obj) for obj in raw]
    for i, n in enumerate(pool_index):
        if i in result.changed_round:
            out_rows[n]["label_before"] = out_rows[n].get(label_key[n])
            out_rows[n][label_key[n]] = result.labels[i]
            out_rows[n]["relabelled_round"] = result.changed_round[i]
    write_jsonl(Path(args.output), out_rows)
    log_path = Path(args.log) if args.log else Path(args.output).with_suffix(".rounds.json")
    log_path.write_text(
        json.dumps(
            {
                "config": config.to_dict(),
                "rows": len(pool),
                "changed": result.changed,
                "oracle_calls": result.oracle_calls,
                "rounds": [r.to_dict() for r in result.rounds],
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    for rl in result.rounds:
        print(
            f"round {rl.round}: members={','.join(rl.members)} candidates={rl.candidates} "
            f"asked={rl.oracle_asked} relabelled={rl.changed} dropped={rl.dropped} "
            f"val_accuracy={dict(rl.val_accuracy)}"
        )
    print(f"relabelled {result.changed} of {len(pool)} rows -> {args.output}; log {log_path}")
    return 0


if __name__ == "__main__":
    import sys

    from finfeed.cli import main

    sys.exit(main(["relabel", *sys.argv[1:]]))

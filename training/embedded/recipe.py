"""The shipped embedded model's whole recipe, as one resumable command.

    python -m training.embedded.recipe --data ../shared/data --out models/artifacts/embedded-v1
    (or: finfeed train-embedded --recipe)

The shipped artifact is a distilled student, so rebuilding it takes more than one run:

1. Four teachers with the plain recipe (labels only): seeds 13, 29 and 41, and seed 13 with
   an exponential moving average of the weights. Written without lexical heads (distillation
   reads the teachers' encoders only) under ``<work-dir>/<step>/artifact``.
2. The student: seed 29, six epochs, each labelled row's loss half label and half the
   teachers' joint probabilities; then its lexical head and held-out scores, into ``--out``.

Each step keeps its checkpoint under ``<work-dir>/<step>/checkpoint``; an interrupted
recipe continues where it stopped (a finished step's artifact is reused). About 2.5 hours
on two idle CPU cores.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training.embedded.config import TrainConfig

log = logging.getLogger("finfeed.train_embedded")


@dataclass(frozen=True)
class Step:
    """One training run: TrainConfig changes, the earlier steps it distils from, and the
    earlier step whose network it starts from (None: the base encoder)."""

    name: str
    changes: Mapping[str, Any] = field(default_factory=dict)
    teachers: tuple[str, ...] = ()
    init_from: str | None = None


TEACHERS: tuple[Step, ...] = (
    Step("teacher-s13", {"seed": 13, "lexical": False}),
    Step("teacher-s29", {"seed": 29, "lexical": False}),
    Step("teacher-s41", {"seed": 41, "lexical": False}),
    Step("teacher-s13-ema", {"seed": 13, "ema_decay": 0.998, "lexical": False}),
)
SHIPPED: tuple[Step, ...] = (
    *TEACHERS,
    Step(
        "student",
        {"seed": 29, "epochs": 6, "distill_weight": 0.5},
        teachers=tuple(t.name for t in TEACHERS),
    ),
)


def finished(artifact: Path) -> bool:
    """An artifact is finished once its held-out metrics are written (the run's last act)."""
    config = artifact / "config.json"
    if not config.exists():
        return False
    return bool(json.loads(config.read_text(encoding="utf-8")).get("metrics"))


def run_recipe(
    steps: Sequence[Step],
    data_dir: Path,
    aspects_dir: Path,
    out_dir: Path,
    work_dir: Path,
    base: TrainConfig | None = None,
) -> dict[str, Any]:
    """Run ``steps`` in order (the last writes ``out_dir``); returns its held-out metrics.
    ``base`` holds the settings every step shares (version, threads, limit)."""
    from training.embedded.train import train

    base = base or TrainConfig()
    artifacts: dict[str, Path] = {}
    metrics: dict[str, Any] = {}
    for i, step in enumerate(steps):
        last = i == len(steps) - 1
        artifact = out_dir if last else work_dir / step.name / "artifact"
        artifacts[step.name] = artifact
        needed = [*step.teachers, *([step.init_from] if step.init_from else [])]
        missing = [t for t in needed if t not in artifacts]
        if missing:
            raise ValueError(f"step {step.name} builds on unknown steps {missing}")
        if not last and finished(artifact):
            log.info("recipe: %s already trained (%s)", step.name, artifact)
            continue
        config = dataclasses.replace(
            base,
            **{
                **step.changes,
                "teachers": tuple(str(artifacts[t]) for t in step.teachers),
                "init_from": str(artifacts[step.init_from]) if step.init_from else None,
            },
        )
        if not last:
            config = dataclasses.replace(config, version=f"{base.version}-{step.name}")
        log.info("recipe: step %d/%d %s -> %s", i + 1, len(steps), step.name, artifact)
        metrics = train(
            config,
            data_dir=data_dir,
            aspects_dir=aspects_dir,
            out_dir=artifact,
            work_dir=work_dir / step.name / "checkpoint",
            resume=True,
        )
    return metrics


def main() -> int:
    from training.embedded.train import REPO

    parser = argparse.ArgumentParser(
        prog="python -m training.embedded.recipe", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--aspects-data", type=Path, default=REPO / "training" / "data" / "aspects")
    parser.add_argument("--out", type=Path, default=REPO / "models" / "artifacts" / "embedded-v1")
    parser.add_argument("--work-dir", type=Path, default=None)
    parser.add_argument("--version", default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--limit", type=int, default=None, help="train on N rows (smoke run)")
    parser.add_argument("--epochs", type=int, default=None, help="override every step's epochs")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    print(json.dumps(recipe_from_args(args), indent=2))
    return 0


def recipe_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Run the shipped recipe with the shared settings ``args`` gives (CLI and finfeed)."""
    from training.embedded.train import default_work_dir

    shared = {
        k: getattr(args, k)
        for k in ("version", "threads", "limit")
        if getattr(args, k, None) is not None
    }
    steps: Sequence[Step] = SHIPPED
    if getattr(args, "epochs", None) is not None:
        steps = [
            dataclasses.replace(s, changes={**s.changes, "epochs": args.epochs}) for s in steps
        ]
    work_dir = args.work_dir or default_work_dir().with_name("train-embedded-recipe")
    return run_recipe(
        steps,
        data_dir=args.data,
        aspects_dir=args.aspects_data,
        out_dir=args.out,
        work_dir=work_dir,
        base=dataclasses.replace(TrainConfig(), **shared),
    )


if __name__ == "__main__":
    raise SystemExit(main())

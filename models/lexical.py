"""The embedded model's lexical head: hashed n-gram TF-IDF and one linear model per aspect.

The encoder reads meaning; finance news also repeats wordings that a bag of n-grams learns
cheaply and exactly ("cuts to Sell", "price target raised", "misses estimates"). The lexical
head scores those, and its log-probabilities are blended with the encoder's:

    p(label) ∝ p_encoder(label) ** (1 - w) * p_lexical(label) ** w

with one weight ``w`` per aspect, chosen on the training run's dev splits (``w = 0`` leaves an
aspect to the encoder alone).

Features, on the encoder's normalised text, lower-cased:

- words (runs of two or more word characters) and word bigrams;
- character 2- to 5-grams inside word boundaries (each word padded with one space);

read from the first ``MAX_CHARS`` characters, each hashed (CRC-32) into its own space of
``2**hash_bits`` ids, counted, scaled by ``1 + ln(count)`` and by the feature's inverse
document frequency from training, and L2-normalised per kind. Only ids seen in at least ``min_df`` training texts are kept; the rest
score nothing. No vocabulary is stored and nothing outside numpy is needed at serving time.

``lexical.safetensors`` holds ``features`` (sorted kept ids, int32; char ids are offset by
``2**hash_bits``), ``idf`` (float32), and per aspect ``<aspect>.coef`` [n_features, n_labels]
(float16) and ``<aspect>.intercept`` [n_labels] (float32); ``config.json``'s ``"lexical"`` block
holds the featuriser's settings and the blend weights.
"""

from __future__ import annotations

import itertools
import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from models.errors import ModelLoadError

LEXICAL_FILE = "lexical.safetensors"
FEATURIZER = "hashed-ngrams-1"  # bump when the features below change meaning

_WORD = re.compile(r"\b\w\w+\b")


MAX_CHARS = 4_000  # features read at most this much of a text (the encoder reads far less)
_CACHED_TOKEN = 32  # words up to this length are cached; longer ones are rare and computed


def _char_ids(token: str, char_min: int, char_max: int, hash_bits: int) -> tuple[int, ...]:
    """Character n-gram ids of one space-padded word."""
    if len(token) <= _CACHED_TOKEN:
        return _cached_char_ids(token, char_min, char_max, hash_bits)
    return _compute_char_ids(token, char_min, char_max, hash_bits)


@lru_cache(maxsize=1 << 16)
def _cached_char_ids(token: str, char_min: int, char_max: int, hash_bits: int) -> tuple[int, ...]:
    return _compute_char_ids(token, char_min, char_max, hash_bits)  # news repeats its words


def _compute_char_ids(token: str, char_min: int, char_max: int, hash_bits: int) -> tuple[int, ...]:
    mask = (1 << hash_bits) - 1
    offset = 1 << hash_bits  # char ids live above the word ids
    padded = f" {token} "
    size = len(padded)
    out = []
    for n in range(char_min, min(char_max, size) + 1):
        for start in range(size - n + 1):
            out.append(offset + (zlib.crc32(padded[start : start + n].encode()) & mask))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class NgramFeaturizer:
    """Hashed word 1-2-grams and in-word character n-grams (see the module docstring)."""

    hash_bits: int = 20
    char_min: int = 2
    char_max: int = 5

    @property
    def space(self) -> int:
        return 1 << self.hash_bits

    def ids(self, text: str) -> tuple[list[int], list[int]]:
        """Hashed word ids and character ids of one text, repeats kept (counts matter)."""
        mask = self.space - 1
        lowered = text[:MAX_CHARS].lower()
        words = _WORD.findall(lowered)
        grams = words + [f"{a} {b}" for a, b in itertools.pairwise(words)]
        word_ids = [zlib.crc32(g.encode()) & mask for g in grams]
        char_ids: list[int] = []
        for token in lowered.split():
            char_ids.extend(_char_ids(token, self.char_min, self.char_max, self.hash_bits))
        return word_ids, char_ids

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": FEATURIZER,
            "hash_bits": self.hash_bits,
            "char_min": self.char_min,
            "char_max": self.char_max,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NgramFeaturizer:
        if data.get("kind") != FEATURIZER:
            raise ModelLoadError(f"unknown lexical featuriser {data.get('kind')!r}")
        return cls(int(data["hash_bits"]), int(data["char_min"]), int(data["char_max"]))


@dataclass(frozen=True, slots=True)
class SparseRows:
    """A batch of feature vectors in CSR form over the kept features' positions."""

    indptr: NDArray[np.int64]
    columns: NDArray[np.int64]
    values: NDArray[np.float32]
    n_columns: int

    def take(self, rows: Sequence[int]) -> SparseRows:
        """The given rows, in that order, as a new batch."""
        starts, ends = self.indptr[:-1][list(rows)], self.indptr[1:][list(rows)]
        picked = [np.arange(a, b) for a, b in zip(starts, ends, strict=True)]
        flat = np.concatenate(picked) if picked else np.zeros(0, dtype=np.int64)
        indptr = np.concatenate([[0], np.cumsum(ends - starts)]).astype(np.int64)
        return SparseRows(indptr, self.columns[flat], self.values[flat], self.n_columns)

    def to_scipy(self) -> Any:
        """As a ``scipy.sparse.csr_matrix`` (training only; serving never needs scipy)."""
        from scipy.sparse import csr_matrix

        n_rows = len(self.indptr) - 1
        return csr_matrix((self.values, self.columns, self.indptr), shape=(n_rows, self.n_columns))


class TfidfSpace:
    """Kept feature ids with their IDF: turns texts into L2-normalised TF-IDF rows."""

    def __init__(
        self, featurizer: NgramFeaturizer, features: NDArray[np.int64], idf: NDArray[np.float32]
    ) -> None:
        if features.ndim != 1 or features.shape != idf.shape:
            raise ModelLoadError("lexical features and idf must be 1-d and the same length")
        if len(features) > 1 and not bool(np.all(features[1:] > features[:-1])):
            raise ModelLoadError("lexical feature ids must be sorted and unique")
        self.featurizer = featurizer
        self.features = features
        self.idf = idf

    @classmethod
    def fit(cls, featurizer: NgramFeaturizer, texts: Sequence[str], min_df: int = 3) -> TfidfSpace:
        """Document frequencies over ``texts``; ids in fewer than ``min_df`` texts are dropped.
        IDF is smoothed: ``ln((1 + n) / (1 + df)) + 1``."""
        per_text = []
        for text in texts:
            word_ids, char_ids = featurizer.ids(text)
            per_text.append(np.unique(np.asarray(word_ids + char_ids, dtype=np.int64)))
        all_ids = np.concatenate(per_text) if per_text else np.zeros(0, dtype=np.int64)
        ids, df = np.unique(all_ids, return_counts=True)
        keep = df >= min_df
        idf = np.log((1.0 + len(texts)) / (1.0 + df[keep])) + 1.0
        return cls(featurizer, ids[keep], idf.astype(np.float32))

    def transform(self, texts: Sequence[str]) -> SparseRows:
        indptr = [0]
        columns: list[NDArray[np.int64]] = []
        values: list[NDArray[np.float32]] = []
        for text in texts:
            row_cols, row_vals = [], []
            for block in self.featurizer.ids(text):
                if not block:
                    continue
                ids, counts = np.unique(np.asarray(block, dtype=np.int64), return_counts=True)
                pos = np.searchsorted(self.features, ids)
                pos[pos == len(self.features)] = 0
                found = self.features[pos] == ids if len(self.features) else np.zeros(0, bool)
                pos, counts = pos[found], counts[found]
                if not len(pos):
                    continue
                vals = (1.0 + np.log(counts)) * self.idf[pos]
                vals /= np.sqrt(np.dot(vals, vals))
                row_cols.append(pos)
                row_vals.append(vals.astype(np.float32))
            if row_cols:
                columns.append(np.concatenate(row_cols))
                values.append(np.concatenate(row_vals))
            indptr.append(indptr[-1] + sum(len(c) for c in row_cols))
        return SparseRows(
            np.asarray(indptr, dtype=np.int64),
            np.concatenate(columns) if columns else np.zeros(0, dtype=np.int64),
            np.concatenate(values) if values else np.zeros(0, dtype=np.float32),
            len(self.features),
        )


@dataclass(frozen=True, slots=True)
class LinearModel:
    """Multinomial logistic regression over a ``TfidfSpace``: ``coef`` [n_features, n_labels]."""

    coef: NDArray[np.float32]
    intercept: NDArray[np.float32]

    def log_probs(self, rows: SparseRows) -> NDArray[np.float32]:
        n_rows = len(rows.indptr) - 1
        logits = np.tile(self.intercept, (n_rows, 1)).astype(np.float32)
        if len(rows.columns):
            row_of = np.repeat(np.arange(n_rows), np.diff(rows.indptr))
            contrib = rows.values[:, None] * self.coef[rows.columns]
            for k in range(logits.shape[1]):
                logits[:, k] += np.bincount(row_of, weights=contrib[:, k], minlength=n_rows)
        return log_softmax(logits)


def log_softmax(logits: NDArray[np.float32]) -> NDArray[np.float32]:
    shifted = logits - logits.max(axis=1, keepdims=True)
    out: NDArray[np.float32] = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return out


def blend(
    encoder_probs: NDArray[np.float32], lexical_log_probs: NDArray[np.float32], weight: float
) -> NDArray[np.float32]:
    """``p_enc ** (1 - w) * p_lex ** w``, renormalised (a weighted geometric mean)."""
    if weight <= 0.0:
        return encoder_probs
    mixed = (1.0 - weight) * np.log(np.clip(encoder_probs, 1e-9, 1.0)) + weight * lexical_log_probs
    out: NDArray[np.float32] = np.exp(log_softmax(mixed.astype(np.float32)))
    return out


class LexicalHead:
    """The lexical models of an artifact: one ``TfidfSpace`` and a ``LinearModel`` per aspect."""

    def __init__(
        self,
        space: TfidfSpace,
        models: Mapping[str, LinearModel],
        weights: Mapping[str, float],
    ) -> None:
        self.space = space
        self.models = dict(models)
        self.weights = {name: float(weights.get(name, 0.0)) for name in self.models}

    @property
    def active(self) -> list[str]:
        """Aspects whose blend weight is above zero."""
        return [name for name, w in self.weights.items() if w > 0.0]

    def blend(
        self, texts: Sequence[str], encoder_probs: Mapping[str, NDArray[np.float32]]
    ) -> dict[str, NDArray[np.float32]]:
        """The encoder's probabilities with each active aspect's lexical scores blended in."""
        out = dict(encoder_probs)
        active = [name for name in self.active if name in out]
        if not active or not texts:
            return out
        rows = self.space.transform(texts)
        for name in active:
            out[name] = blend(out[name], self.models[name].log_probs(rows), self.weights[name])
        return out

    def tensors(self) -> dict[str, NDArray[Any]]:
        data: dict[str, NDArray[Any]] = {
            "features": self.space.features.astype(np.int32),
            "idf": self.space.idf.astype(np.float32),
        }
        for name, model in self.models.items():
            data[f"{name}.coef"] = model.coef.astype(np.float16)
            data[f"{name}.intercept"] = model.intercept.astype(np.float32)
        return data

    def config(self) -> dict[str, Any]:
        return {
            "featurizer": self.space.featurizer.to_dict(),
            "weights": {name: round(w, 4) for name, w in self.weights.items()},
        }

    def save(self, directory: Path) -> Path:
        from safetensors.numpy import save_file

        path = directory / LEXICAL_FILE
        save_file(self.tensors(), str(path))
        return path

    @classmethod
    def load(
        cls, directory: Path, config: Mapping[str, Any], labels: Mapping[str, Sequence[str]]
    ) -> LexicalHead:
        from safetensors.numpy import load_file

        try:
            featurizer = NgramFeaturizer.from_dict(config["featurizer"])
            tensors = load_file(str(directory / LEXICAL_FILE))
            space = TfidfSpace(
                featurizer,
                tensors["features"].astype(np.int64),
                tensors["idf"].astype(np.float32),
            )
            weights = {str(k): float(v) for k, v in config.get("weights", {}).items()}
            models = {}
            for name in weights:
                coef = tensors[f"{name}.coef"].astype(np.float32)
                intercept = tensors[f"{name}.intercept"].astype(np.float32)
                n_labels = len(labels.get(name, ()))
                if coef.shape != (len(space.features), n_labels) or intercept.shape != (n_labels,):
                    raise ModelLoadError(f"lexical model {name!r} does not match its labels")
                models[name] = LinearModel(coef, intercept)
        except (OSError, KeyError, TypeError, ValueError) as exc:
            raise ModelLoadError(f"cannot read lexical head in {directory}: {exc}") from exc
        return cls(space, models, weights)

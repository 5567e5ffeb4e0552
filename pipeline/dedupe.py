"""Dedupe: exact copies and near-duplicates (MinHash over word shingles, LSH bands).

A snippet's ``Fingerprint`` holds
- ``exact``: BLAKE2b of its normalised text (``pipeline.normalize``): reprints that only
  change packaging (dateline, links, case, trailing cashtags) hash alike;
- ``minhash``: ``num_perm`` MinHash values over word ``shingle_size``-grams, exactly as
  ``datasketch.MinHash`` computes them under a pinned scheme (``affine32``) and seed, so
  every worker and every release agrees on them (they are stored in Redis for the whole
  horizon); ``Fingerprinter.fingerprint_many`` computes a whole poll in one array op;
- ``bands``: ``bands`` LSH band keys, ``"<band>:<its rows' values in hex>"``. Two snippets
  sharing any band key are candidates; a candidate is a near-duplicate when the MinHash
  estimate of their Jaccard similarity is at least the threshold. Banding is only recall
  for the candidate search, the threshold decides.

Store semantics (``DedupeStore.check_and_claim``), shared by ``InMemoryDedupeStore`` and the
Redis adapter (``workers/dedupe_store.py``):

1. If ``snippet_id`` already holds a claim (an at-least-once redelivery), it is NOT a
   duplicate: its claim is refreshed and ``DedupeDecision.unique()`` is returned.
2. Else, if another id claimed the same ``exact`` hash with an event time within
   ``horizon`` of this one: exact duplicate of that id (similarity 1.0).
3. Else, among other ids sharing a band key with an event time within ``horizon``, the one
   with the highest estimated Jaccard ``>= threshold`` (ties: earlier event time, then
   smaller id): near duplicate of it.
4. Else this id claims its exact key, its band keys and its signature; claims live for
   ``horizon`` (Redis: TTL) so memory stays bounded.

A duplicate claims nothing: the canonical id stays the one that was seen first.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import operator
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from pipeline.normalize import normalize_text, shingles

__all__ = [
    "DEFAULT_BANDS",
    "DEFAULT_MIN_NEAR_TOKENS",
    "DEFAULT_NUM_PERM",
    "DEFAULT_ROWS",
    "DEFAULT_SHINGLE_SIZE",
    "MINHASH_SCHEME",
    "MINHASH_SEED",
    "RECOMMENDED_THRESHOLD",
    "ClaimedFingerprint",
    "DedupeDecision",
    "DedupeKind",
    "DedupeStore",
    "Fingerprint",
    "Fingerprinter",
    "InMemoryDedupeStore",
    "candidate_probability",
    "decide",
    "decode_minhash",
    "encode_minhash",
    "estimated_jaccard",
]

DedupeKind = Literal["exact", "near"]

MINHASH_SEED = 20251103  # fixed forever: signatures live in Redis across releases
MINHASH_SCHEME: Literal["affine32"] = "affine32"
DEFAULT_NUM_PERM = 128
DEFAULT_BANDS = 42
DEFAULT_ROWS = 3
DEFAULT_SHINGLE_SIZE = 5
DEFAULT_MIN_NEAR_TOKENS = 10
RECOMMENDED_THRESHOLD = 0.4  # estimated Jaccard of 5-word shingles; bench/dedupe_threshold.py


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """A snippet's dedupe keys (see the module docstring); ``bands[i]`` is band ``i``.

    ``signature``, when not empty, is ``minhash`` packed as uint32 big-endian (what the
    Redis store keeps); ``Fingerprinter`` fills it, a store packs ``minhash`` otherwise.
    """

    exact: str
    minhash: tuple[int, ...]
    bands: tuple[str, ...]
    signature: bytes = field(default=b"", compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class DedupeDecision:
    duplicate_of: str | None
    kind: DedupeKind | None
    similarity: float

    @property
    def is_duplicate(self) -> bool:
        return self.duplicate_of is not None

    @classmethod
    def unique(cls) -> DedupeDecision:
        return cls(duplicate_of=None, kind=None, similarity=0.0)


def estimated_jaccard(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    """Share of MinHash positions that agree: the unbiased Jaccard estimate."""
    if len(a) != len(b) or not a:
        raise ValueError(f"signatures of different lengths: {len(a)} and {len(b)}")
    return sum(1 for x, y in zip(a, b, strict=True) if x == y) / len(a)


def encode_minhash(values: tuple[int, ...]) -> str:
    """Compact wire form: 8 hex digits per value (uint32, big-endian), no separators."""
    return "".join(f"{v:08x}" for v in values)


def decode_minhash(text: str) -> tuple[int, ...]:
    if len(text) % 8:
        raise ValueError("encoded MinHash length must be a multiple of 8")
    return tuple(int(text[i : i + 8], 16) for i in range(0, len(text), 8))


def candidate_probability(similarity: float, bands: int, rows: int) -> float:
    """P(two snippets of Jaccard ``similarity`` share a band): the LSH S-curve."""
    return float(1.0 - (1.0 - similarity**rows) ** bands)


class Fingerprinter:
    """Computes ``Fingerprint``s; deterministic across processes, hosts and releases."""

    def __init__(
        self,
        num_perm: int = DEFAULT_NUM_PERM,
        bands: int = DEFAULT_BANDS,
        rows: int = DEFAULT_ROWS,
        shingle_size: int = DEFAULT_SHINGLE_SIZE,
        *,
        min_near_tokens: int = DEFAULT_MIN_NEAR_TOKENS,
        seed: int = MINHASH_SEED,
    ) -> None:
        if bands < 1 or rows < 1 or bands * rows > num_perm:
            raise ValueError(f"bands*rows ({bands}*{rows}) must be in 1..num_perm ({num_perm})")
        if shingle_size < 1:
            raise ValueError("shingle_size must be >= 1")
        self.num_perm = num_perm
        self.bands = bands
        self.rows = rows
        self.shingle_size = shingle_size
        self.min_near_tokens = min_near_tokens
        self.seed = seed
        self._perm_a, self._perm_b = _affine32_permutations(num_perm, seed)
        self._band_labels = [f"{i}:" for i in range(bands)]

    def describe(self) -> dict[str, Any]:
        """Parameters that must match across workers sharing one store."""
        return {
            "num_perm": self.num_perm,
            "bands": self.bands,
            "rows": self.rows,
            "shingle_size": self.shingle_size,
            "min_near_tokens": self.min_near_tokens,
            "seed": self.seed,
            "scheme": MINHASH_SCHEME,
        }

    def features(self, normalized: str) -> list[str]:
        """The set MinHash summarises: word shingles of a normalised text, sorted.

        A short text (fewer than ``min_near_tokens`` words: a headline, a tweet) differs
        from a look-alike by the one word that carries the news ("Apple beats" / "Intel
        beats", "rise" / "fall"), so shingle overlap says nothing about it: its only
        feature is the whole text, and it matches nothing but an exact copy.
        """
        return sorted(self._feature_set(normalized))

    def _feature_set(self, normalized: str) -> Collection[str]:
        """``features`` in no particular order (MinHash does not care)."""
        if len(normalized.split()) < self.min_near_tokens:
            return (normalized,)
        return shingles(normalized, self.shingle_size, normalized=True) or (normalized,)

    def fingerprint(self, text: str) -> Fingerprint:
        return self.fingerprint_many([text])[0]

    def fingerprint_normalized(self, normalized: str, *, exact: str | None = None) -> Fingerprint:
        if exact is None:
            exact = _exact_hash(normalized)
        return self._fingerprints([normalized], [exact])[0]

    def fingerprint_many(self, texts: Sequence[str]) -> list[Fingerprint]:
        """``fingerprint`` of each text, computed together (one array op per batch).

        Equal, value for value, to ``fingerprint`` of each text on its own.
        """
        normalized = [normalize_text(text) or " ".join(text.split()).casefold() for text in texts]
        # an empty normalised text means only packaging (a bare link, a cashtag list):
        # plain words stand in for it
        return self._fingerprints(normalized, [_exact_hash(n) for n in normalized])

    def _fingerprints(self, normalized: Sequence[str], exacts: Sequence[str]) -> list[Fingerprint]:
        if not normalized:
            return []
        values = self.signatures([self._feature_set(n) for n in normalized])
        # band key: band number and its rows' values in hex (8 digits per row); collisions
        # between different rows are impossible, and the key is readable when debugging.
        # All bands of the batch at once: hex with a comma after every band's bytes, split.
        n, per = len(normalized), self.bands
        big_endian = values.astype(">u4")
        rows = np.ascontiguousarray(big_endian[:, : self.bands * self.rows])
        hexed = rows.tobytes().hex(",", -4 * self.rows).split(",")
        keys = list(map(operator.add, self._band_labels * n, hexed))
        packed = big_endian.tobytes()
        width = 4 * self.num_perm
        return [
            Fingerprint(
                exact=exact,
                minhash=tuple(row),
                bands=tuple(keys[i * per : i * per + per]),
                signature=packed[i * width : i * width + width],
            )
            for i, (row, exact) in enumerate(zip(values.tolist(), exacts, strict=True))
        ]

    def signatures(self, feature_sets: Sequence[Collection[str]]) -> npt.NDArray[np.uint32]:
        """MinHash signatures (one row of ``num_perm`` uint32 per non-empty feature list).

        The ``affine32`` scheme of ``datasketch`` (2.x), value for value: each feature is
        hashed once (first 4 bytes of SHA-1, little-endian), pre-mixed with the MurmurHash3
        finaliser, then every permutation ``a * h + b`` (mod 2**32) is one array operation
        over all features of the batch, and each text keeps the minimum over its own.
        """
        if not feature_sets:
            return np.empty((0, self.num_perm), dtype=np.uint32)
        # SHA-1 of every feature, iterated in C (map), then the first 4 bytes of each
        grams = itertools.chain.from_iterable(feature_sets)
        digests = b"".join(map(_DIGEST, map(hashlib.sha1, map(str.encode, grams))))
        counts = np.fromiter(
            (len(g) for g in feature_sets), dtype=np.int64, count=len(feature_sets)
        )
        if counts.min() < 1:
            raise ValueError("every text needs at least one feature")
        first4 = np.frombuffer(digests, dtype=np.uint8).reshape(-1, _SHA1_BYTES)[:, :4].copy()
        hv = _fmix32(first4.view("<u4").ravel().astype(np.uint32))
        a, b = self._perm_a, self._perm_b
        if len(feature_sets) == 1:
            phv = hv[:, None] * a
            phv += b
            single: npt.NDArray[np.uint32] = phv.min(axis=0, keepdims=True)
            return single
        starts = np.zeros(len(feature_sets), dtype=np.int64)
        np.cumsum(counts[:-1], out=starts[1:])
        out = np.empty((len(feature_sets), self.num_perm), dtype=np.uint32)
        # a few thousand features at a time: the (features x permutations) block stays in cache
        chunk = max(1, _BLOCK_FEATURES // self.num_perm)
        first = 0
        while first < len(feature_sets):
            last = first
            total = 0
            while last < len(feature_sets) and (last == first or total + counts[last] <= chunk):
                total += int(counts[last])
                last += 1
            lo = int(starts[first])
            hi = lo + total
            phv = hv[lo:hi, None] * a
            phv += b
            out[first:last] = np.minimum.reduceat(phv, starts[first:last] - lo, axis=0)
            first = last
        return out


def _affine32_permutations(
    num_perm: int, seed: int
) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint32]]:
    """The ``(a, b)`` of ``datasketch.MinHash(num_perm, seed, scheme="affine32")``, drawn
    the same way (``a`` odd, so each ``a * h + b`` is a bijection mod 2**32); datasketch
    itself (and the scipy it imports) stays out of the worker."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return np.ascontiguousarray(a, dtype=np.uint32), np.ascontiguousarray(b, dtype=np.uint32)


def _exact_hash(normalized: str) -> str:
    return hashlib.blake2b(normalized.encode("utf-8"), digest_size=16).hexdigest()


_DIGEST = type(hashlib.sha1()).digest
_SHA1_BYTES = 20
_BLOCK_FEATURES = 1 << 19  # uint32 cells per permutation block (2 MiB)
_FMIX_C1 = np.uint32(0x85EBCA6B)
_FMIX_C2 = np.uint32(0xC2B2AE35)


def _fmix32(hv: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint32]:
    """MurmurHash3's 32-bit finaliser (a bijection), as ``datasketch`` applies it."""
    hv = hv ^ (hv >> np.uint32(16))
    hv = hv * _FMIX_C1
    hv ^= hv >> np.uint32(13)
    hv = hv * _FMIX_C2
    hv ^= hv >> np.uint32(16)
    return hv


class DedupeStore(Protocol):
    def check_and_claim(
        self,
        snippet_id: str,
        fp: Fingerprint,
        event_time: datetime,
        *,
        threshold: float,
        horizon: timedelta,
    ) -> DedupeDecision: ...


@dataclass(frozen=True, slots=True)
class ClaimedFingerprint:
    """A claim held in a store: whose fingerprint, at which event time."""

    snippet_id: str
    fingerprint: Fingerprint
    event_time: datetime


def decide(
    snippet_id: str,
    fp: Fingerprint,
    event_time: datetime,
    candidates: Iterable[ClaimedFingerprint],
    *,
    threshold: float,
    horizon: timedelta,
) -> DedupeDecision:
    """The pure decision of steps 2-3 of the store semantics over candidate claims.

    ``candidates`` are claims sharing the exact hash or a band key (others are ignored
    anyway). Claims by ``snippet_id`` itself and claims outside the horizon never match.
    """
    best: tuple[float, datetime, str] | None = None
    for claim in candidates:
        if claim.snippet_id == snippet_id or abs(claim.event_time - event_time) > horizon:
            continue
        if claim.fingerprint.exact == fp.exact:
            return DedupeDecision(duplicate_of=claim.snippet_id, kind="exact", similarity=1.0)
        sim = estimated_jaccard(fp.minhash, claim.fingerprint.minhash)
        if sim < threshold:
            continue
        key = (-sim, claim.event_time, claim.snippet_id)
        if best is None or key < (-best[0], best[1], best[2]):
            best = (sim, claim.event_time, claim.snippet_id)
    if best is None:
        return DedupeDecision.unique()
    return DedupeDecision(duplicate_of=best[2], kind="near", similarity=best[0])


@dataclass(slots=True)
class _Claim:
    claim: ClaimedFingerprint
    expires_at: datetime


@dataclass(slots=True)
class InMemoryDedupeStore:
    """``DedupeStore`` in a process's memory: unit tests, backfills, single-process runs.

    ``clock`` drives expiry exactly like Redis TTLs (a claim lives ``horizon`` after it was
    made). With ``clock=None`` the store runs on event time instead, as a backfill needs: a
    claim expires once the highest event time seen passes its event time by twice the
    horizon (one horizon of matching, one of tolerance for out-of-order input), so a
    years-long backfill holds about two horizons of claims.
    """

    clock: Callable[[], datetime] | None = None
    _claims: dict[str, _Claim] = field(default_factory=dict)
    _exact: dict[str, set[str]] = field(default_factory=dict)
    _bands: dict[str, set[str]] = field(default_factory=dict)
    _expiry: list[tuple[datetime, str]] = field(default_factory=list)
    _watermark: datetime | None = None

    def __len__(self) -> int:
        return len(self._claims)

    def check_and_claim(
        self,
        snippet_id: str,
        fp: Fingerprint,
        event_time: datetime,
        *,
        threshold: float,
        horizon: timedelta,
    ) -> DedupeDecision:
        if event_time.tzinfo is None:
            raise ValueError("event_time must be timezone-aware")
        event_time = event_time.astimezone(UTC)
        if self._watermark is None or event_time > self._watermark:
            self._watermark = event_time
        now = self._now()
        self._expire(now)
        if snippet_id in self._claims:  # redelivery of a claimed snippet
            self._claim(snippet_id, fp, event_time, horizon, now)
            return DedupeDecision.unique()
        ids: set[str] = set(self._exact.get(fp.exact, ()))
        for band in fp.bands:
            ids.update(self._bands.get(band, ()))
        decision = decide(
            snippet_id,
            fp,
            event_time,
            (self._claims[i].claim for i in sorted(ids) if i in self._claims),
            threshold=threshold,
            horizon=horizon,
        )
        if not decision.is_duplicate:
            self._claim(snippet_id, fp, event_time, horizon, now)
        return decision

    def _now(self) -> datetime:
        if self.clock is None:
            assert self._watermark is not None
            return self._watermark
        now = self.clock()
        if now.tzinfo is None:
            raise ValueError("the store's clock must return timezone-aware datetimes")
        return now

    def _claim(
        self,
        snippet_id: str,
        fp: Fingerprint,
        event_time: datetime,
        horizon: timedelta,
        now: datetime,
    ) -> None:
        self._release(snippet_id)
        expires_at = event_time + 2 * horizon if self.clock is None else now + horizon
        self._claims[snippet_id] = _Claim(
            ClaimedFingerprint(snippet_id, fp, event_time), expires_at
        )
        self._exact.setdefault(fp.exact, set()).add(snippet_id)
        for band in fp.bands:
            self._bands.setdefault(band, set()).add(snippet_id)
        heapq.heappush(self._expiry, (expires_at, snippet_id))

    def _release(self, snippet_id: str) -> None:
        held = self._claims.pop(snippet_id, None)
        if held is None:
            return
        fp = held.claim.fingerprint
        for index, key in ((self._exact, fp.exact), *((self._bands, b) for b in fp.bands)):
            owners = index.get(key)
            if owners is not None:
                owners.discard(snippet_id)
                if not owners:
                    del index[key]

    def _expire(self, now: datetime) -> None:
        while self._expiry and self._expiry[0][0] <= now:
            expires_at, snippet_id = heapq.heappop(self._expiry)
            held = self._claims.get(snippet_id)
            if held is not None and held.expires_at == expires_at:
                self._release(snippet_id)

"""The vectorised MinHash equals ``datasketch``'s, value for value, and batches change nothing.

Signatures live in Redis for a whole horizon and are compared across workers and
releases, so the fast path must reproduce the reference scheme exactly.
"""

from __future__ import annotations

import random
import struct

import pytest

from pipeline.dedupe import MINHASH_SCHEME, MINHASH_SEED, Fingerprinter
from pipeline.normalize import normalize_text

WORDS = [
    "revenue",
    "guidance",
    "margin",
    "shares",
    "analysts",
    "quarter",
    "growth",
    "outlook",
    "forecast",
    "demand",
    "supply",
    "chain",
    "earnings",
    "beat",
    "miss",
    "raise",
    "cut",
    "dividend",
    "buyback",
    "regulator",
    "probe",
    "deal",
    "merger",
    "chip",
    "cloud",
    "retail",
    "bank",
    "oil",
    "drug",
    "trial",
    "approval",
    "recall",
    "lawsuit",
    "Nvidia",
    "Apple",
    "3.5%",
    "$AAPL",
    "(Reuters)",
    "https://t.co/x1",
    "Zürich",
    "naïve",
    "café",
    "—",
    "“quoted”",
    "10,000",
    "Q3",
]


def random_texts(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        length = rng.choice((1, 2, 4, 9, 10, 11, 25, 60, 300))
        texts.append(" ".join(rng.choice(WORDS) for _ in range(length)))
    # packaging only, whitespace oddities, a long text, repeated shingles
    texts += ["https://example.com/a", "$AAPL $MSFT", "  Apple\n\tbeats  ", "a " * 2000]
    return texts


def reference_signature(fpr: Fingerprinter, text: str) -> tuple[int, ...]:
    from datasketch import MinHash

    normalized = normalize_text(text) or " ".join(text.split()).casefold()
    mh = MinHash(num_perm=fpr.num_perm, seed=fpr.seed, scheme=MINHASH_SCHEME)
    mh.update_batch([g.encode("utf-8") for g in fpr.features(normalized)])
    return tuple(int(v) for v in mh.hashvalues)


@pytest.mark.parametrize("seed", [1, 2])
def test_fingerprint_many_equals_datasketch_and_single_texts(seed: int) -> None:
    fpr = Fingerprinter()
    texts = random_texts(150, seed)
    many = fpr.fingerprint_many(texts)
    assert len(many) == len(texts)
    for text, fp in zip(texts, many, strict=True):
        assert fp == fpr.fingerprint(text)
        assert fp.minhash == reference_signature(fpr, text)
        assert fp.signature == struct.pack(">128I", *fp.minhash)
        hexed = "".join(f"{v:08x}" for v in fp.minhash)
        assert fp.bands == tuple(f"{i}:{hexed[i * 24 : (i + 1) * 24]}" for i in range(42))


def test_batch_boundaries_do_not_change_signatures() -> None:
    """Blocks of the permutation array split a large batch; results must not depend on it."""
    fpr = Fingerprinter()
    texts = random_texts(400, 3) * 3
    whole = fpr.fingerprint_many(texts)
    pieces = [fp for i in range(0, len(texts), 7) for fp in fpr.fingerprint_many(texts[i : i + 7])]
    assert whole == pieces


def test_other_parameters_follow_the_reference() -> None:
    fpr = Fingerprinter(num_perm=64, bands=16, rows=4, shingle_size=3, seed=MINHASH_SEED + 1)
    for text, fp in zip(texts := random_texts(40, 4), fpr.fingerprint_many(texts), strict=True):
        assert fp.minhash == reference_signature(fpr, text)
        assert len(fp.bands) == 16 and all(len(b.split(":")[1]) == 32 for b in fp.bands)


def test_empty_batch_and_featureless_input() -> None:
    fpr = Fingerprinter()
    assert fpr.fingerprint_many([]) == []
    with pytest.raises(ValueError):
        fpr.signatures([["a b c"], []])


@pytest.mark.parametrize(("num_perm", "seed"), [(128, MINHASH_SEED), (64, 1), (7, 123456)])
def test_permutations_are_datasketchs(num_perm: int, seed: int) -> None:
    from datasketch import MinHash

    a, b = MinHash(num_perm=num_perm, seed=seed, scheme=MINHASH_SCHEME).permutations
    fpr = Fingerprinter(num_perm=num_perm, bands=1, rows=1, seed=seed)
    assert fpr._perm_a.tolist() == [int(x) for x in a]
    assert fpr._perm_b.tolist() == [int(x) for x in b]

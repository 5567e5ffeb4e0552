"""Dedupe: fingerprints, the decision, and the in-memory store's semantics (shared with Redis)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.dedupe import (
    MINHASH_SCHEME,
    MINHASH_SEED,
    RECOMMENDED_THRESHOLD,
    ClaimedFingerprint,
    DedupeDecision,
    Fingerprinter,
    InMemoryDedupeStore,
    candidate_probability,
    decide,
    decode_minhash,
    encode_minhash,
    estimated_jaccard,
)
from pipeline.normalize import normalize_text

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 3, 14, 0, tzinfo=UTC)
H = timedelta(days=7)
TH = RECOMMENDED_THRESHOLD

STORY = (
    "Nvidia forecast fourth-quarter revenue of about $65 billion, plus or minus 2%, above "
    "analysts' estimates, as demand for its Blackwell chips from cloud providers and AI labs "
    "continued to exceed supply."
)
UPDATE = (
    "UPDATE 1-Nvidia forecast tops estimates\nSAN FRANCISCO (Reuters) - "
    + STORY
    + "\nShares rose 4% in "
    "extended trading.\n(Reporting by Jane Doe; Editing by Bob Smith)"
)
OTHER = (
    "Advanced Micro Devices forecast fourth-quarter revenue of about $9.6 billion, above estimates, "
    "as demand for its data-center processors and AI chips grew in the third quarter."
)


@pytest.fixture(scope="module")
def fpr() -> Fingerprinter:
    return Fingerprinter()


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_fingerprint_is_deterministic_and_shaped(fpr: Fingerprinter) -> None:
    a, b = fpr.fingerprint(STORY), Fingerprinter().fingerprint(STORY)
    assert a == b
    assert len(a.minhash) == fpr.num_perm == 128
    assert len(a.bands) == fpr.bands
    assert all(isinstance(v, int) and 0 <= v < 2**32 for v in a.minhash)
    assert all(band.startswith(f"{i}:") for i, band in enumerate(a.bands))
    assert len(set(a.bands)) == len(a.bands)


def test_signature_equals_datasketch_computed_independently(fpr: Fingerprinter) -> None:
    from datasketch import MinHash

    mh = MinHash(num_perm=128, seed=MINHASH_SEED, scheme=MINHASH_SCHEME)
    for gram in fpr.features(normalize_text(STORY)):
        mh.update(gram.encode("utf-8"))
    assert fpr.fingerprint(STORY).minhash == tuple(int(v) for v in mh.hashvalues)


def test_estimate_tracks_true_jaccard(fpr: Fingerprinter) -> None:
    fa, fb = fpr.fingerprint(STORY), fpr.fingerprint(UPDATE)
    sa, sb = set(fpr.features(normalize_text(STORY))), set(fpr.features(normalize_text(UPDATE)))
    true = len(sa & sb) / len(sa | sb)
    assert abs(estimated_jaccard(fa.minhash, fb.minhash) - true) < 0.15  # ~3.5 sigma at 128 perms


def test_packaging_gives_the_same_exact_hash(fpr: Fingerprinter) -> None:
    assert (
        fpr.fingerprint(STORY).exact == fpr.fingerprint(f"(Bloomberg) -- {STORY} $NVDA $AMD").exact
    )
    assert fpr.fingerprint(STORY).exact != fpr.fingerprint(OTHER).exact


def test_short_texts_match_only_exact_copies(fpr: Fingerprinter) -> None:
    a, b = (
        fpr.fingerprint("Apple beats estimates on iPhone strength"),
        fpr.fingerprint("Microsoft beats estimates on iPhone strength"),
    )
    assert estimated_jaccard(a.minhash, b.minhash) < 0.1
    assert not set(a.bands) & set(b.bands)


def test_text_of_only_packaging_still_gets_a_fingerprint(fpr: Fingerprinter) -> None:
    a, b = fpr.fingerprint("https://example.com/a"), fpr.fingerprint("https://example.com/b")
    assert a.exact != b.exact


def test_encode_decode_round_trip(fpr: Fingerprinter) -> None:
    sig = fpr.fingerprint(STORY).minhash
    wire = encode_minhash(sig)
    assert len(wire) == 8 * len(sig)
    assert decode_minhash(wire) == sig
    with pytest.raises(ValueError):
        decode_minhash("abc")


def test_estimated_jaccard_rejects_mismatched_lengths() -> None:
    with pytest.raises(ValueError):
        estimated_jaccard((1, 2), (1, 2, 3))


def test_s_curve() -> None:
    assert candidate_probability(1.0, 42, 3) == 1.0
    assert candidate_probability(0.0, 42, 3) == 0.0
    assert candidate_probability(0.4, 42, 3) > 0.9 > candidate_probability(0.2, 42, 3)


def test_fingerprinter_validates_parameters() -> None:
    with pytest.raises(ValueError):
        Fingerprinter(num_perm=64, bands=42, rows=3)
    with pytest.raises(ValueError):
        Fingerprinter(shingle_size=0)


# --- the decision --------------------------------------------------------------------


def test_decide_prefers_exact_then_highest_similarity_then_earliest(fpr: Fingerprinter) -> None:
    fp = fpr.fingerprint(STORY)
    near = fpr.fingerprint(UPDATE)
    cands = [
        ClaimedFingerprint("late-near", near, T0 + timedelta(hours=2)),
        ClaimedFingerprint("early-near", near, T0 - timedelta(hours=2)),
    ]
    d = decide("me", fp, T0, cands, threshold=TH, horizon=H)
    assert d.duplicate_of == "early-near" and d.kind == "near"
    assert d.similarity == pytest.approx(estimated_jaccard(fp.minhash, near.minhash))
    d = decide("me", fp, T0, [*cands, ClaimedFingerprint("copy", fp, T0)], threshold=TH, horizon=H)
    assert (d.duplicate_of, d.kind, d.similarity) == ("copy", "exact", 1.0)


def test_decide_ignores_self_out_of_horizon_and_below_threshold(fpr: Fingerprinter) -> None:
    fp = fpr.fingerprint(STORY)
    cands = [
        ClaimedFingerprint("me", fp, T0),
        ClaimedFingerprint("old", fp, T0 - H - timedelta(seconds=1)),
        ClaimedFingerprint("other", fpr.fingerprint(OTHER), T0),
    ]
    assert decide("me", fp, T0, cands, threshold=TH, horizon=H) == DedupeDecision.unique()
    edge = [ClaimedFingerprint("edge", fp, T0 - H)]
    assert decide("me", fp, T0, edge, threshold=TH, horizon=H).duplicate_of == "edge"


# --- the store -----------------------------------------------------------------------


def test_store_exact_near_and_unique(fpr: Fingerprinter) -> None:
    store = InMemoryDedupeStore(FakeClock(T0))
    first = store.check_and_claim("a", fpr.fingerprint(STORY), T0, threshold=TH, horizon=H)
    assert not first.is_duplicate
    exact = store.check_and_claim(
        "b", fpr.fingerprint("UPDATE 2-" + STORY + " $NVDA"), T0, threshold=TH, horizon=H
    )
    assert (exact.duplicate_of, exact.kind) == ("a", "exact")
    near = store.check_and_claim(
        "c", fpr.fingerprint(UPDATE), T0 + timedelta(hours=1), threshold=TH, horizon=H
    )
    assert (near.duplicate_of, near.kind) == ("a", "near")
    assert TH <= near.similarity < 1.0
    other = store.check_and_claim("d", fpr.fingerprint(OTHER), T0, threshold=TH, horizon=H)
    assert not other.is_duplicate
    assert len(store) == 2  # duplicates claim nothing


def test_redelivery_of_a_claimed_id_is_not_a_duplicate(fpr: Fingerprinter) -> None:
    store = InMemoryDedupeStore(FakeClock(T0))
    fp = fpr.fingerprint(STORY)
    assert not store.check_and_claim("a", fp, T0, threshold=TH, horizon=H).is_duplicate
    assert not store.check_and_claim("a", fp, T0, threshold=TH, horizon=H).is_duplicate
    # a duplicate redelivered stays a duplicate of the same canonical id
    d1 = store.check_and_claim("b", fp, T0, threshold=TH, horizon=H)
    d2 = store.check_and_claim("b", fp, T0, threshold=TH, horizon=H)
    assert d1 == d2 and d1.duplicate_of == "a"


def test_horizon_is_in_event_time(fpr: Fingerprinter) -> None:
    store = InMemoryDedupeStore(FakeClock(T0))
    fp = fpr.fingerprint(STORY)
    store.check_and_claim("a", fp, T0, threshold=TH, horizon=H)
    late = store.check_and_claim("b", fp, T0 + H + timedelta(minutes=1), threshold=TH, horizon=H)
    assert not late.is_duplicate  # the same text a week later in event time is news again
    early = store.check_and_claim("c", fp, T0 - timedelta(days=1), threshold=TH, horizon=H)
    assert early.is_duplicate  # out-of-order arrivals within the horizon still match


def test_claims_expire_by_the_clock_like_ttls(fpr: Fingerprinter) -> None:
    clock = FakeClock(T0)
    store = InMemoryDedupeStore(clock)
    fp = fpr.fingerprint(STORY)
    store.check_and_claim("a", fp, T0, threshold=TH, horizon=H)
    clock.now = T0 + H - timedelta(seconds=1)
    assert store.check_and_claim("b", fp, T0, threshold=TH, horizon=H).is_duplicate
    clock.now = T0 + H
    assert not store.check_and_claim("c", fp, T0, threshold=TH, horizon=H).is_duplicate
    assert len(store) == 1  # "a" expired, "c" holds the claim now


def test_event_time_mode_keeps_memory_bounded(fpr: Fingerprinter) -> None:
    store = InMemoryDedupeStore()  # no clock: a backfill on event time
    horizon = timedelta(days=1)
    for day in range(30):
        text = f"Story number {day} about quarterly results, guidance and the outlook for margins next year"
        store.check_and_claim(
            f"s{day}",
            fpr.fingerprint(text),
            T0 + timedelta(days=day),
            threshold=TH,
            horizon=horizon,
        )
    assert len(store) <= 3  # two horizons of tolerance, plus the current claim


def test_store_rejects_naive_times(fpr: Fingerprinter) -> None:
    store = InMemoryDedupeStore(FakeClock(T0))
    with pytest.raises(ValueError):
        store.check_and_claim(
            "a", fpr.fingerprint(STORY), datetime(2026, 11, 3), threshold=TH, horizon=H
        )


def test_recommended_threshold_separates_the_labelled_reprints(fpr: Fingerprinter) -> None:
    """The default keeps its measured quality on bench/data/reprints.jsonl (see the bench)."""
    pairs = [
        json.loads(line)
        for line in (REPO / "bench" / "data" / "reprints.jsonl").read_text().splitlines()
    ]
    tp = fp_ = fn = 0
    for pair in pairs:
        store = InMemoryDedupeStore(FakeClock(T0))
        store.check_and_claim("a", fpr.fingerprint(pair["a"]), T0, threshold=TH, horizon=H)
        called = store.check_and_claim(
            "b", fpr.fingerprint(pair["b"]), T0, threshold=TH, horizon=H
        ).is_duplicate
        gold = pair["label"] == "dup"
        tp += called and gold
        fp_ += called and not gold
        fn += gold and not called
    assert len(pairs) >= 150
    assert tp / (tp + fp_) >= 0.97
    assert tp / (tp + fn) >= 0.93

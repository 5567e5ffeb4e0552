"""``RedisDedupeStore`` on a real Redis: the same decisions as the in-memory reference,
atomic under concurrency, keys that expire with the horizon, bounded band buckets."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from pipeline.dedupe import Fingerprinter, InMemoryDedupeStore
from workers.dedupe_store import RedisDedupeStore

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
H = timedelta(days=7)

BASE = (
    "Nvidia raised its full-year revenue forecast on Wednesday after data-center sales "
    "beat analyst estimates for a sixth straight quarter, sending shares up in late trading"
)
STREAM = [
    ("a", BASE, T0),
    ("b", BASE, T0 + timedelta(hours=1)),  # exact reprint
    ("c", "UPDATE 1-" + BASE + " $NVDA", T0 + timedelta(hours=2)),  # near copy
    ("d", "Pfizer cut its outlook for vaccine sales as demand kept falling in Europe", T0),
    ("a", BASE, T0),  # redelivery of a claimed snippet: not a duplicate of itself
    ("e", BASE, T0 + timedelta(days=9)),  # outside the horizon of "a": new story
    ("f", "Pfizer cut its outlook for vaccine sales as demand kept falling in Europe!", T0),
]


def test_same_decisions_as_the_in_memory_reference(redis_client) -> None:
    fpr = Fingerprinter()
    store = RedisDedupeStore(redis_client, prefix="t-parity:")
    reference = InMemoryDedupeStore(clock=lambda: T0)
    got, want = [], []
    for sid, text, ts in STREAM:
        fp = fpr.fingerprint(text)
        got.append(store.check_and_claim(sid, fp, ts, threshold=0.7, horizon=H))
        want.append(reference.check_and_claim(sid, fp, ts, threshold=0.7, horizon=H))
    assert [(d.duplicate_of, d.kind) for d in got] == [(d.duplicate_of, d.kind) for d in want]
    assert [d.duplicate_of for d in got] == [None, "a", "a", None, None, None, "d"]
    assert got[2].kind == "near" and 0.7 <= got[2].similarity < 1.0
    assert got[2].similarity == pytest.approx(want[2].similarity)


def test_batched_checks_match_one_by_one(redis_client) -> None:
    fpr = Fingerprinter()
    items = [(sid, fpr.fingerprint(text), ts) for sid, text, ts in STREAM]
    one = RedisDedupeStore(redis_client, prefix="t-one:")
    many = RedisDedupeStore(redis_client, prefix="t-many:")
    singles = [one.check_and_claim(s, fp, ts, threshold=0.7, horizon=H) for s, fp, ts in items]
    assert many.check_and_claim_many(items, threshold=0.7, horizon=H) == singles


def test_concurrent_near_copies_claim_exactly_one(redis_client, redis_url: str) -> None:
    import redis

    fpr = Fingerprinter()
    variants = [
        f"{BASE} {suffix}" for suffix in ("", "(Reuters)", "$NVDA", "shares", "NVDA.O", "x")
    ]
    fps = [fpr.fingerprint(v) for v in variants]
    results: dict[int, object] = {}
    barrier = threading.Barrier(len(variants))

    def claim(i: int) -> None:
        client = redis.Redis.from_url(redis_url)
        store = RedisDedupeStore(client, prefix="t-race:")
        barrier.wait()
        results[i] = store.check_and_claim(f"v{i}", fps[i], T0, threshold=0.7, horizon=H)
        client.close()

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(len(variants))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    unique = [i for i, d in results.items() if not d.is_duplicate]  # type: ignore[attr-defined]
    assert len(results) == len(variants) and len(unique) == 1
    winner = f"v{unique[0]}"
    assert all(d.duplicate_of == winner for d in results.values() if d.is_duplicate)  # type: ignore[attr-defined]


def test_keys_expire_with_the_horizon_and_buckets_stay_bounded(redis_client) -> None:
    fpr = Fingerprinter()
    store = RedisDedupeStore(redis_client, prefix="t-ttl:", max_bucket=4)
    horizon = timedelta(hours=2)
    h_ms = horizon / timedelta(milliseconds=1)
    store.check_and_claim("a", fpr.fingerprint(BASE), T0, threshold=0.7, horizon=horizon)
    claims = redis_client.keys("t-ttl:dd:[xm]:*")
    index = redis_client.keys("t-ttl:dd:e:*")
    assert len(claims) == 2 and index
    assert all(0 < redis_client.pttl(k) <= h_ms for k in claims)  # the claim: one horizon
    assert all(0 < redis_client.pttl(k) <= 2 * h_ms for k in index)  # the band index: <= 2
    # many snippets sharing bands: no band ever lists more than max_bucket ids
    for i in range(12):
        text = f"{BASE} variant number {i} with extra words {i * 7} appended here"
        store.check_and_claim(f"s{i}", fpr.fingerprint(text), T0, threshold=0.99, horizon=horizon)
    sizes = [
        len(v.split(b",")) for k in redis_client.keys("t-ttl:dd:e:*") for v in redis_client.hvals(k)
    ]
    assert max(sizes) == 4


def test_band_index_rotates_with_epochs(redis_client) -> None:
    fpr = Fingerprinter()
    now = [1_800_000_000.0]
    store = RedisDedupeStore(redis_client, prefix="t-epoch:", clock=lambda: now[0])
    horizon = timedelta(hours=2)
    near = "UPDATE 1-" + BASE + " $NVDA"
    store.check_and_claim("a", fpr.fingerprint(BASE), T0, threshold=0.7, horizon=horizon)
    first = set(redis_client.keys("t-epoch:dd:e:*"))
    # an hour and a half later (three epochs of half a horizon on): still found
    now[0] += 1.5 * 3600
    d = store.check_and_claim("c", fpr.fingerprint(near), T0, threshold=0.7, horizon=horizon)
    assert d.duplicate_of == "a" and d.kind == "near"
    # two more epochs: the first epoch's index was unlinked when it left the lookback
    now[0] += 2 * 3600
    store.check_and_claim(
        "z",
        fpr.fingerprint("Unrelated story about grain prices"),
        T0,
        threshold=0.7,
        horizon=horizon,
    )
    assert not first & set(redis_client.keys("t-epoch:dd:e:*"))


def test_expired_claims_are_not_matched(redis_client) -> None:
    fpr = Fingerprinter()
    store = RedisDedupeStore(redis_client, prefix="t-exp:")
    fp = fpr.fingerprint(BASE)
    store.check_and_claim("a", fp, T0, threshold=0.7, horizon=timedelta(milliseconds=50))
    import time

    time.sleep(0.2)  # the TTL ran out: "a" is forgotten
    decision = store.check_and_claim("b", fp, T0, threshold=0.7, horizon=H)
    assert not decision.is_duplicate

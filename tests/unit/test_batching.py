"""Micro-batching: size and age bound every batch; time is injected."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipeline.batching import CPU_DEFAULT, GPU_DEFAULT, MicroBatcher, MicroBatchPolicy

T0 = datetime(2026, 11, 3, tzinfo=UTC)
MS = timedelta(milliseconds=1)


def test_full_batch_is_returned_by_the_add_that_fills_it() -> None:
    b: MicroBatcher[int] = MicroBatcher(MicroBatchPolicy(max_size=3, max_wait=50 * MS))
    assert b.add(1, T0) is None
    assert b.add(2, T0) is None
    assert b.add(3, T0) == [1, 2, 3]
    assert len(b) == 0 and b.oldest_at is None
    assert b.add(4, T0) is None
    assert len(b) == 1


def test_age_of_the_oldest_item_makes_a_batch_due() -> None:
    b: MicroBatcher[str] = MicroBatcher(MicroBatchPolicy(max_size=100, max_wait=50 * MS))
    assert not b.due(T0) and b.time_until_due(T0) is None
    b.add("a", T0)
    b.add("b", T0 + 40 * MS)  # a later item does not restart the wait
    assert b.time_until_due(T0 + 10 * MS) == 40 * MS
    assert not b.due(T0 + 49 * MS)
    assert b.due(T0 + 50 * MS)
    assert b.time_until_due(T0 + 80 * MS) == timedelta(0)
    assert b.flush() == ["a", "b"]
    assert not b.due(T0 + 80 * MS)
    assert b.flush() == []


def test_wait_restarts_with_the_first_item_after_a_flush() -> None:
    b: MicroBatcher[int] = MicroBatcher(MicroBatchPolicy(max_size=2, max_wait=50 * MS))
    b.add(1, T0)
    b.add(2, T0 + 10 * MS)
    b.add(3, T0 + 100 * MS)
    assert b.oldest_at == T0 + 100 * MS
    assert not b.due(T0 + 120 * MS)


def test_zero_wait_is_due_immediately_and_size_one_never_waits() -> None:
    b: MicroBatcher[int] = MicroBatcher(MicroBatchPolicy(max_size=10, max_wait=timedelta(0)))
    b.add(1, T0)
    assert b.due(T0)
    one: MicroBatcher[int] = MicroBatcher(MicroBatchPolicy(max_size=1, max_wait=50 * MS))
    assert one.add(7, T0) == [7]


@pytest.mark.parametrize(
    ("name", "device", "expected"),
    [
        ("sglang", None, GPU_DEFAULT),
        ("transformers", "cuda", GPU_DEFAULT),
        ("transformers", "cuda:1", GPU_DEFAULT),
        ("transformers", "cpu", CPU_DEFAULT),
        ("transformers", None, CPU_DEFAULT),
        ("embedded", None, CPU_DEFAULT),
        ("something-new", None, CPU_DEFAULT),
    ],
)
def test_backend_defaults(name: str, device: str | None, expected: MicroBatchPolicy) -> None:
    assert MicroBatchPolicy.for_backend(name, device=device) == expected


def test_default_values_and_overrides() -> None:
    assert MicroBatchPolicy(256, 20 * MS) == GPU_DEFAULT
    assert MicroBatchPolicy(64, 50 * MS) == CPU_DEFAULT
    p = MicroBatchPolicy.for_backend("sglang", max_size=512)
    assert p == MicroBatchPolicy(512, 20 * MS)
    assert MicroBatchPolicy.for_backend("embedded", max_wait=5 * MS).max_wait == 5 * MS


def test_invalid_policies() -> None:
    with pytest.raises(ValueError):
        MicroBatchPolicy(max_size=0, max_wait=MS)
    with pytest.raises(ValueError):
        MicroBatchPolicy(max_size=1, max_wait=-MS)

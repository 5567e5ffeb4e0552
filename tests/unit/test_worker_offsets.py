"""OffsetTracker: commit the highest contiguous finished offset + 1, per partition."""

from __future__ import annotations

import pytest

from workers.offsets import OffsetTracker

P0, P1 = ("raw", 0), ("raw", 1)


def test_commit_waits_for_the_oldest_unfinished_offset() -> None:
    tr: OffsetTracker[tuple[str, int]] = OffsetTracker()
    tickets = [tr.track(P0, off) for off in range(5)]
    assert tr.commit_plan() == {P0: 0}  # nothing finished: the next to read is still 0
    tr.done(tickets[1])
    tr.done(tickets[2])  # a dead letter and a duplicate finish before the unique offset 0
    assert tr.commit_plan() == {P0: 0}
    tr.done(tickets[0])
    assert tr.commit_plan() == {P0: 3}
    tr.committed({P0: 3})
    assert tr.commit_plan() == {}  # unchanged since the last commit: nothing to send
    tr.done(tickets[4])
    assert tr.commit_plan() == {}  # offset 3 still open
    tr.done(tickets[3])
    assert tr.commit_plan() == {P0: 5}
    assert tr.pending() == 0


def test_partitions_are_independent_and_gaps_are_skipped() -> None:
    tr: OffsetTracker[tuple[str, int]] = OffsetTracker()
    a = tr.track(P0, 10)
    b = tr.track(P0, 14)  # compacted / transactional gap in offsets
    c = tr.track(P1, 3)
    tr.done(b)
    tr.done(c)
    assert tr.commit_plan() == {P0: 10, P1: 4}
    tr.done(a)
    assert tr.commit_plan([P0]) == {P0: 15}
    assert tr.pending(P0) == 0 and tr.pending(P1) == 0


def test_revoked_partition_ignores_stale_completions() -> None:
    tr: OffsetTracker[tuple[str, int]] = OffsetTracker()
    old = tr.track(P0, 0)
    tr.forget([P0])
    assert tr.commit_plan() == {}
    fresh = tr.track(P0, 0)  # assigned again: a new generation
    assert not tr.done(old)  # in-flight work of the old assignment does not count
    assert tr.commit_plan() == {P0: 0}
    assert tr.done(fresh)
    assert tr.commit_plan() == {P0: 1}


def test_offsets_must_increase_within_an_assignment() -> None:
    tr: OffsetTracker[tuple[str, int]] = OffsetTracker()
    tr.track(P0, 5)
    with pytest.raises(ValueError):
        tr.track(P0, 5)


def test_pending_counts_unfinished_messages() -> None:
    tr: OffsetTracker[tuple[str, int]] = OffsetTracker()
    ts = [tr.track(P0, i) for i in range(3)] + [tr.track(P1, 0)]
    assert tr.pending() == 4
    tr.done_many(ts[1:])
    assert tr.pending() == 1 and tr.pending(P1) == 0

"""Which input offsets are safe to commit: highest contiguous processed offset + 1.

The worker finishes messages out of order: a dead letter or a duplicate is produced at
once, a unique snippet only after its micro-batch is scored. An offset may be committed
only when every message before it in its partition is done (its outputs acknowledged by
the broker); otherwise a crash would skip unscored input. ``OffsetTracker`` keeps, per
partition, the fetched offsets in order and which of them are done; ``commit_plan`` gives
the first not-done offset of each partition whose commit point moved.

Assignments change on rebalance. ``forget`` drops a revoked partition; work still in
flight for it carries the old ``Ticket.generation`` and is ignored when it completes, so a
partition assigned again later cannot be marked done by a stale completion.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Generic, NamedTuple, TypeVar

P = TypeVar("P", bound=Hashable)


class Ticket(NamedTuple, Generic[P]):
    """One fetched message's place: partition, offset and the assignment it came from."""

    partition: P
    offset: int
    generation: int


@dataclass(slots=True)
class _PartitionState:
    generation: int
    pending: deque[int] = field(default_factory=deque)  # fetched offsets, increasing
    done: set[int] = field(default_factory=set)  # done offsets still behind a pending one
    next_offset: int | None = None  # one past the highest fetched offset
    committed: int | None = None  # the last offset committed (the next one to read)

    def commit_point(self) -> int | None:
        while self.pending and self.pending[0] in self.done:
            self.done.discard(self.pending.popleft())
        if self.pending:
            return self.pending[0]
        return self.next_offset


class OffsetTracker(Generic[P]):
    """Per-partition bookkeeping of fetched and finished offsets (single event loop)."""

    def __init__(self) -> None:
        self._parts: dict[P, _PartitionState] = {}
        self._generations = itertools.count(1)

    def track(self, partition: P, offset: int) -> Ticket[P]:
        """Record a fetched message; offsets of one partition must arrive increasing."""
        state = self._parts.get(partition)
        if state is None:
            state = _PartitionState(generation=next(self._generations))
            self._parts[partition] = state
        if state.next_offset is not None and offset < state.next_offset:
            raise ValueError(
                f"offset {offset} of {partition!r} fetched after {state.next_offset - 1}: "
                "seek back? forget() the partition first"
            )
        state.pending.append(offset)
        state.next_offset = offset + 1
        return Ticket(partition, offset, state.generation)

    def done(self, ticket: Ticket[P]) -> bool:
        """Mark a message finished; False when its partition was forgotten since."""
        state = self._parts.get(ticket.partition)
        if state is None or state.generation != ticket.generation:
            return False
        state.done.add(ticket.offset)
        return True

    def done_many(self, tickets: Iterable[Ticket[P]]) -> int:
        return sum(1 for t in tickets if self.done(t))

    def commit_plan(self, partitions: Iterable[P] | None = None) -> dict[P, int]:
        """Offsets to commit (next offset to read), only where the commit point moved."""
        chosen = self._parts if partitions is None else partitions
        plan: dict[P, int] = {}
        for p in chosen:
            state = self._parts.get(p)
            if state is None:
                continue
            point = state.commit_point()
            if point is not None and point != state.committed:
                plan[p] = point
        return plan

    def committed(self, plan: dict[P, int]) -> None:
        """Record that ``plan`` was committed to the broker."""
        for p, offset in plan.items():
            state = self._parts.get(p)
            if state is not None:
                state.committed = offset

    def forget(self, partitions: Iterable[P]) -> None:
        """Drop revoked partitions; their in-flight tickets become stale."""
        for p in partitions:
            self._parts.pop(p, None)

    def pending(self, partition: P | None = None) -> int:
        """Fetched messages not yet done (in one partition, or in all)."""
        if partition is not None:
            state = self._parts.get(partition)
            return 0 if state is None else len(state.pending) - len(state.done)
        return sum(len(s.pending) - len(s.done) for s in self._parts.values())

    def partitions(self) -> list[P]:
        return list(self._parts)

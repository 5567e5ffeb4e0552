"""Micro-batching: gather unique snippets for the classifier, flush on size or on age.

A batch is released when it holds ``max_size`` items, or when its OLDEST item has waited
``max_wait`` (so latency is bounded per item, not per quiet spell). Time is injected: the
caller passes ``now`` (a monotonic clock in the worker, a fake one in tests), so the policy
is a pure state machine the worker drives from its poll loop:

    batch = batcher.add(item, now)              # a full batch, or None
    if batch is None and batcher.due(now):
        batch = batcher.flush()
    timeout = batcher.time_until_due(now)       # how long the poll may block

Defaults per backend: a GPU backend (SGLang, transformers on CUDA) amortises a forward
pass over many texts and keeps its queue busy, so it takes big batches with a short wait
(256, 20 ms); a CPU backend's latency grows linearly with batch size, so it takes smaller
batches and can afford a longer wait (64, 50 ms).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, TypeVar

__all__ = ["CPU_DEFAULT", "GPU_DEFAULT", "MicroBatchPolicy", "MicroBatcher"]

T = TypeVar("T")

_GPU_BACKENDS = frozenset({"sglang", "gpu", "cuda", "transformers-cuda", "transformers:cuda"})
_CPU_BACKENDS = frozenset({"embedded", "cpu", "onnx", "transformers", "transformers-cpu", "zero"})


@dataclass(frozen=True, slots=True)
class MicroBatchPolicy:
    max_size: int
    max_wait: timedelta

    def __post_init__(self) -> None:
        if self.max_size < 1:
            raise ValueError(f"max_size must be >= 1, got {self.max_size}")
        if self.max_wait < timedelta(0):
            raise ValueError(f"max_wait must be >= 0, got {self.max_wait}")

    @classmethod
    def for_backend(
        cls,
        name: str,
        *,
        device: str | None = None,
        max_size: int | None = None,
        max_wait: timedelta | None = None,
    ) -> MicroBatchPolicy:
        """Defaults for a backend, with explicit overrides winning.

        ``name`` is a backend name (``sglang``, ``transformers``, ``embedded``...);
        ``transformers`` counts as GPU when ``device`` starts with ``cuda`` (or the name
        is written ``transformers-cuda``). Unknown names get the CPU defaults, the safe side.
        """
        key = name.strip().lower()
        on_gpu = key in _GPU_BACKENDS or (
            key.startswith("transformers") and (device or "").lower().startswith("cuda")
        )
        base = GPU_DEFAULT if on_gpu else CPU_DEFAULT
        return cls(
            max_size=base.max_size if max_size is None else max_size,
            max_wait=base.max_wait if max_wait is None else max_wait,
        )


GPU_DEFAULT = MicroBatchPolicy(max_size=256, max_wait=timedelta(milliseconds=20))
CPU_DEFAULT = MicroBatchPolicy(max_size=64, max_wait=timedelta(milliseconds=50))


class MicroBatcher(Generic[T]):
    """Items in arrival order; released by size (``add``) or by age (``due``/``flush``)."""

    __slots__ = ("_items", "_oldest", "policy")

    def __init__(self, policy: MicroBatchPolicy) -> None:
        self.policy = policy
        self._items: list[T] = []
        self._oldest: datetime | None = None

    def __len__(self) -> int:
        return len(self._items)

    @property
    def oldest_at(self) -> datetime | None:
        """When the oldest pending item was added; None when empty."""
        return self._oldest

    def add(self, item: T, now: datetime) -> list[T] | None:
        """Add an item; return the full batch when this item filled it, else None."""
        if not self._items:
            self._oldest = now
        self._items.append(item)
        if len(self._items) >= self.policy.max_size:
            return self.flush()
        return None

    def due(self, now: datetime) -> bool:
        """True when items wait and the oldest has waited ``max_wait`` or longer."""
        return self._oldest is not None and now - self._oldest >= self.policy.max_wait

    def time_until_due(self, now: datetime) -> timedelta | None:
        """How long until ``due``: zero if due already, None when nothing waits."""
        if self._oldest is None:
            return None
        return max(timedelta(0), self._oldest + self.policy.max_wait - now)

    def flush(self) -> list[T]:
        """Release every pending item (possibly none) and start afresh."""
        items, self._items, self._oldest = self._items, [], None
        return items

"""The one narrow batch interface every classifier backend implements.

The worker, the CLI and the API hold a ``Classifier`` and never know which backend it is.
``classify`` is synchronous and may block (HTTP, CPU inference); async callers run it in a
thread (``asyncio.to_thread``): ONNX Runtime, torch and httpx all release the GIL.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from pipeline.aspects import Aspect
from pipeline.scores import AspectScores


@runtime_checkable
class Classifier(Protocol):
    """Scores texts on aspects: one ``AspectScores`` per text, in input order.

    Contract: the result has exactly ``len(texts)`` entries, each holding every requested
    aspect. A failure raises (``ClassifierError``, or ``BackpressureError`` when the caller
    should pause and retry); a batch is never partially or silently dropped.
    """

    name: str

    def classify(self, texts: Sequence[str], aspects: Sequence[Aspect]) -> list[AspectScores]: ...

    def supports(self, aspect: Aspect) -> bool: ...

    def close(self) -> None: ...

"""A classifier that routes each aspect to the backend serving it.

Production often runs one model server per checkpoint (the NOSIBLE sentiment,
forward-looking and prediction models are separate fine-tunes). ``RoutedClassifier``
presents them as one ``Classifier``: each batch goes to every backend for its aspects,
concurrently, and the per-text results are merged. A failure of any backend fails the
whole batch (never a partial result).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from models.base import Classifier
from models.errors import UnsupportedAspectError
from pipeline.aspects import Aspect
from pipeline.scores import AspectScores


class RoutedClassifier:
    name = "routed"

    def __init__(self, routes: Mapping[str, Classifier]) -> None:
        if not routes:
            raise ValueError("RoutedClassifier needs at least one route")
        self._routes = dict(routes)  # aspect name -> backend
        backends: list[Classifier] = []
        for backend in self._routes.values():
            if not any(backend is b for b in backends):
                backends.append(backend)
        self._backends = backends
        self._pool = ThreadPoolExecutor(max_workers=len(backends), thread_name_prefix="route")

    def supports(self, aspect: Aspect) -> bool:
        backend = self._routes.get(aspect.name)
        return backend is not None and backend.supports(aspect)

    def classify(self, texts: Sequence[str], aspects: Sequence[Aspect]) -> list[AspectScores]:
        if not texts:
            return []
        groups: list[tuple[Classifier, list[Aspect]]] = []
        for aspect in aspects:
            backend = self._routes.get(aspect.name)
            if backend is None:
                raise UnsupportedAspectError(f"no backend routed for aspect {aspect.name!r}")
            for b, group in groups:
                if b is backend:
                    group.append(aspect)
                    break
            else:
                groups.append((backend, [aspect]))
        futures = [self._pool.submit(b.classify, texts, group) for b, group in groups]
        merged: list[AspectScores] = [{} for _ in texts]
        for future in futures:
            part = future.result()  # re-raises the backend's error: the batch fails whole
            if len(part) != len(texts):
                raise UnsupportedAspectError(
                    "a routed backend returned a result of the wrong length"
                )
            for out, scores in zip(merged, part, strict=True):
                out.update(scores)
        return merged

    def close(self) -> None:
        for backend in self._backends:
            backend.close()
        self._pool.shutdown(wait=False)

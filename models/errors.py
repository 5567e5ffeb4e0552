"""Errors raised by classifier backends."""


class ClassifierError(Exception):
    """A backend failed to score a batch; the batch was not scored (nothing partial)."""


class BackpressureError(ClassifierError):
    """The backend is overloaded or unreachable for now: pause input and retry later.

    ``retry_after`` is the backend's hint in seconds, when it gave one.
    """

    def __init__(self, msg: str, retry_after: float | None = None) -> None:
        super().__init__(msg)
        self.retry_after = retry_after


class ModelLoadError(ClassifierError):
    """A model or tokenizer could not be loaded from the given local path."""


class UnsupportedAspectError(ClassifierError):
    """The backend has no model for an aspect it was asked to score."""

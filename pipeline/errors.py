"""Errors raised by the pure pipeline."""


class PipelineError(Exception):
    """Base class of errors raised by ``pipeline``."""


class ConfigError(PipelineError):
    """A declaration (aspect, settings, registry) is malformed."""


class ContractError(PipelineError):
    """An input message breaks the input contract. ``reason`` is machine readable."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail

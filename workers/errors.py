"""Errors raised at the stream-processing edge."""


class WorkerError(Exception):
    """Base class of errors raised by ``workers``."""


class ServiceError(WorkerError):
    """An embedded or external service (broker, Redis) could not be started or reached."""

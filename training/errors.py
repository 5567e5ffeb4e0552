"""Errors raised by the retraining jobs in ``training/`` (one family per job)."""


class TrainingError(RuntimeError):
    """Base of the errors below: a retraining job cannot start or continue."""


class DataError(TrainingError, ValueError):
    """A labelled file is missing, unreadable or holds no usable rows."""


class LabellingError(TrainingError):
    """The labelling run cannot proceed (bad configuration, unusable endpoint)."""


class BaselineError(TrainingError):
    """A baseline cannot be built, trained or loaded."""


class ActiveLearningError(TrainingError):
    """The relabelling loop cannot run (too few rows, no oracle, bad labels)."""


class SFTError(TrainingError):
    """The fine-tune cannot start or continue (bad model dir, labels, configuration)."""

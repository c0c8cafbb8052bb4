"""The library's exception types.

Every operation that fails (add, load, activate, merge, save) raises one of these. Each subclasses the built-in
type a caller would naturally catch (``ValueError``, ``TypeError``, ``KeyError``, ``FileNotFoundError``), so
code written against the reference library's exceptions keeps working. Messages say what was wrong and what is
allowed.
"""

from __future__ import annotations

__all__ = [
    "AdapterError",
    "AdapterConfigError",
    "ConfigFieldError",
    "AdapterExistsError",
    "AdapterNotFoundError",
    "UnsupportedModelError",
    "UnsupportedAttentionError",
    "UnsupportedMethodError",
    "CompositionError",
    "CheckpointError",
    "AdapterFileNotFoundError",
    "UnsafeArchiveError",
    "TrainingSetupError",
    "DataError",
    "ModelLoadError",
]


class AdapterError(Exception):
    """Base class of every error raised by this library."""


class AdapterConfigError(AdapterError, ValueError):
    """A configuration value, config string or config file is invalid."""


class ConfigFieldError(AdapterConfigError, TypeError):
    """A config was given a field it does not have (the reference raised ``TypeError`` here)."""


class AdapterExistsError(AdapterError, ValueError):
    """An adapter (or head, or fusion) with that name already exists and ``overwrite_ok`` was not set."""


class AdapterNotFoundError(AdapterError, ValueError):
    """An adapter (or head, or fusion) name was used that the model does not have."""


class UnsupportedModelError(AdapterError, ValueError):
    """The model's architecture is not known, or a required module could not be found in it."""


class UnsupportedAttentionError(UnsupportedModelError):
    """The model runs attention in a way an adapter method cannot hook into (e.g. prefix tuning with the
    ``flex_attention`` or ``flash_attention_2`` backends, paged attention or packed sequences)."""


class UnsupportedMethodError(AdapterError, ValueError):
    """The adapter method (or one of its options) is not supported on this model."""


class CompositionError(AdapterError, ValueError):
    """An adapter setup (Stack, Fuse, ...) is malformed or not supported by the methods it uses."""


class CheckpointError(AdapterError, ValueError):
    """A saved adapter does not match the model (missing or unexpected weights, wrong shapes)."""


class AdapterFileNotFoundError(AdapterError, FileNotFoundError):
    """A path given to a load function is not a saved adapter (a required file is missing)."""


class UnsafeArchiveError(AdapterError, ValueError):
    """A downloaded adapter archive was refused: a member with an absolute path, ``..``, a link or a device, or more
    content than the size limit allows. Nothing from it was written."""


class TrainingSetupError(AdapterError, ValueError):
    """A model is not ready for adapter training (no active adapter setup, or an unfrozen base model); the message
    names the call that prepares it (``model.train_adapter(...)``)."""


class DataError(AdapterError, ValueError):
    """Training or evaluation data cannot be read: a missing file, an unknown dataset name, missing columns."""


class ModelLoadError(AdapterError, OSError):
    """The base model of a training run, or a saved adapter for it, cannot be loaded."""

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
    "ConfigKeyError",
    "AdapterExistsError",
    "AdapterNameError",
    "AdapterNotFoundError",
    "EmbeddingNotFoundError",
    "ArgumentError",
    "UnsupportedModelError",
    "UnsupportedAttentionError",
    "UnsupportedMethodError",
    "AdapterTypeError",
    "CompositionError",
    "RoutingError",
    "CheckpointError",
    "AdapterFileNotFoundError",
    "UnsafeArchiveError",
    "TrainingSetupError",
    "DataError",
    "ModelLoadError",
    "ServeError",
    "WrongTaskError",
    "InputTooLongError",
    "QueueFullError",
    "ServerClosingError",
    "RequestTimeoutError",
]


class AdapterError(Exception):
    """Base class of every error raised by this library."""


class AdapterConfigError(AdapterError, ValueError):
    """A configuration value, config string or config file is invalid."""


class ConfigFieldError(AdapterConfigError, TypeError):
    """A config was given a field it does not have (the reference raised ``TypeError`` here)."""


def _message(self) -> str:
    """``str()`` of our ``KeyError`` subclasses: the message itself (``KeyError`` would quote it, as a key)."""
    return str(self.args[0]) if self.args else ""


class ConfigKeyError(AdapterConfigError, KeyError):
    """A config lacks an entry it needs for a model, e.g. a ``reduction_factor`` mapping with neither the layer's
    index nor ``"default"`` (the reference raised ``KeyError`` here)."""

    __str__ = _message


class ArgumentError(AdapterError, ValueError, KeyError):
    """Arguments that only work together were not given together (e.g. ``reference_embedding`` without
    ``reference_tokenizer``; the reference raised ``KeyError`` here)."""

    __str__ = _message


class AdapterExistsError(AdapterError, ValueError):
    """An adapter (or head, or fusion) with that name already exists and ``overwrite_ok`` was not set."""


class AdapterNameError(AdapterError, ValueError):
    """A new adapter name cannot be used: it is empty, contains ``.``, ``/`` or ``,`` (reserved for state-dict keys,
    save paths and fusion names) or is the name of a fusion of the model."""


class AdapterNotFoundError(AdapterError, ValueError):
    """An adapter (or head, or fusion) name was used that the model does not have."""


class EmbeddingNotFoundError(AdapterNotFoundError, KeyError):
    """An adapter embedding name was used that the model does not have (the reference raised ``ValueError`` or
    ``KeyError``, depending on the method)."""

    __str__ = _message


class UnsupportedModelError(AdapterError, ValueError):
    """The model's architecture is not known, or a required module could not be found in it."""


class UnsupportedAttentionError(UnsupportedModelError):
    """The model runs attention in a way an adapter method cannot hook into (e.g. prefix tuning with the
    ``flex_attention`` or ``flash_attention_2`` backends, paged attention or packed sequences)."""


class UnsupportedMethodError(AdapterError, ValueError):
    """The adapter method (or one of its options) is not supported on this model."""


class AdapterTypeError(UnsupportedMethodError, TypeError):
    """An operation got an adapter of the wrong kind, e.g. ``share_parameters`` on adapters that are not multi-task
    (MTL-LoRA) adapters (the reference raised ``TypeError`` here)."""


class CompositionError(AdapterError, ValueError):
    """An adapter setup (Stack, Fuse, ...) is malformed or not supported by the methods it uses."""


class RoutingError(CompositionError):
    """Per-row routing (``model(..., adapter_names=[...])``) got names that do not fit the call: a list of the wrong
    length, an entry that is not an adapter name or ``None`` (fusion setups per row are not supported), a head that
    is missing for some rows, or an adapter whose method cannot route rows."""


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


# `adapters serve` ---------------------------------------------------------------------------------------------------
class ServeError(AdapterError):
    """Base class of the errors a request to ``adapters serve`` can get; ``status`` is the HTTP status it answers."""

    status = 500


class WrongTaskError(ServeError, ValueError):
    """A request asked an adapter for a task its head does not do (e.g. ``generate`` on a classification head)."""

    status = 400


class InputTooLongError(ServeError, ValueError):
    """An input has more tokens than the server's ``--max-length`` and the request did not ask for truncation."""

    status = 413


class QueueFullError(ServeError, RuntimeError):
    """The server's request queue is full; retry after ``retry_after_s`` seconds."""

    status = 429

    def __init__(self, message: str, retry_after_s: float = 1.0):
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ServerClosingError(ServeError, RuntimeError):
    """The server is shutting down and accepts no new requests."""

    status = 503


class RequestTimeoutError(ServeError, TimeoutError):
    """A request was not answered within its timeout (it is dropped if it has not run yet)."""

    status = 504

"""The one registry of adapter methods.

Each method module registers an :class:`AdapterMethod` at import time. Everything that needs to know "which
methods exist" (adding, deleting, saving/loading key filters, summaries, the contract tests) asks this registry;
nothing else keeps a list of methods.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import UnsupportedMethodError

if TYPE_CHECKING:
    from torch import nn

    from ..architectures.attach import AdapterRuntime
    from ..configuration import AdapterConfig

__all__ = [
    "AdapterMethod",
    "register_method",
    "registered_methods",
    "method_for_config",
    "adapter_key_pattern",
    "ignored_file_key_pattern",
    "method_kinds",
]


@dataclass(frozen=True)
class AdapterMethod:
    """How one adapter method attaches to a model.

    Attributes:
        name: the method's name in summaries and messages (e.g. ``"bottleneck"``).
        architecture: the ``AdapterConfig.architecture`` value it handles (``None`` is bottleneck).
        containers: the state-dict container names its weights live under (``<container>.<adapter name>.``).
        add: ``add(runtime, name, config)`` builds and attaches all modules; must leave the model unchanged if it
            raises.
        delete: ``delete(runtime, name)`` removes everything ``add`` attached.
        modules: ``modules(runtime, name)`` returns ``{layer_index: {location_key: module}}`` (-1 for global).
        check_support: ``check_support(runtime, config)`` returns a reason string when the method (with that
            config) cannot run on the model, else ``None``.
        reset: ``reset(runtime)`` undoes any merge of the method's adapters into base weights (called by
            ``set_active_adapters`` and ``reset_adapter``); ``None`` for methods that never merge.
        merge: ``merge(runtime, name)`` folds adapter ``name`` into the base weights (``merge_adapter``); ``None``
            for methods that cannot merge.
        supported_blocks: the composition block classes (``Stack``, ``Fuse``, ...) the method can run; a single
            adapter is always allowed.
        base_modules: names of modules the method adds directly below the base model (e.g. ``prefix_tuning``), so
            file keys starting with them are recognised as base-relative.
        ignored_file_keys: regexes of keys that saved files may contain besides the adapter's own (e.g. the
            reference's duplicated prefix-tuning pool copies); loading drops them silently.
        average: ``average(runtime, name, weights, strategy, svd_rank)`` fills the freshly added adapter ``name``
            by a method-specific ``combine_strategy`` (``weights``: input adapter -> weight). The ``"linear"``
            strategy needs no hook: it averages the adapters' state dicts for every method.
        kinds: the reference's method kinds (its ``AdapterMethod`` names) this method answers in
            ``supports_adapter``, each with the config (identifier or string) whose support answers for the kind.
    """

    name: str
    architecture: str | None
    containers: tuple[str, ...]
    add: Callable[[AdapterRuntime, str, AdapterConfig], None]
    delete: Callable[[AdapterRuntime, str], None]
    modules: Callable[[AdapterRuntime, str], dict[int, dict[str, nn.Module]]]
    check_support: Callable[[AdapterRuntime, AdapterConfig], str | None] = lambda runtime, config: None
    reset: Callable[[AdapterRuntime], None] | None = None
    merge: Callable[[AdapterRuntime, str], None] | None = None
    average: Callable[[AdapterRuntime, str, dict[str, float], str, int | None], None] | None = None
    supported_blocks: frozenset[type] = frozenset()
    base_modules: tuple[str, ...] = ()
    ignored_file_keys: tuple[str, ...] = ()
    kinds: tuple[tuple[str, str], ...] = ()


_METHODS: dict[str | None, AdapterMethod] = {}


def register_method(method: AdapterMethod) -> AdapterMethod:
    """Register ``method``; a second method for the same config architecture is an error."""
    if method.architecture in _METHODS:
        other = _METHODS[method.architecture]
        raise ValueError(
            f"Method {method.name!r} handles architecture {method.architecture!r}, already registered by "
            f"{other.name!r}."
        )
    _METHODS[method.architecture] = method
    return method


def registered_methods() -> tuple[AdapterMethod, ...]:
    """All registered methods, in registration order."""
    return tuple(_METHODS.values())


def method_for_config(config: Any) -> AdapterMethod:
    """The method that handles a (non-union) config; :class:`UnsupportedMethodError` if none does."""
    architecture = getattr(config, "architecture", None)
    if architecture not in _METHODS:
        known = ", ".join(repr(m.architecture) for m in _METHODS.values())
        raise UnsupportedMethodError(
            f"No adapter method is registered for config {type(config).__name__} (architecture "
            f"{architecture!r}). Registered architectures: {known}."
        )
    return _METHODS[architecture]


def method_kinds() -> dict[str, str]:
    """The method kinds every registered method answers (``"bottleneck"``, ``"lora"``, ...) -> the config whose
    support answers for that kind (see :attr:`AdapterMethod.kinds`)."""
    return {kind: config for method in _METHODS.values() for kind, config in method.kinds}


def adapter_key_pattern(name: str) -> re.Pattern[str]:
    """A regex matching state-dict keys that belong to adapter ``name`` under any registered container."""
    containers = sorted({c for m in _METHODS.values() for c in m.containers})
    alternatives = "|".join(re.escape(c) for c in containers)
    return re.compile(rf"(?:^|\.)(?:{alternatives})\.{re.escape(name)}\.")


def ignored_file_key_pattern() -> re.Pattern[str] | None:
    """A regex matching file keys every registered method declares as ignorable on load, or ``None``."""
    patterns = [p for m in _METHODS.values() for p in m.ignored_file_keys]
    return re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None

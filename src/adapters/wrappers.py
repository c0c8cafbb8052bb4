"""``adapters.init``: give a plain transformers model the adapter API, in place."""

from __future__ import annotations

from typing import Any

from torch import nn

from .architectures.attach import spec_for_model
from .heads.shared_base import share_adapters_with_base_model
from .heads.static import StaticHeadsMixin
from .model import ModelAdaptersMixin

__all__ = ["init"]

_CLASS_CACHE: dict[type, type] = {}


def _adapter_class(cls: type) -> type:
    """``cls`` with :class:`ModelAdaptersMixin` (and :class:`StaticHeadsMixin`) mixed in; same name, module and
    qualname, so transformers' per-class registries (e.g. output recording) keep finding it."""
    if cls not in _CLASS_CACHE:
        _CLASS_CACHE[cls] = type(
            cls.__name__,
            (StaticHeadsMixin, ModelAdaptersMixin, cls),
            {"__module__": cls.__module__, "__qualname__": cls.__qualname__, "__doc__": cls.__doc__},
        )
    return _CLASS_CACHE[cls]


def init(model: nn.Module, adapters_config: Any = None, interface: Any = None) -> nn.Module:
    """Enable adapters on ``model`` (a transformers base-model or static-head model), in place.

    The model's modules keep their classes and state-dict keys; only the top-level object gains the adapter API
    (``add_adapter``, ``set_active_adapters``, ...). Calling it twice is a no-op. Returns the same model object.

    Raises:
        UnsupportedModelError: the model's family has no architecture spec (the message lists supported types).
    """
    if isinstance(model, ModelAdaptersMixin):
        return model
    if interface is not None:
        raise NotImplementedError("Custom AdapterModelInterface objects are not supported yet.")
    spec_for_model(model)
    model.__class__ = _adapter_class(type(model))
    model._init_adapters(adapters_config)
    share_adapters_with_base_model(model)  # model.bert.add_adapter(...) works on the same adapters
    return model

"""``adapters.init``: give a plain transformers model the adapter API, in place."""

from __future__ import annotations

from typing import Any

from torch import nn

from ._classes import mixed_into
from .architectures.attach import spec_for_model
from .heads.shared_base import share_adapters_with_base_model
from .heads.static import StaticHeadsMixin
from .model import ModelAdaptersMixin

__all__ = ["init"]


def _adapter_class(cls: type) -> type:
    """``cls`` with :class:`ModelAdaptersMixin` (and :class:`StaticHeadsMixin`) mixed in."""
    return mixed_into(cls, StaticHeadsMixin, ModelAdaptersMixin)


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

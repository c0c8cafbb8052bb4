"""Expose a model's live ``ModelAdaptersConfig`` as ``model.config.adapters``, and keep the config serialisable.

The reference API lets users write ``"name" in model.config.adapters``. The transformers config object is given a
subclass (same name, module and qualname) whose ``to_dict`` writes the adapters as the reference's plain dict, so
``save_pretrained`` stores them in ``config.json``.

A config object can only carry one model's adapters. Models are often built from one shared config object
(``AutoAdapterModel.from_config(cfg)`` twice, or ``BertModel(cfg)`` twice); a model whose config already carries
another model's live adapters therefore gets its own copy of the config (without those adapters), so the two models
stay independent, as in the reference (which kept its registry off the config).
"""

from __future__ import annotations

import copy

from torch import nn

from ._classes import mixed_into
from .configuration import ModelAdaptersConfig

__all__ = ["bind_adapters_config", "unbound_config"]


class _SerialisesAdapters:
    """Mixed into the model's config class: ``to_dict`` writes the live adapters as the reference's plain dict."""

    def to_dict(self):
        output = super().to_dict()
        if isinstance(output.get("adapters"), ModelAdaptersConfig):
            output["adapters"] = output["adapters"].to_dict()
        return output


def _live_registry(config) -> ModelAdaptersConfig | None:
    value = config.__dict__.get("adapters")
    return value if isinstance(value, ModelAdaptersConfig) else None


def unbound_config(config):
    """``config`` itself, or a deep copy without the ``adapters`` entry if it carries another model's live adapters
    (a saved ``adapters`` dict, as read from ``config.json``, is kept: it is what the new model should load)."""
    registry = _live_registry(config)
    if registry is None:
        return config
    del config.__dict__["adapters"]
    try:
        return copy.deepcopy(config)
    finally:
        config.__dict__["adapters"] = registry


def bind_adapters_config(model: nn.Module, adapters_config: ModelAdaptersConfig) -> None:
    """Set ``model.config.adapters`` to the live ``adapters_config`` and make ``config.to_dict()`` serialise it.

    If ``model.config`` already carries another model's adapters, ``model`` (and each of its submodules that held
    the same config object) gets an independent copy first.
    """
    config = model.config
    registry = _live_registry(config)
    if registry is not None and registry is not adapters_config:
        own = unbound_config(config)
        for module in model.modules():
            if module.__dict__.get("config") is config:
                module.config = own
        config = own
    if not isinstance(config, _SerialisesAdapters):
        config.__class__ = mixed_into(type(config), _SerialisesAdapters)
    config.adapters = adapters_config

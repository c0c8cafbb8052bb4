"""Expose a model's live ``ModelAdaptersConfig`` as ``model.config.adapters``, and keep the config serialisable.

The reference API lets users write ``"name" in model.config.adapters``. The transformers config object is given a
subclass (same name, module and qualname) whose ``to_dict`` writes the adapters as the reference's plain dict, so
``save_pretrained`` stores them in ``config.json``.
"""

from __future__ import annotations

from .configuration import ModelAdaptersConfig

__all__ = ["bind_adapters_config"]

_CACHE: dict[type, type] = {}


def _config_class(cls: type) -> type:
    if cls not in _CACHE:

        def to_dict(self):
            output = super(new_class, self).to_dict()
            if isinstance(output.get("adapters"), ModelAdaptersConfig):
                output["adapters"] = output["adapters"].to_dict()
            return output

        new_class = type(
            cls.__name__, (cls,), {"__module__": cls.__module__, "__qualname__": cls.__qualname__, "to_dict": to_dict}
        )
        _CACHE[cls] = new_class
    return _CACHE[cls]


def bind_adapters_config(config, adapters_config: ModelAdaptersConfig) -> None:
    """Set ``config.adapters`` to the live ``adapters_config`` and make ``config.to_dict()`` serialise it."""
    if type(config) not in _CACHE.values():
        config.__class__ = _config_class(type(config))
    config.adapters = adapters_config

"""``AdapterLayerBase`` and ``ComposableAdapterLayerBase``: the reference's base classes of per-layer adapter modules,
here abstract *marker* classes over this library's own per-layer modules.

``isinstance(module, AdapterLayerBase)`` is true for every module that holds the adapters of one method at one place
of the model (bottleneck and LoRA-family layers, the invertible adapters, the prompt-tuning and prefix-tuning pools,
ReFT layers), and ``isinstance(module, ComposableAdapterLayerBase)`` for those that run composition blocks (bottleneck
and LoRA-family layers), as code written for the reference expects when it walks ``model.modules()``. Nothing here
is a second implementation: the classes are registered as virtual subclasses. Subclassing them does not add a new
adapter method; a method is a registry entry (:func:`adapters.methods.register_method`, docs/architecture.md).
"""

from __future__ import annotations

from abc import ABC

from .bottleneck import BottleneckLayer, InvertibleAdapters
from .lora_layer import LoRALayer
from .prefix_tuning import PrefixTuningPool
from .prompt_tuning import PromptTuningLayer
from .reft import ReftLayer

__all__ = ["AdapterLayerBase", "ComposableAdapterLayerBase"]


class AdapterLayerBase(ABC):  # noqa: B024  (a marker: no abstract methods)
    """Every module that holds the adapters of one method at one place of the model (see the module docstring)."""


class ComposableAdapterLayerBase(AdapterLayerBase):  # noqa: B024
    """Every per-layer adapter module that runs composition blocks (``Stack``, ``Fuse``, ``Parallel``, ...)."""


for _layer in (BottleneckLayer, LoRALayer):
    ComposableAdapterLayerBase.register(_layer)
for _layer in (InvertibleAdapters, PrefixTuningPool, PromptTuningLayer, ReftLayer):
    AdapterLayerBase.register(_layer)

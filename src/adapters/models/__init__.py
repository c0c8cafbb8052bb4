"""The reference's per-family import paths: ``adapters.models.<family>`` and ``adapters.models.<family>.adapter_model``
for every ``<Arch>AdapterModel`` class, plus ``adapters.models.auto``.

The family modules are generated from :data:`adapters.auto.ADAPTER_MODEL_MAPPING` (itself built from the head
family table), so a family added there gets its import path with no change here. ``<family>`` is the name of the
family's package in transformers (``bert``, ``xlm_roberta``, ``deberta_v2``, ...), as in the reference. Nothing is
implemented here: each module only re-exports the class.
"""

from __future__ import annotations

import sys
from types import ModuleType

from transformers.models.auto.configuration_auto import CONFIG_MAPPING

from ..auto import ADAPTER_MODEL_MAPPING

__all__ = ["FAMILY_MODULES", "family_module_name"]


def family_module_name(model_type: str) -> str:
    """The transformers package name of a model type (``"xlm-roberta"`` → ``"xlm_roberta"``)."""
    return CONFIG_MAPPING[model_type].__module__.split(".")[2]


def _module(name: str, cls: type, package: bool) -> ModuleType:
    """A module ``name`` that re-exports ``cls``, registered in ``sys.modules`` so it can be imported."""
    module = ModuleType(name, f"{cls.__name__} (re-export of {cls.__module__}.{cls.__name__}).")
    module.__package__ = name if package else name.rpartition(".")[0]
    if package:
        module.__path__ = []  # so that its ``adapter_model`` submodule can be imported
    setattr(module, cls.__name__, cls)
    module.__all__ = [cls.__name__]
    sys.modules[name] = module
    return module


def _register_families() -> dict[str, ModuleType]:
    modules = {}
    for model_type, cls in ADAPTER_MODEL_MAPPING.items():
        short = family_module_name(model_type)
        package = _module(f"{__name__}.{short}", cls, package=True)
        package.adapter_model = _module(f"{package.__name__}.adapter_model", cls, package=False)
        modules[short] = globals()[short] = package
    return modules


FAMILY_MODULES: dict[str, ModuleType] = _register_families()

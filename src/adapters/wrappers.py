"""``adapters.init``: give a plain transformers model the adapter API, in place; ``adapters.load_model``: load a
model saved with adapters (and, for custom models, its ``adapter_interface.json``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from torch import nn

from ._classes import mixed_into
from .architectures.attach import spec_for_model
from .architectures.interface import INTERFACE_CONFIG_NAME, AdapterModelInterface, load_interface
from .architectures.routing import routed_generate
from .configuration import ModelAdaptersConfig
from .errors import AdapterConfigError, CheckpointError
from .heads.shared_base import share_adapters_with_base_model
from .heads.static import StaticHeadsMixin
from .io.atomic import atomic_folder
from .model import ModelAdaptersMixin

__all__ = ["init", "init_adapters_config", "load_model"]


class _InterfaceFiles:
    """Writes the model's :class:`AdapterModelInterface` (if it has one) next to its weights."""

    def save_pretrained(self, save_directory, *args, **kwargs):
        interface = self.__dict__.get("_adapter_interface")
        if interface is None or kwargs.get("push_to_hub"):
            return super().save_pretrained(save_directory, *args, **kwargs)
        with atomic_folder(save_directory, link_existing=False) as staging:  # model and interface as one unit
            result = super().save_pretrained(str(staging), *args, **kwargs)
            interface.save(str(staging), self.config.model_type)
        return result


class _RoutedGeneration:
    """``generate(**batch, adapter_names=[...])``: every step routes row i to its adapter (models that generate)."""

    def generate(self, *args, **kwargs):
        if kwargs.get("adapter_names") is None:
            return super().generate(*args, **kwargs)
        return routed_generate(self, self._adapter_runtime, super().generate, args, kwargs)


def _adapter_class(cls: type) -> type:
    """``cls`` with :class:`ModelAdaptersMixin` (and :class:`StaticHeadsMixin`) mixed in; models that generate also
    get per-row routing in ``generate``."""
    if callable(getattr(cls, "generate", None)):
        return mixed_into(cls, _InterfaceFiles, _RoutedGeneration, StaticHeadsMixin, ModelAdaptersMixin)
    return mixed_into(cls, _InterfaceFiles, StaticHeadsMixin, ModelAdaptersMixin)


def init(model: nn.Module, adapters_config: Any = None, interface: AdapterModelInterface | None = None) -> nn.Module:
    """Enable adapters on ``model`` (a transformers base-model or static-head model, or your own model), in place.

    The model's modules keep their classes and state-dict keys; only the top-level object gains the adapter API
    (``add_adapter``, ``set_active_adapters``, ...). Calling it twice is a no-op. Returns the same model object.
    Where adapters go comes from ``interface`` if given, else from the model type's spec, else from the generic
    fallback (see docs/adding_architecture.md).

    Raises:
        UnsupportedModelError: no spec, no interface, and the generic fallback could not derive one (the message
            names the model type and what was missing).
        AdapterConfigError: ``interface`` is not an :class:`AdapterModelInterface`.
    """
    if isinstance(model, ModelAdaptersMixin):
        return model
    if interface is not None:
        if not isinstance(interface, AdapterModelInterface):
            raise AdapterConfigError(f"interface must be an AdapterModelInterface, got {type(interface).__name__}.")
        model.__dict__["_adapter_interface"] = interface
    try:
        spec_for_model(model)
    except Exception:
        model.__dict__.pop("_adapter_interface", None)
        raise
    if isinstance(adapters_config, dict):
        adapters_config = ModelAdaptersConfig.from_dict(adapters_config)
    model.__class__ = _adapter_class(type(model))
    model._init_adapters(adapters_config)
    share_adapters_with_base_model(model)  # model.bert.add_adapter(...) works on the same adapters
    return model


def init_adapters_config(model: nn.Module, model_config: Any, adapters_config: Any = None) -> None:
    """The reference's first step of ``adapters.init`` (give ``model``, whose config is ``model_config``, its adapter
    registry), kept so code that calls it runs; here it is :func:`init`.

    Raises:
        AdapterConfigError: ``model_config`` is not ``model.config``.
    """
    if getattr(model, "config", None) is not model_config:
        raise AdapterConfigError(
            f"model_config must be the model's own config object (model.config); got a {type(model_config).__name__} "
            "that is not it."
        )
    init(model, adapters_config)


def load_model(
    model_name_or_path: str | Path,
    model_class: type,
    interface: AdapterModelInterface | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Load a model saved with ``save_pretrained`` after :func:`init`, with its adapters.

    ``model_class`` is the transformers class to load (e.g. ``AutoModelForCausalLM`` or ``Qwen2ForCausalLM``).
    The interface is ``interface`` or the saved ``adapter_interface.json``; adapters listed in the saved config are
    re-created and their weights read from the checkpoint. ``kwargs`` go to ``from_pretrained``.

    Raises:
        CheckpointError: the checkpoint lists adapters whose weights it does not contain.
    """
    folder = Path(model_name_or_path)
    if interface is None and folder.is_dir():
        interface = load_interface(folder)
    model = model_class.from_pretrained(model_name_or_path, **kwargs)
    saved = getattr(model.config, "adapters", None)
    adapters_config = ModelAdaptersConfig.from_dict(saved) if isinstance(saved, dict) and saved else None
    if isinstance(saved, dict):
        del model.config.adapters
    init(model, adapters_config=adapters_config, interface=interface)
    if adapters_config is not None and len(adapters_config.adapters):
        _load_adapter_weights(model, folder)
    return model


def _load_adapter_weights(model: nn.Module, folder: Path) -> None:
    from .methods import adapter_key_pattern

    names = list(model.adapters_config.adapters)
    patterns = [adapter_key_pattern(name) for name in names]
    expected = {k for k in model.state_dict() if any(p.search(k) for p in patterns)}
    found: dict[str, torch.Tensor] = {}
    for path in _weight_files(folder):
        found.update({k: v for k, v in load_file(str(path)).items() if k in expected})
    missing = sorted(expected - set(found))
    if missing:
        raise CheckpointError(
            f"{folder} lists adapters {names} but its weights lack {len(missing)} of their tensors, e.g. "
            f"{missing[:3]}."
        )
    model.load_state_dict(found, strict=False)


def _weight_files(folder: Path) -> list[Path]:
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        return [folder / shard for shard in shards]
    single = folder / "model.safetensors"
    if not single.is_file():
        raise CheckpointError(
            f"No model.safetensors in {folder}; load_model reads adapter weights from local safetensors "
            f"checkpoints (and {INTERFACE_CONFIG_NAME} if present)."
        )
    return [single]

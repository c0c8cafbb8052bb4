"""Saving and loading AdapterFusion layers (``adapter_fusion_config.json`` + fusion weights), reference format."""

from __future__ import annotations

from pathlib import Path

import torch

from ..configuration import AdapterFusionConfig
from ..errors import AdapterFileNotFoundError, AdapterNotFoundError, CheckpointError
from ..version import __version__
from .format import find_weights_file, read_json, read_weights, save_folder
from .keys import from_file_keys, model_tensors, to_file_keys

__all__ = ["save_fusion", "load_fusion", "FUSION_CONFIG_NAME", "FUSION_WEIGHTS_NAME", "FUSION_SAFE_WEIGHTS_NAME"]

FUSION_CONFIG_NAME = "adapter_fusion_config.json"
FUSION_WEIGHTS_NAME = "pytorch_model_adapter_fusion.bin"
FUSION_SAFE_WEIGHTS_NAME = "model_adapter_fusion.safetensors"


def _fusion_state(model, name: str) -> dict[str, torch.Tensor]:
    marker = f"adapter_fusion_layer.{name}."
    return {k: v for k, v in model_tensors(model) if marker in k}


def save_fusion(model, folder: str | Path, name: str, meta_dict: dict | None = None, use_safetensors: bool = True):
    config, names = model.adapters_config.get_fusion(name)
    if config is None:
        raise AdapterNotFoundError(
            f"No adapter fusion named {name!r}; fusions: {list(model.adapters_config.fusions)}."
        )
    data = {
        "adapter_names": list(names),
        "config": config.to_dict(),
        "hidden_size": model.config.get_text_config().hidden_size,
        "model_class": type(model).__name__,
        "model_name": getattr(model.config, "name_or_path", "") or "",
        "model_type": model.config.model_type,
        "name": name,
        "version": f"adapters.{__version__}",
    }
    for key, value in (meta_dict or {}).items():
        data.setdefault(key, value)
    weights = to_file_keys(model, _fusion_state(model, name))
    weights_name = FUSION_SAFE_WEIGHTS_NAME if use_safetensors else FUSION_WEIGHTS_NAME
    save_folder(Path(folder), weights_name, weights, use_safetensors, FUSION_CONFIG_NAME, data)


def load_fusion(model, folder: str | Path, load_as: str | None = None, use_safetensors: bool | None = None) -> str:
    """Load the fusion saved in ``folder`` (as ``load_as``, or its saved name) and return its name. A load that
    fails leaves the model as it was: a new fusion is removed, an existing one of that name keeps its weights."""
    folder = Path(folder)
    if not (folder / FUSION_CONFIG_NAME).is_file():
        raise AdapterFileNotFoundError(f"{folder} holds no saved fusion: {FUSION_CONFIG_NAME} is missing.")
    data = read_json(folder / FUSION_CONFIG_NAME)
    names, saved_name = data.get("adapter_names"), data.get("name")
    if not names or not saved_name:
        raise CheckpointError(f"{folder / FUSION_CONFIG_NAME} needs 'adapter_names' and 'name'.")
    tensors = read_weights(find_weights_file(folder, FUSION_SAFE_WEIGHTS_NAME, FUSION_WEIGHTS_NAME, use_safetensors))
    name = load_as or saved_name
    old, new = f"adapter_fusion_layer.{saved_name}.", f"adapter_fusion_layer.{name}."
    tensors = from_file_keys(model, {k.replace(old, new): v for k, v in tensors.items()})
    config = AdapterFusionConfig.load(data["config"])
    previous_config, previous_names = model.adapters_config.get_fusion(name)
    backup = {k: v.clone() for k, v in _fusion_state(model, name).items()}
    if previous_config == config and previous_names == list(names):  # same layers: only the weights change
        try:
            _copy_fusion_weights(model, name, saved_name, tensors)
        except BaseException:
            _copy_fusion_weights(model, name, name, backup)
            raise
        return name
    model.add_adapter_fusion(names, config=config, name=name, overwrite_ok=True)
    try:
        _copy_fusion_weights(model, name, saved_name, tensors)
    except BaseException:
        model.delete_adapter_fusion(name)
        if previous_config is not None:  # the fusion this load replaced comes back, with its weights
            model.add_adapter_fusion(previous_names, config=previous_config, name=name)
            _copy_fusion_weights(model, name, name, backup)
        raise
    return name


def _copy_fusion_weights(model, name: str, saved_name: str, tensors: dict[str, torch.Tensor]) -> None:
    """Copy ``tensors`` (model keys) into fusion ``name``'s layers; every weight must be there, in its shape."""
    expected = _fusion_state(model, name)
    missing = sorted(set(expected) - set(tensors))
    if missing:
        raise CheckpointError(f"The saved fusion {saved_name!r} lacks weights: {', '.join(missing[:5])}.")
    wrong = [k for k in expected if tuple(tensors[k].shape) != tuple(expected[k].shape)]
    if wrong:
        key = wrong[0]
        raise CheckpointError(
            f"Shape mismatch for {key}: file {tuple(tensors[key].shape)}, model {tuple(expected[key].shape)}."
        )
    params = dict(model.named_parameters())
    with torch.no_grad():
        for key in expected:
            params[key].copy_(tensors[key].to(dtype=params[key].dtype, device=params[key].device))

"""Saving and loading prediction heads (``head_config.json`` + ``model_head.safetensors``), reference format.

Flexible heads are saved with their config; static (transformers) heads with ``"config": null`` and their labels.
Loading a static head into a model with flexible heads converts it (see :mod:`adapters.heads.conversion`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..errors import (
    AdapterConfigError,
    AdapterFileNotFoundError,
    AdapterNotFoundError,
    CheckpointError,
    UnsupportedMethodError,
)
from ..io.format import (
    HEAD_CONFIG_NAME,
    HEAD_SAFE_WEIGHTS_NAME,
    HEAD_WEIGHTS_NAME,
    find_weights_file,
    read_json,
    read_weights,
    save_folder,
)
from ..io.keys import model_tensors
from ..io.resolve import resolve_adapter
from ..version import __version__
from .conversion import convert_static_keys, static_head, static_head_config

__all__ = [
    "save_flex_head",
    "load_flex_head",
    "save_static_head",
    "load_static_head",
    "has_saved_head",
    "has_static_head",
    "load_adapter_and_head",
    "label_map_for",
]


def has_saved_head(folder: str | Path) -> bool:
    return (Path(folder) / HEAD_CONFIG_NAME).is_file()


def _meta(model, name: str | None, config: dict | None) -> dict[str, Any]:
    return {
        "config": config,
        "hidden_size": model.config.get_text_config().hidden_size,
        "model_class": type(model).__name__,
        "model_name": getattr(model.config, "name_or_path", "") or "",
        "model_type": model.config.model_type,
        "name": name,
        "version": f"adapters.{__version__}",
    }


def _write(folder: Path, config_file: dict, weights: dict[str, torch.Tensor], use_safetensors: bool) -> None:
    names = (HEAD_SAFE_WEIGHTS_NAME, HEAD_WEIGHTS_NAME)
    weights_name, stale_name = names if use_safetensors else names[::-1]
    save_folder(folder, weights_name, weights, use_safetensors, HEAD_CONFIG_NAME, config_file, stale_name)


def save_flex_head(model, folder: str | Path, head_name: str, use_safetensors: bool = True) -> None:
    """Save head ``head_name`` of a model with flexible heads."""
    if head_name not in model.heads:
        raise AdapterNotFoundError(f"No head named {head_name!r}. Heads: {', '.join(model.heads) or 'none'}.")
    prefix = f"heads.{head_name}."
    weights = {k: v for k, v in model_tensors(model) if k.startswith(prefix)}
    _write(Path(folder), _meta(model, head_name, dict(model.heads[head_name].config)), weights, use_safetensors)


def _static_head_keys(model) -> list[str]:
    entry = static_head(type(model).__name__)
    keys = [k for k, _ in model_tensors(model)]
    if entry is not None:
        roots = [m for m, _ in entry.modules] + [p for p, _ in entry.params]
        return [k for k in keys if any(k == r or k.startswith(r + ".") for r in roots)]
    if model.base_model is model:
        return []
    prefix = f"{model.base_model_prefix}."
    return [k for k in keys if not k.startswith(prefix)]


def has_static_head(model) -> bool:
    """Whether a transformers model has task-head weights outside its base model (``BertModel`` has none)."""
    return bool(_static_head_keys(model))


def save_static_head(model, folder: str | Path, use_safetensors: bool = True) -> bool:
    """Save the transformers head of a static-head model; returns False when the model has none."""
    keys = _static_head_keys(model)
    if not keys:
        return False
    state = dict(model_tensors(model))
    config_file = _meta(model, None, None)
    label2id = getattr(model.config, "label2id", None)
    config_file["label2id"] = dict(label2id) if label2id else None
    config_file["num_labels"] = getattr(model.config, "num_labels", None)
    _write(Path(folder), config_file, {k: state[k] for k in keys}, use_safetensors)
    return True


def _read(folder: Path, use_safetensors: bool | None) -> tuple[dict, dict[str, torch.Tensor]]:
    if not (folder / HEAD_CONFIG_NAME).is_file():
        raise AdapterFileNotFoundError(f"{folder} holds no saved head: {HEAD_CONFIG_NAME} is missing.")
    data = read_json(folder / HEAD_CONFIG_NAME)
    path = find_weights_file(folder, HEAD_SAFE_WEIGHTS_NAME, HEAD_WEIGHTS_NAME, use_safetensors)
    return data, read_weights(path)


def _copy_into(model, tensors: dict[str, torch.Tensor], expected_prefix: str) -> None:
    expected = {k: v for k, v in model_tensors(model) if k.startswith(expected_prefix)}
    missing = sorted(set(expected) - set(tensors))
    if missing:
        raise CheckpointError(f"The saved head lacks weights the model expects: {', '.join(missing[:5])}.")
    bad = [k for k in expected if tuple(tensors[k].shape) != tuple(expected[k].shape)]
    if bad:
        raise CheckpointError(
            f"Shape mismatch for {bad[0]}: file has {tuple(tensors[bad[0]].shape)}, model expects "
            f"{tuple(expected[bad[0]].shape)}."
        )
    params = dict(model.named_parameters(remove_duplicate=False)) | dict(model.named_buffers(remove_duplicate=False))
    with torch.no_grad():
        for key in expected:
            params[key].copy_(tensors[key].to(dtype=params[key].dtype, device=params[key].device))


def _differs_from_input_embedding(model, name: str, tensors: dict[str, torch.Tensor]) -> bool:
    """Whether the saved output embedding of head ``name`` differs from the model's input embedding (then the head
    must not share it: e.g. T5 v1.1's separate ``lm_head``)."""
    output = model.heads[name].get_output_embeddings()
    if output is None:
        return False
    key = f"heads.{name}.{len(model.heads[name]) - 1}.weight"
    saved, embedding = tensors.get(key), model.get_input_embeddings().weight
    if saved is None or tuple(saved.shape) != tuple(embedding.shape):
        return False
    return not torch.equal(saved.to(device=embedding.device, dtype=embedding.dtype), embedding.detach())


def load_flex_head(
    model,
    folder: str | Path,
    load_as: str | None = None,
    id2label: dict | None = None,
    use_safetensors: bool | None = None,
    set_active: bool = True,
) -> str:
    """Load a saved head (flexible, or static and converted) into a model with flexible heads; returns its name."""
    data, tensors = _read(Path(folder), use_safetensors)
    if data.get("config") is None:
        entry = static_head(data.get("model_class"))
        if entry is None:
            raise UnsupportedMethodError(
                f"The head in {folder} was saved from {data.get('model_class')!r}, which cannot be converted to a "
                "flexible head. Convertible classes are listed in adapters.heads.conversion.STATIC_HEADS."
            )
        name = load_as or "default"
        config = static_head_config(entry, model.config, data.get("label2id"), data.get("num_labels"))
        tensors = convert_static_keys(entry, name, tensors)
    else:
        name, config = load_as or data["name"], dict(data["config"])
        old = f"heads.{data['name']}."
        tensors = {f"heads.{name}.{k[len(old) :]}" if k.startswith(old) else k: v for k, v in tensors.items()}
    if id2label is not None:
        config["label2id"] = label_map_for(config.get("num_labels"), id2label, folder)
    previous = model.heads._modules.get(name)
    previous_config = model.config.prediction_heads.get(name) if previous is not None else None
    model.add_prediction_head_from_config(name, config, overwrite_ok=True, set_active=set_active)
    try:
        if _differs_from_input_embedding(model, name, tensors):
            model.untie_output_embedding(name)
        _copy_into(model, tensors, f"heads.{name}.")
    except BaseException:
        model.delete_head(name)
        if previous is not None:
            model._restore_head(name, previous, previous_config)
        raise
    return name


def label_map_for(num_labels: int | None, id2label: dict, folder) -> dict[str, int]:
    """``label2id`` from a user's ``id2label`` for a head with ``num_labels`` outputs; the ids must be exactly
    ``0 .. num_labels - 1``, each with its own label.

    Raises:
        AdapterConfigError: the label map does not fit the saved head (nothing is loaded).
    """
    try:
        ids = sorted(int(index) for index in id2label)
    except (TypeError, ValueError):
        ids = None
    fits = ids is not None and (num_labels is None or ids == list(range(num_labels)))
    if not fits or len(set(map(str, id2label.values()))) != len(id2label):
        expected = f"the ids 0 to {num_labels - 1}" if num_labels is not None else "int ids"
        raise AdapterConfigError(
            f"id2label={id2label!r} does not fit the head saved in {folder}, which predicts {num_labels} labels: "
            f"give {expected}, each with a distinct label."
        )
    return {str(label): int(index) for index, label in id2label.items()}


def load_static_head(model, folder: str | Path, use_safetensors: bool | None = None) -> None:
    """Load a static head saved from the same transformers class into a static-head model.

    Raises:
        UnsupportedMethodError: the head was saved from another class (flexible heads cannot become static heads).
    """
    data, tensors = _read(Path(folder), use_safetensors)
    if data.get("model_class") != type(model).__name__ or data.get("config") is not None:
        kind = "flexible" if data.get("config") is not None else "static"
        raise UnsupportedMethodError(
            f"The head in {folder} is a {kind} head saved from {data.get('model_class')!r}; it cannot be loaded into "
            f"{type(model).__name__} (heads convert only from static to flexible). Load it into an AdapterModel "
            "(e.g. AutoAdapterModel), or pass with_head=False to load only the adapter."
        )
    keys = _static_head_keys(model)
    state = dict(model_tensors(model))
    missing = [k for k in keys if k not in tensors]
    if missing:
        raise CheckpointError(f"The saved head lacks weights the model expects: {', '.join(missing[:5])}.")
    with torch.no_grad():
        for key in keys:
            state[key].copy_(tensors[key].to(dtype=state[key].dtype, device=state[key].device))


def load_adapter_and_head(
    model,
    load_adapter,
    adapter_name_or_path,
    load_head,
    *,
    with_head: bool,
    set_active: bool,
    version=None,
    load_as=None,
    leave_out=None,
    use_safetensors=None,
    **kwargs,
) -> str:
    """Load an adapter with ``load_adapter`` and, with ``with_head``, the head saved next to it with
    ``load_head(folder, adapter_name)``. A failing head removes an adapter that was newly added (nothing is left
    half-loaded); returns the adapter's name."""

    resolved = resolve_adapter(
        adapter_name_or_path, version=version, default_model_name=model.config.name_or_path, **kwargs
    )
    folder, load_as = resolved.folder, load_as or resolved.name
    existed = load_as in model.adapters_config
    kwargs = {k: v for k, v in kwargs.items() if k not in ("config", "model_name")}  # used by the resolution only
    name = load_adapter(
        str(folder), load_as=load_as, leave_out=leave_out, set_active=False, use_safetensors=use_safetensors, **kwargs
    )
    if with_head and has_saved_head(folder):
        try:
            load_head(folder, name)
        except BaseException:
            if not existed:
                model.delete_adapter(name)
            raise
    if set_active:
        model.set_active_adapters(name)
    return name

"""``load_adapter``: read a saved adapter folder (ours or the reference's) into a model.

Steps: resolve the folder, read and migrate ``adapter_config.json``, read the weights safely, map the keys to the
model, add the adapter, copy the weights in. Any failure after the adapter was added removes it again, and a failure
while overwriting an existing adapter restores its previous weights: the model is left as it was.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import torch

from ..configuration import AdapterConfig, ConfigUnion, get_adapter_config_hash, migrate_saved_config
from ..errors import AdapterExistsError, AdapterFileNotFoundError, CheckpointError
from ..methods.prefix_tuning import position_handling_on_load
from ..methods.registry import ignored_file_key_pattern
from .format import (
    ADAPTER_CONFIG_NAME,
    ADAPTER_SAFE_WEIGHTS_NAME,
    ADAPTER_WEIGHTS_NAME,
    find_weights_file,
    read_json,
    read_weights,
)
from .keys import adapter_state_dict, from_file_keys, rename_adapter_keys
from .resolve import resolve_adapter, resolve_adapter_folder

__all__ = ["load_adapter", "resolve_adapter_folder", "read_adapter_config"]

logger = logging.getLogger(__name__)

# keys the reference library fails to write when saving from a base-model class (no leading "." before them)
_REFERENCE_UNSAVED = re.compile(r"^shared_parameters\.")


def read_adapter_config(folder: Path) -> tuple[dict[str, Any], AdapterConfig]:
    """Read ``adapter_config.json`` and return the raw file content and the (migrated) config object."""
    config_path = folder / ADAPTER_CONFIG_NAME
    if not config_path.is_file():
        raise AdapterFileNotFoundError(
            f"{folder} is not a saved adapter: {ADAPTER_CONFIG_NAME} is missing (found: "
            f"{sorted(p.name for p in folder.iterdir()) or 'an empty folder'})."
        )
    data = read_json(config_path)
    if not isinstance(data.get("config"), dict) or not data["config"] or not data.get("name"):
        raise CheckpointError(f"{config_path} must contain a 'config' object and a 'name'; got keys {sorted(data)}.")
    wrong = [k for k in ("name", "version", "model_type") if data.get(k) is not None and not isinstance(data[k], str)]
    if wrong:
        raise CheckpointError(
            f'{config_path}: {", ".join(f"{k}={data[k]!r}" for k in wrong)} must be a string (e.g. "name": '
            '"sentiment", "version": "adapters.1.3.0").'
        )
    config = AdapterConfig.load(migrate_saved_config(data["config"], data.get("version")))
    return data, config


def _with_leave_out(config: AdapterConfig, leave_out: list[int] | None) -> AdapterConfig:
    if not leave_out:
        return config
    members = config.configs if isinstance(config, ConfigUnion) else [config]
    updated = [
        m.replace(leave_out=sorted(set(m.leave_out or []) | set(leave_out))) if "leave_out" in m.to_dict() else m
        for m in members
    ]
    return ConfigUnion(*updated) if isinstance(config, ConfigUnion) else updated[0]


def _copy_weights(model, name: str, tensors: dict[str, torch.Tensor], info: dict[str, list[str]]) -> None:
    expected = adapter_state_dict(model, name)
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    info["missing_keys"], info["unexpected_keys"] = missing, unexpected
    tolerated = [k for k in missing if _REFERENCE_UNSAVED.search(k)]
    if tolerated:
        logger.warning(
            "The saved adapter %r lacks its shared parameters %s (adapters 1.x does not save them from base-model "
            "classes); they keep their fresh initialisation, so outputs differ from the original adapter.",
            name,
            tolerated,
        )
        missing = [k for k in missing if k not in tolerated]
    if missing:
        shown = ", ".join(missing[:5]) + (f", ... ({len(missing)} in total)" if len(missing) > 5 else "")
        raise CheckpointError(f"The saved adapter {name!r} lacks weights the model expects: {shown}.")
    present = [k for k in expected if k in tensors]
    bad = [
        (k, tuple(tensors[k].shape), tuple(expected[k].shape))
        for k in present
        if tensors[k].shape != expected[k].shape
    ]
    if bad:
        key, got, want = bad[0]
        raise CheckpointError(
            f"Shape mismatch for {key}: file has {got}, model expects {want} ({len(bad)} mismatches)."
        )
    params = dict(model.named_parameters(remove_duplicate=False)) | dict(model.named_buffers(remove_duplicate=False))
    with torch.no_grad():
        for key in present:
            target = params[key]
            target.copy_(tensors[key].to(dtype=target.dtype, device=target.device))


def _origin(model, data: dict[str, Any]) -> str | None:
    """How the model an adapter file was saved from differs from ``model`` (model type, hidden size), or None."""
    ours = (model.config.model_type, model.config.get_text_config().hidden_size)
    theirs = (data.get("model_type"), data.get("hidden_size"))
    if theirs[0] is None or theirs == ours:
        return None
    return (
        f"It was saved from a {theirs[0]!r} model with hidden size {theirs[1]}; this model is {ours[0]!r} with "
        f"hidden size {ours[1]}. Adapters load into models of the architecture and size they were trained on."
    )


def _read_saved(model, folder: Path, load_as: str | None, use_safetensors: bool | None, shift: bool | None = None):
    """``(name, config, tensors in model keys, origin)`` of an adapter folder in our (the reference's) format
    (``origin``: see :func:`_origin`); ``shift``: see
    :func:`~adapters.methods.prefix_tuning.position_handling_on_load`."""
    data, config = read_adapter_config(folder)
    config = position_handling_on_load(model, config, data.get("version"), shift)
    weights_path = find_weights_file(folder, ADAPTER_SAFE_WEIGHTS_NAME, ADAPTER_WEIGHTS_NAME, use_safetensors)
    saved_name, name = data["name"], load_as or data["name"]
    tensors = from_file_keys(model, rename_adapter_keys(read_weights(weights_path), saved_name, name))
    ignored = ignored_file_key_pattern()
    if ignored is not None:
        tensors = {k: v for k, v in tensors.items() if not ignored.search(k)}
    return name, config, tensors, _origin(model, data)


def load_adapter(
    model,
    adapter_name_or_path: str | Path,
    version: str | None = None,
    load_as: str | None = None,
    leave_out: list[int] | None = None,
    set_active: bool = False,
    use_safetensors: bool | None = None,
    loading_info: dict | None = None,
    config: Any = None,
    model_name: str | None = None,
    dtype: Any = None,
    **kwargs: Any,
) -> str:
    """Load the adapter ``adapter_name_or_path`` (a folder, URL, Hub repo or AdapterHub identifier, see
    :mod:`adapters.io.resolve`; our format or a PEFT checkpoint) into ``model`` and return its name in the model.
    ``dtype``: the dtype of a newly added adapter's weights (as ``add_adapter``'s; default: the model's)."""
    shift = kwargs.pop("shift_relative_positions", None)  # T5 prefix tuning as adapters 1.x computed it
    resolved = resolve_adapter(
        adapter_name_or_path,
        version=version,
        config=config,
        model_name=model_name,
        default_model_name=getattr(model.config, "name_or_path", None),
        **kwargs,
    )
    if resolved.format == "peft":
        from .peft import read_peft_checkpoint

        name, adapter_config, tensors = read_peft_checkpoint(model, resolved.folder, load_as or resolved.name)
        origin = None
    else:
        name, adapter_config, tensors, origin = _read_saved(model, resolved.folder, load_as, use_safetensors, shift)
    try:
        with model._adapter_runtime.adding(dtype=dtype):
            _install(model, name, _with_leave_out(adapter_config, leave_out), tensors, leave_out, loading_info)
    except CheckpointError as error:
        if origin is None:
            raise
        raise CheckpointError(f"{error} {origin}") from None
    if set_active:
        model.set_active_adapters(name)
    return name


def _install(model, name: str, config: AdapterConfig, tensors: dict, leave_out, loading_info: dict | None) -> None:
    """Add adapter ``name`` (or overwrite an existing one with the same config) and copy ``tensors`` into it."""
    info: dict[str, list[str]] = {}
    if name in model.adapters_config:
        _overwrite(model, name, config, tensors, info)
    else:
        with model._adapter_runtime.adding(loading=True):
            model.add_adapter(name, config=config)
        try:
            _copy_weights(model, name, tensors, info)
        except BaseException:
            model.delete_adapter(name)
            raise
    if info.get("unexpected_keys") and not leave_out:
        logger.warning(
            "Ignored %d unexpected weights loading adapter %r: %s",
            len(info["unexpected_keys"]),
            name,
            info["unexpected_keys"][:5],
        )
    if loading_info is not None:
        loading_info.update(info)


def _overwrite(model, name: str, config: AdapterConfig, tensors: dict[str, torch.Tensor], info: dict) -> None:
    existing = model.adapters_config.get(name)
    if get_adapter_config_hash(existing) != get_adapter_config_hash(config):
        raise AdapterExistsError(
            f"An adapter named {name!r} already exists with a different config; delete it first or pass load_as= "
            "to load under another name."
        )
    logger.warning("Overwriting the weights of existing adapter %r.", name)
    backup = {k: v.detach().clone() for k, v in adapter_state_dict(model, name).items()}
    try:
        _copy_weights(model, name, tensors, info)
    except BaseException:
        _copy_weights(model, name, backup, {})
        raise

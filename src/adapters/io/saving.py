"""``save_adapter`` and ``save_all_adapters`` in the reference's folder format."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..configuration import get_adapter_config_hash
from ..version import __version__
from .format import ADAPTER_CONFIG_NAME, ADAPTER_SAFE_WEIGHTS_NAME, ADAPTER_WEIGHTS_NAME, save_folder
from .keys import adapter_state_dict, to_file_keys

__all__ = ["save_adapter", "save_all_adapters", "build_adapter_config_file"]


def build_adapter_config_file(model, name: str, meta_dict: dict[str, Any] | None = None) -> dict[str, Any]:
    """The content of ``adapter_config.json`` for adapter ``name``."""
    config = model.adapters_config.get(name)
    data: dict[str, Any] = {
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
    return data


def save_adapter(
    model, save_directory: str | Path, adapter_name: str, meta_dict: dict | None = None, use_safetensors: bool = True
) -> None:
    """Write ``adapter_config.json`` and the weights (``adapter.safetensors`` or ``pytorch_adapter.bin``).

    Everything is computed before the first byte is written; both files are staged and moved into place
    together. A stale weights file of the other format in the same folder (from an earlier save of this adapter) is
    removed afterwards.
    """
    model._require_adapter(adapter_name)
    config_file = build_adapter_config_file(model, adapter_name, meta_dict)
    weights = to_file_keys(model, adapter_state_dict(model, adapter_name))
    names = (ADAPTER_SAFE_WEIGHTS_NAME, ADAPTER_WEIGHTS_NAME)
    weights_name, stale_name = names if use_safetensors else names[::-1]
    save_folder(
        Path(save_directory), weights_name, weights, use_safetensors, ADAPTER_CONFIG_NAME, config_file, stale_name
    )


def save_all_adapters(
    model, save_directory: str | Path, meta_dict: dict | None = None, use_safetensors: bool = True, **save_kwargs
) -> None:
    """Save every adapter to ``save_directory/<name>`` via ``model.save_adapter`` (with ``config_id`` = hash)."""
    for name in list(model.adapters_config.adapters):
        meta = {"config_id": get_adapter_config_hash(model.adapters_config.get(name))}
        meta.update(meta_dict or {})
        model.save_adapter(
            str(Path(save_directory) / name), name, meta_dict=meta, use_safetensors=use_safetensors, **save_kwargs
        )

"""``save_adapter_setup`` / ``load_adapter_setup``: a whole composition (adapters, fusions, heads) in one folder.

Layout as the reference: ``adapter_setup.json`` (``{"adapter_setup", "head_setup", "version"}``), one sub-folder per
adapter and per fusion (``a/``, ``b/``, ``a,b/``), heads in ``<head name>/`` or, with ``head_setup=True``, next to
the adapter of the same name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..composition import AdapterCompositionBlock, BatchSplit, Fuse, parse_composition
from ..errors import AdapterFileNotFoundError
from ..version import __version__
from .format import StagedWrites, read_json, write_json

__all__ = ["save_adapter_setup", "load_adapter_setup", "SETUP_CONFIG_NAME"]

SETUP_CONFIG_NAME = "adapter_setup.json"


def _fuses(setup) -> list[Fuse]:
    if not isinstance(setup, AdapterCompositionBlock):
        return []
    found = [setup] if isinstance(setup, Fuse) else []
    for child in setup:
        found += _fuses(child)
    return found


def _head_names(head_setup) -> list[str]:
    if head_setup is None or head_setup is True:
        return []
    if isinstance(head_setup, str):
        return [head_setup]
    return list(head_setup)


def _encode_heads(head_setup):
    if isinstance(head_setup, BatchSplit):
        return head_setup.to_dict()
    return list(head_setup) if isinstance(head_setup, (list, tuple)) else head_setup


def save_adapter_setup(
    model, save_directory: str | Path, adapter_setup: Any, head_setup: Any = None, use_safetensors: bool = True
) -> None:
    folder = Path(save_directory)
    setup = parse_composition(adapter_setup, model_type=model.config.model_type)
    with_head = head_setup is True
    for name in sorted(setup.flatten()):
        model.save_adapter(
            str(folder / name),
            name,
            use_safetensors=use_safetensors,
            **({"with_head": with_head} if hasattr(model, "heads") else {}),
        )
    for fuse in _fuses(setup):
        model.save_adapter_fusion(str(folder / fuse.name), fuse.name, use_safetensors=use_safetensors)
    for head in _head_names(head_setup):
        model.save_head(str(folder / head), head, use_safetensors=use_safetensors)
    data = {
        "adapter_setup": setup.to_dict(),
        "head_setup": _encode_heads(head_setup),
        "version": f"adapters.{__version__}",
    }
    with StagedWrites() as staged:
        write_json(staged, folder / SETUP_CONFIG_NAME, data)


def load_adapter_setup(model, path: str | Path, set_active: bool = False, use_safetensors: bool | None = None):
    """Load every adapter, fusion and head of a saved setup; returns ``(adapter_setup, head_setup)``."""
    folder = Path(path)
    if not (folder / SETUP_CONFIG_NAME).is_file():
        raise AdapterFileNotFoundError(f"{folder} holds no saved adapter setup: {SETUP_CONFIG_NAME} is missing.")
    data = read_json(folder / SETUP_CONFIG_NAME)
    setup = AdapterCompositionBlock.from_dict(data["adapter_setup"])
    head_setup = data.get("head_setup")
    if isinstance(head_setup, dict):
        head_setup = AdapterCompositionBlock.from_dict(head_setup)
    for name in sorted(setup.flatten() if isinstance(setup, AdapterCompositionBlock) else {setup}):
        kwargs = {"with_head": head_setup is True} if hasattr(model, "heads") else {}
        model.load_adapter(str(folder / name), use_safetensors=use_safetensors, **kwargs)
    for fuse in _fuses(setup):
        model.load_adapter_fusion(str(folder / fuse.name), use_safetensors=use_safetensors)
    for head in _head_names(head_setup):
        model.load_head(str(folder / head), use_safetensors=use_safetensors)
    if set_active:
        model.set_active_adapters(setup)
        if head_setup not in (None, True) and hasattr(model, "heads"):
            model.active_head = head_setup
    return setup, head_setup

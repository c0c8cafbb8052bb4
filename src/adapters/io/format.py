"""File names and low-level, safe reading and writing of weight files.

Weights are written as safetensors by default. ``.bin`` files are read with ``torch.load(weights_only=True)``, so
loading never runs code from a file. Saves write a staging folder that replaces the target in one step
(:mod:`adapters.io.atomic`), so a failed or killed save never leaves a half-written or mismatched folder.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from ..errors import AdapterFileNotFoundError, CheckpointError, UnsupportedMethodError
from .atomic import atomic_folder

__all__ = [
    "ADAPTER_CONFIG_NAME",
    "ADAPTER_WEIGHTS_NAME",
    "ADAPTER_SAFE_WEIGHTS_NAME",
    "HEAD_CONFIG_NAME",
    "HEAD_WEIGHTS_NAME",
    "HEAD_SAFE_WEIGHTS_NAME",
    "StagedWrites",
    "read_json",
    "write_json",
    "read_weights",
    "write_weights",
    "find_weights_file",
    "save_folder",
    "refuse_custom_weights_loaders",
]

ADAPTER_CONFIG_NAME = "adapter_config.json"
ADAPTER_WEIGHTS_NAME = "pytorch_adapter.bin"
ADAPTER_SAFE_WEIGHTS_NAME = "adapter.safetensors"
HEAD_CONFIG_NAME = "head_config.json"
HEAD_WEIGHTS_NAME = "pytorch_model_head.bin"
HEAD_SAFE_WEIGHTS_NAME = "model_head.safetensors"


class StagedWrites:
    """Write several files as a unit: each is written to a temporary file first, then all are moved into place.

    Used as a context manager; if anything fails before the block ends, the temporary files are removed and no
    target file is touched.
    """

    def __init__(self) -> None:
        self._staged: list[tuple[str, Path]] = []

    def __enter__(self) -> StagedWrites:
        return self

    def stage(self, path: Path, write) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        while True:  # a new file with the usual permissions (umask), unlike mkstemp's 0600
            tmp = str(path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp")
            try:
                os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
                break
            except FileExistsError:
                continue
        self._staged.append((tmp, path))
        mode = os.stat(tmp).st_mode & 0o777
        write(tmp)
        os.chmod(tmp, mode)  # writers that replace the file (safetensors) would leave it private

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            for tmp, path in self._staged:
                os.replace(tmp, path)
        else:
            for tmp, _ in self._staged:
                if os.path.exists(tmp):
                    os.unlink(tmp)


def write_json(staged: StagedWrites, path: Path, data: dict[str, Any]) -> None:
    """Stage ``data`` as JSON (keys sorted, indent 2, as the reference)."""

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, sort_keys=True)
            f.write("\n")

    staged.stage(path, write)


def read_json(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{path} is not valid JSON: {error}.") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} must hold a JSON object, got {type(data).__name__}.")
    return data


def write_weights(staged: StagedWrites, path: Path, state_dict: dict[str, torch.Tensor], safetensors: bool) -> None:
    """Stage tensors (copied to contiguous CPU memory, so shared storage is fine) as safetensors or ``.bin``."""
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state_dict.items()}
    if safetensors:
        staged.stage(path, lambda tmp: save_file(tensors, tmp, metadata={"format": "pt"}))
    else:
        staged.stage(path, lambda tmp: _torch_save(tensors, tmp))


def _torch_save(tensors: dict[str, torch.Tensor], path: str) -> None:
    """``torch.save`` through a file object: the archive's root folder is then always ``archive/`` (given a path,
    torch names it after the file, here a random staging name), so equal weights give byte-identical files."""
    with open(path, "wb") as f:
        torch.save(tensors, f)


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """Read a ``.safetensors`` or ``.bin`` weights file without executing code from it."""
    try:
        if path.suffix == ".safetensors":
            return load_file(str(path), device="cpu")
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # corrupt or malicious files: report, never execute
        raise CheckpointError(f"Could not read weights from {path}: {error}") from None


def find_weights_file(folder: Path, safe_name: str, bin_name: str, use_safetensors: bool | None) -> Path:
    """Pick the weights file in ``folder``: safetensors first unless ``use_safetensors=False`` asks for ``.bin``."""
    safe, legacy = folder / safe_name, folder / bin_name
    order = [legacy, safe] if use_safetensors is False else [safe, legacy]
    for candidate in order:
        if candidate.is_file():
            return candidate
    raise AdapterFileNotFoundError(
        f"No weights file in {folder}: expected {safe_name} or {bin_name}. Found: "
        f"{sorted(p.name for p in folder.iterdir()) if folder.is_dir() else 'nothing (not a folder)'}."
    )


def save_folder(
    folder: Path,
    weights_file: str,
    weights: dict[str, torch.Tensor],
    safetensors: bool,
    config_file: str,
    config: dict[str, Any],
    stale_file: str | None = None,
) -> None:
    """Write a weights file and its JSON config into ``folder`` as one unit.

    The folder is saved as one unit (:func:`~adapters.io.atomic.atomic_folder`): if anything fails, an existing
    folder is left as it was and no new or temporary folder remains. ``stale_file`` (the other weights format of an
    earlier save) is removed in the same step.
    """
    with atomic_folder(folder) as staging:
        with StagedWrites() as staged:
            write_weights(staged, staging / weights_file, weights, safetensors=safetensors)
            write_json(staged, staging / config_file, config)
        if stale_file is not None:
            (staging / stale_file).unlink(missing_ok=True)


def refuse_custom_weights_loaders(loaders: Any, operation: str) -> None:
    """Raise if ``custom_weights_loaders`` is given: the reference's ``WeightsLoader`` plug-ins do not exist here.

    Everything they handled in the reference is built in: heads (``with_head=``, ``save_head``/``load_head``),
    fusion layers (``save_adapter_fusion``) and embeddings (``save_embeddings``/``load_embeddings``).
    """
    if loaders:
        raise UnsupportedMethodError(
            f"{operation}(custom_weights_loaders={loaders!r}) is not supported: this library has no WeightsLoader "
            "plug-ins. Heads are saved and loaded with with_head=True or save_head/load_head, fusion layers with "
            "save_adapter_fusion/load_adapter_fusion, embeddings with save_embeddings/load_embeddings; pass "
            "custom_weights_loaders=None."
        )

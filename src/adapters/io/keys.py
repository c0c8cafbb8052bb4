"""Mapping adapter weight keys between the model and the reference's file layout.

On save, keys are taken from the model's state dict, made base-relative, renamed to the reference's module paths
where transformers 5 renamed modules (the family's ``checkpoint_renames``), and prefixed with the base-model prefix
again. Loading reverses this and also accepts files saved without (or with) the base prefix, legacy container names
from adapter-transformers, and renames the adapter for ``load_as``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import torch

from ..methods import adapter_key_pattern, registered_methods

__all__ = [
    "adapter_state_dict",
    "model_tensors",
    "to_file_keys",
    "from_file_keys",
    "rename_adapter_keys",
    "LEGACY_RENAMES",
]

# adapter-transformers (v1-v3) container names, renamed before filtering
LEGACY_RENAMES: tuple[tuple[str, str], ...] = (
    (r"(^|\.)(?:attention_text_task_adapters|attention_text_lang_adapters)\.", r"\1adapters."),
    (r"(^|\.)(?:layer_text_task_adapters|layer_text_lang_adapters)\.", r"\1adapters."),
    (r"(^|\.)invertible_lang_adapters\.", r"\1invertible_adapters."),
)


def _base_prefix(model) -> str:
    """``"bert."`` when the model wraps its base model under ``bert``; ``""`` when the model is the base."""
    if model.base_model is model:
        return ""
    return f"{model.base_model_prefix}."


def model_tensors(model) -> Iterator[tuple[str, torch.Tensor]]:
    """The model's state-dict entries (parameters and persistent buffers, detached) without calling
    ``state_dict()``: bitsandbytes' 4-bit layers answer that by converting weights it repacked for CPU inference back,
    which re-rounds them, so saving or loading an adapter would change the base model."""
    for path, module in model.named_modules(remove_duplicate=False):
        prefix = f"{path}." if path else ""
        for name, param in module._parameters.items():
            if param is not None:
                yield prefix + name, param.detach()
        for name, buffer in module._buffers.items():
            if buffer is not None and name not in module._non_persistent_buffers_set:
                yield prefix + name, buffer.detach()


def adapter_state_dict(model, name: str) -> dict[str, torch.Tensor]:
    """All state-dict entries of adapter ``name`` (model keys)."""
    pattern = adapter_key_pattern(name)
    return {k: v for k, v in model_tensors(model) if pattern.search(k)}


def to_file_keys(model, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename model keys to the reference file layout."""
    prefix, renames = _base_prefix(model), model._adapter_runtime.spec.checkpoint_renames
    out = {}
    for key, value in state_dict.items():
        relative = key[len(prefix) :] if prefix and key.startswith(prefix) else key
        for rename in renames:
            relative = rename.to_reference(relative)
        out[prefix + relative] = value
    return out


def _known_roots(model) -> set[str]:
    containers = {c for m in registered_methods() for c in (*m.containers, *m.base_modules)}
    return {name for name, _ in model.base_model.named_children()} | containers


def _relative_key(key: str, roots: set[str], renames) -> str:
    """The base-relative form of a file key saved with or without some base-model prefix."""
    candidates = [key, key.split(".", 1)[1]] if "." in key else [key]
    for candidate in candidates:
        for rename in renames:
            candidate = rename.from_reference(candidate)
        if candidate.split(".", 1)[0] in roots:
            return candidate
    return candidates[-1]


def from_file_keys(model, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename file keys (with or without a base prefix, legacy names, reference paths) to model keys."""
    prefix, roots = _base_prefix(model), _known_roots(model)
    renames = model._adapter_runtime.spec.checkpoint_renames
    out = {}
    for key, value in state_dict.items():
        for pattern, replacement in LEGACY_RENAMES:
            key = re.sub(pattern, replacement, key)
        out[prefix + _relative_key(key, roots, renames)] = value
    return out


def rename_adapter_keys(state_dict: dict[str, torch.Tensor], old: str, new: str) -> dict[str, torch.Tensor]:
    """Replace the adapter name segment ``<container>.<old>.`` by ``<container>.<new>.`` in every key."""
    if old == new:
        return dict(state_dict)
    containers = sorted({c for m in registered_methods() for c in m.containers})
    alternatives = "|".join(re.escape(c) for c in containers)
    pattern = re.compile(rf"(^|\.)({alternatives})\.{re.escape(old)}\.")
    return {pattern.sub(rf"\g<1>\g<2>.{new}.", k): v for k, v in state_dict.items()}

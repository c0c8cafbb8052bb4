"""Gating scores of gated adapters, returned by ``model(..., output_adapter_gating_scores=True)``.

Adapters with ``use_gating=True`` (bottleneck adapters, LoRA, prefix tuning; all three in UniPELT) scale their
contribution by a learned gate ``mean_seq(sigmoid(W x + b))``. ``output_adapter_gating_scores`` is one of the
per-call forward options of :mod:`adapters.architectures.call`: when a call asks for it, every gate computed during
the call is recorded in the call's record as the reference does, ``{adapter: {layer_index: {location_key: numpy
array}}}`` with the gate of each example (``(batch,)``; several gates at one location, e.g. LoRA on q and v, are
stacked as columns: ``(batch, n)``), and the output gets it as ``adapter_gating_scores``.

Gate-owning modules (a bottleneck adapter, a LoRA module) do not know where they sit; :func:`tag_gate_owners` marks
them with ``(runtime, adapter, layer index, location)`` when the adapter is added, and :func:`record_gate` is a
dictionary lookup plus a flag check unless the current call asked for the scores.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["OPTION", "OUTPUT_KEY", "record_gate", "record_score", "tag_gate_owners"]

OPTION = "output_adapter_gating_scores"
OUTPUT_KEY = "adapter_gating_scores"
_SITE_ATTR = "_adapters_gate_site"


def tag_gate_owners(runtime: Any, adapter: str, modules: dict[int, dict[str, nn.Module]]) -> None:
    """Mark every module with a ``gate`` below ``modules`` (``{layer: {location: module}}``) with its place."""
    for layer_index, by_location in modules.items():
        for location, module in by_location.items():
            for sub in module.modules():
                if isinstance(getattr(sub, "gate", None), nn.Module):
                    sub.__dict__[_SITE_ATTR] = (runtime, adapter, layer_index, location)


def record_gate(owner: nn.Module, gate: torch.Tensor) -> None:
    """Record ``gate`` (per example) for the gate-owning module ``owner`` if the current call asked for it."""
    site = owner.__dict__.get(_SITE_ATTR)
    if site is not None:
        record_score(*site, gate)


def record_score(runtime: Any, adapter: str, layer_index: int, location: str, gate: torch.Tensor) -> None:
    """Record ``gate`` under ``adapter`` / ``layer_index`` / ``location`` if the current call asked for it."""
    call = runtime.current()
    if call is None or not call.wants(OPTION):
        return
    value = gate.detach().squeeze().float().cpu().numpy()
    if value.ndim == 0:
        value = np.expand_dims(value, axis=0)
    store = call.records.setdefault(OUTPUT_KEY, {})
    slot = store.setdefault(adapter, {}).setdefault(layer_index, {})
    slot[location] = np.column_stack((slot[location], value)) if location in slot else value

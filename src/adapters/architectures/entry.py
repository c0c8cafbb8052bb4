"""Model entries: where a forward call gets its record, and where the record ends.

An entry is a module through which a forward call reaches the adapters: the top-level model object, its base model,
and the stacks that receive a layer group's inputs (an encoder-decoder's ``encoder`` and ``decoder``, which
``generate()`` also calls on their own). Each gets a pre-hook (order ``ENTRY``: before every other pre-hook of ours)
and a forward hook (order ``HOOK_EXIT``: after every other hook, and also when the forward raised).

The outermost entry of a call on a thread makes the :class:`~adapters.architectures.call.AdapterCall` and binds it
as ``runtime.current()``; nested entries (the base model inside the top-level model) use the same record. Every
entry takes the adapters' keyword arguments (:data:`~adapters.architectures.call.CALL_KWARGS`) out of the call, so
transformers never sees them, and the exits add what the call recorded (``adapter_fusion_attentions``,
``adapter_gating_scores``) to their outputs. When the model is training, the outermost entry also makes sure that
gradient-checkpointed layers recompute with the record of their forward (``runtime.prepare_checkpointing``).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
from torch import nn

from ..context import entered_call, left_call
from .attach import ENTRY, HOOK_EXIT, AdapterRuntime, resolve_path
from .call import CALL_KWARGS, FORWARD_OPTIONS
from .routing import batch_size

__all__ = ["install_entries", "entry_modules"]


def entry_modules(runtime: AdapterRuntime) -> list[nn.Module]:
    """The top-level model, the base model and the modules receiving each layer group's inputs (no duplicates)."""
    modules = [runtime.model, runtime.base_model]
    for group in runtime.spec.layer_groups:
        if group.inputs:
            modules.append(resolve_path(runtime.base_model, group.inputs)[0])
    unique: dict[int, nn.Module] = {}
    for module in modules:
        unique.setdefault(id(module), module)
    return list(unique.values())


def install_entries(runtime: AdapterRuntime) -> None:
    """Install the entry and exit hooks on every entry module (once per runtime)."""
    if runtime.__dict__.get("_entry_handles"):
        return
    handles = []
    for module in entry_modules(runtime):
        handles.append(runtime.register_input_hook(partial(_enter, runtime), ENTRY, module=module))
        handles.append(
            runtime.register_output_hook(
                module, partial(_exit, runtime), HOOK_EXIT, with_kwargs=True, always_call=True
            )
        )
    runtime.__dict__["_entry_handles"] = handles


def _enter(runtime: AdapterRuntime, module: nn.Module, args: tuple, kwargs: dict):
    local = runtime._local
    depth = getattr(local, "depth", 0)
    local.depth = depth + 1  # first: the exit hook runs (and decrements) even if anything below raises
    taken = {key: kwargs[key] for key in CALL_KWARGS if key in kwargs}
    if depth == 0:
        routed = taken.get("adapter_names") is not None or getattr(local, "routing", None) is not None
        batch = batch_size(args, kwargs) if routed else None
        local.call = runtime.new_call(taken, batch)
        entered_call(local.call)
        if module.training and not torch.compiler.is_compiling():
            runtime.prepare_checkpointing()
    if not taken:
        return None
    return args, {key: value for key, value in kwargs.items() if key not in CALL_KWARGS}


def _exit(runtime: AdapterRuntime, module: nn.Module, args: tuple, kwargs: dict, output: Any):
    local = runtime._local
    local.depth = getattr(local, "depth", 1) - 1
    call = getattr(local, "call", None)
    if local.depth <= 0:
        local.depth = 0
        local.call = None
        left_call(call)
    if call is None or output is None or not call.options or not hasattr(output, "keys"):
        return None
    for option, key in FORWARD_OPTIONS.items():
        if call.wants(option):
            output[key] = call.records.get(key, {})
    return None

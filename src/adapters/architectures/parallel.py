"""Parallel composition: replicate the batch once, at the model entry.

With ``Parallel(a, b)`` active, a forward pre-hook on the base model repeats every batch-shaped input N times
(``[x; x]``), so masks, positions and caches are built for N·B rows by the model itself; adapter layers then run child
i on rows ``[i·B, (i+1)·B)`` and the heads split the output the same way. A call whose inputs are already replicated
(``generate()`` does it once up front, see ``AdapterRuntime.replicated_inputs``) is left alone; so is a second
base-model call within the same call.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .attach import INPUT_REPLICATE, AdapterRuntime

__all__ = ["install_parallel_replication", "REPLICATED_INPUTS", "replicate"]

REPLICATED_INPUTS = (
    "input_ids", "attention_mask", "token_type_ids", "position_ids", "inputs_embeds", "pixel_values",
    "decoder_input_ids", "decoder_attention_mask", "decoder_inputs_embeds", "hidden_states", "input_features",
)  # fmt: skip

_DONE = "parallel_replicated"


def replicate(value: Any, channels: int) -> Any:
    if isinstance(value, torch.Tensor) and value.dim() > 0:
        return value.repeat(channels, *([1] * (value.dim() - 1)))
    return value


def install_parallel_replication(runtime: AdapterRuntime) -> None:
    """Install the replication pre-hook on the base model (idempotent)."""
    if runtime.__dict__.get("_parallel_hook") is not None:
        return

    def hook(module: nn.Module, args: tuple, kwargs: dict):
        call = runtime.current()
        if call is None or call.channels == 1 or call.replicated or call.scratch.get(_DONE):
            return None
        channels = call.channels
        call.scratch[_DONE] = True
        kwargs = {k: replicate(v, channels) if k in REPLICATED_INPUTS else v for k, v in kwargs.items()}
        args = tuple(replicate(a, channels) if i == 0 else a for i, a in enumerate(args))
        return args, kwargs

    runtime.__dict__["_parallel_hook"] = runtime.register_input_hook(hook, INPUT_REPLICATE)

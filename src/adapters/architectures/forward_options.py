"""Per-call options of the reference API that are not model arguments (``output_adapter_fusion_attentions=True``).

A pre-hook on the base model takes them out of the forward kwargs (so transformers never sees them) into
``runtime.forward_options``; adapter layers record what was asked for into ``runtime.collected``; a forward hook on
the base model adds the records to its output (``outputs.adapter_fusion_attentions``:
``{fusion name: {layer index: {location: tensor (batch, seq, n_adapters)}}}``).
"""

from __future__ import annotations

from typing import Any

from torch import nn

__all__ = ["FORWARD_OPTIONS", "install_forward_options", "record"]

# forward option -> output key it fills
FORWARD_OPTIONS = {
    "output_adapter_fusion_attentions": "adapter_fusion_attentions",
    "output_adapter_gating_scores": "adapter_gating_scores",  # recorded by adapters.gating
}


def record(runtime, option: str, name: str, layer_index: int, location: str, value: Any) -> None:
    """Store ``value`` for the current call if ``option`` was requested."""
    if runtime.forward_options.get(option):
        key = FORWARD_OPTIONS[option]
        runtime.collected.setdefault(key, {}).setdefault(name, {}).setdefault(layer_index, {})[location] = value


def install_forward_options(runtime) -> None:
    if runtime.__dict__.get("_option_hooks"):
        return
    runtime.forward_options, runtime.collected = {}, {}

    def take(module: nn.Module, args: tuple, kwargs: dict):
        options = {k: kwargs[k] for k in FORWARD_OPTIONS if k in kwargs}
        if not options and not runtime.forward_options:
            return None
        runtime.forward_options, runtime.collected = {k: bool(v) for k, v in options.items()}, {}
        return args, {k: v for k, v in kwargs.items() if k not in FORWARD_OPTIONS}

    def attach(module: nn.Module, args: tuple, kwargs: dict, output):
        for option, key in FORWARD_OPTIONS.items():
            if runtime.forward_options.get(option) and hasattr(output, "keys"):
                output[key] = runtime.collected.get(key, {})
        return output

    base = runtime.base_model
    runtime.__dict__["_option_hooks"] = (
        base.register_forward_pre_hook(take, with_kwargs=True),
        base.register_forward_hook(attach, with_kwargs=True),
    )

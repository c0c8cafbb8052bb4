"""LoRA-family adapters on linear layers: LoRA, (IA)³, DoRA, VeRA, DVoRA and MTL-LoRA.

Where they attach: the family's spec lists the linear layers (:class:`~adapters.architectures.spec.LoRASite`). For
each adapted layer a :class:`LoRALayer` (a ``ModuleDict`` of the adapters' modules by name) is registered as the
child ``loras`` of the unchanged ``nn.Linear`` / ``Conv1D``, so weight keys are the reference's
``<linear path>.loras.<name>.lora_A``. A forward hook on the linear layer finishes its computation::

    y  = W x + b                                   the layer's own forward, untouched
    y' = y + h       (LoRA, VeRA, MTL-LoRA)        h: the active adapters' update computed from the same x
    y' = y ⊙ h       ((IA)³)
    y' = m / ‖W + ΔW‖ ⊙ (y + h)   (DoRA, DVoRA)

Base weights stay the same tensor objects and base keys do not change. Fused ``q|k|v`` layers (GPT-2's
``c_attn``) use the reference's grouped layout; the hook works per output part ("group"), so they compose like
separate q/k/v layers.

Composition. A ``Stack`` runs the adapters in order on a :class:`LoRAState`; as in the reference, each adapter of
the stack receives the previous adapter's hidden states ``h`` (not the layer input) and the last adapter's mode
combines the result with ``y`` (so stacked LoRAs compose their low-rank maps and stacked (IA)³ vectors multiply).
``MultiTask`` routes the examples of a batch to one adapter each by ``task_ids``. The per-method primitives the
composition interpreter (:mod:`adapters.methods.composer`) needs are methods of :class:`LoRALayer`:
``compose_single``, ``vslice``, ``pad_and_concat`` and ``weighted_sum`` (see docs/methods/lora.md).

Merging folds one adapter into the weights of every layer it adapts (``merge_adapter``); ``reset_adapter``
restores the original weights bit for bit (they are kept while merged).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

from ..architectures.attach import AdapterRuntime, LayerRef, resolve_path
from ..architectures.spec import LoRASite
from ..configuration import LoRAConfig, MTLLoRAConfig
from ..errors import AdapterConfigError, CompositionError, UnsupportedMethodError, UnsupportedModelError
from ._common import adapter_dtype, seeded, shared_parameters_store
from ._lowrank import IA3, LoRA, LowRankModule, MTLLoRA
from .lora_averaging import lora_strategy_average
from .lora_layer import LoRALayer, LoRAState, linear_shape, weight_rows
from .quantized import quantization_kind
from .registry import AdapterMethod, register_method
from .vera import Vera, VeraShared, is_vera

__all__ = ["LoRALayer", "LoRAState", "lora_layers", "merge_adapter", "reset_adapters"]


# ----------------------------------------------------------------------------------------------------------------
# finding the adapted layers
# ----------------------------------------------------------------------------------------------------------------


def _resolve_linear(layer: nn.Module, path: str) -> nn.Module:
    for alternative in path.split("|"):
        try:
            return resolve_path(layer, alternative)[0]
        except (UnsupportedModelError, IndexError):
            continue
    raise UnsupportedModelError(f"None of the LoRA site paths {path!r} exists in {type(layer).__name__}.")


def _targets(runtime: AdapterRuntime, config: LoRAConfig) -> Iterator[tuple[LayerRef, LoRASite, tuple[int, ...]]]:
    """The sites ``config`` adapts, with the output groups enabled at each."""
    leave_out = set(config.leave_out or ())
    for ref in runtime.iter_layers():
        if ref.index in leave_out:
            continue
        for site in ref.group.lora_sites:
            if not getattr(config, f"{site.location}_lora", False):
                continue
            groups = (
                tuple(j for j, m in enumerate(site.matrices) if m in config.attn_matrices) if site.matrices else (0,)
            )
            if groups:
                yield ref, site, groups


def lora_layers(runtime: AdapterRuntime) -> Iterator[LoRALayer]:
    """Every :class:`LoRALayer` currently attached to the model."""
    for ref in runtime.iter_layers():
        for site in ref.group.lora_sites:
            layer = getattr(_resolve_linear(ref.module, site.path), "loras", None)
            if isinstance(layer, LoRALayer):
                yield layer


# ----------------------------------------------------------------------------------------------------------------
# registration: add / delete / inspect
# ----------------------------------------------------------------------------------------------------------------


def _check_config(config: LoRAConfig) -> None:
    problems = []
    if config.composition_mode == "scale":
        if config.use_dora:
            problems.append("(IA)^3 (composition_mode='scale') cannot use DoRA (use_dora=True)")
        if config.dropout > 0.0:
            problems.append(f"(IA)^3 (composition_mode='scale') does not support dropout, got {config.dropout}")
        if is_vera(config):
            problems.append("VeRA (vera_d/vera_b set) needs composition_mode='add'")
        if isinstance(config, MTLLoRAConfig):
            problems.append("MTL-LoRA needs composition_mode='add'")
    if problems:
        raise AdapterConfigError(f"Invalid {type(config).__name__}: " + "; ".join(problems) + ".")


def _build(config: LoRAConfig, in_features: int, size: int, groups: int, shared: VeraShared | None) -> LowRankModule:
    if config.composition_mode == "scale":
        return IA3(in_features, size, groups, config)
    if isinstance(config, MTLLoRAConfig):
        return MTLLoRA(in_features, size, groups, config)
    if shared is not None:
        return Vera(in_features, size, groups, config, shared)
    return LoRA(in_features, size, groups, config)


def add(runtime: AdapterRuntime, name: str, config: LoRAConfig) -> None:
    """Build every module first, then attach them all, so a failure leaves the model untouched."""
    _check_config(config)
    targets = []
    for ref, site, groups in _targets(runtime, config):
        linear = _resolve_linear(ref.module, site.path)
        in_features, out_features, _ = linear_shape(linear)
        targets.append((ref, site, linear, groups, in_features, out_features // max(1, len(site.matrices))))
    shared = None
    if is_vera(config) and not isinstance(config, MTLLoRAConfig) and config.composition_mode == "add":
        with seeded(config.init_weights_seed):
            shared = VeraShared(config.r, max(t[4] for t in targets), max(t[5] for t in targets), config.init_weights)
        first_ref, _, first_linear = targets[0][:3]
        dtype = adapter_dtype(runtime, config.dtype, first_linear, first_ref.module)
        shared.to(device=first_linear.weight.device, dtype=dtype)
    built = []
    for ref, site, linear, groups, in_features, size in targets:
        with seeded(config.init_weights_seed):
            module = _build(config, in_features, size, len(groups), shared)
        module.group_index = groups
        module.to(device=linear.weight.device, dtype=adapter_dtype(runtime, config.dtype, linear, ref.module))
        module.train(linear.training)
        if module.use_dora:
            rows = weight_rows(linear).detach()
            norms = torch.cat([torch.linalg.norm(rows[j * size : (j + 1) * size].float(), dim=1) for j in groups])
            with torch.no_grad():
                module.m.weight.copy_(norms.unsqueeze(1).to(module.m.weight.dtype))
        built.append((ref, site, linear, module))
    for ref, site, linear, module in built:
        layer = getattr(linear, "loras", None)
        if layer is None:
            layer = LoRALayer(site, ref.index, linear, runtime)
            layer.install()
            linear.add_module("loras", layer)
        layer[name] = module
    if shared is not None:
        shared_parameters_store(runtime, create=True)[name] = shared


def delete(runtime: AdapterRuntime, name: str) -> None:
    for layer in list(lora_layers(runtime)):
        if name not in layer:
            continue
        layer.remove_adapter(name)
        if len(layer) == 0:
            layer.uninstall()
            delattr(layer.linear, "loras")
    store = shared_parameters_store(runtime, create=False)
    if store is not None and isinstance(store._modules.get(name), VeraShared):
        del store[name]
        if len(store) == 0:
            delattr(runtime.base_model, "shared_parameters")


def modules(runtime: AdapterRuntime, name: str) -> dict[int, dict[str, nn.Module]]:
    """``{layer: {location_key: module}}``; several modules at one location (q and v) become a ``ModuleList``."""
    found: dict[int, dict[str, nn.Module]] = {}
    for layer in lora_layers(runtime):
        if name not in layer:
            continue
        slot = found.setdefault(layer.layer_idx, {})
        existing = slot.get(layer.location_key)
        if existing is None:
            slot[layer.location_key] = layer[name]
        elif isinstance(existing, nn.ModuleList):
            existing.append(layer[name])
        else:
            slot[layer.location_key] = nn.ModuleList([existing, layer[name]])
    store = shared_parameters_store(runtime, create=False)
    if store is not None and isinstance(store._modules.get(name), VeraShared):
        found.setdefault(-1, {})["shared"] = store[name]
    return found


def check_support(runtime: AdapterRuntime, config: LoRAConfig) -> str | None:
    if not any(group.lora_sites for group in runtime.spec.layer_groups):
        return f"LoRA-family adapters are not available for {runtime.spec.name}"
    if next(_targets(runtime, config), None) is None:
        return (
            "the config enables no LoRA location present in this model (check selfattn_lora, intermediate_lora, "
            "output_lora, attn_matrices and leave_out)"
        )
    return None


def reset_adapters(runtime: AdapterRuntime) -> None:
    """Un-merge every merged LoRA-family adapter (the reference's ``reset_adapter``)."""
    for layer in lora_layers(runtime):
        layer.reset()


def merge_adapter(runtime: AdapterRuntime, name: str) -> None:
    """Fold adapter ``name`` into the weights of every layer it adapts; all checks happen before any change."""
    layers = [layer for layer in lora_layers(runtime) if name in layer]
    quantized = [(layer, kind) for layer in layers if (kind := quantization_kind(layer.linear)) is not None]
    if quantized:
        layer, kind = quantized[0]
        raise UnsupportedMethodError(
            f"Cannot merge adapter {name!r}: {layer.location_key} of layer {layer.layer_idx} is a {kind} layer "
            f"({len(quantized)} quantized layers in total). Folding the update into quantized weights would round it "
            "away and reset_adapter() could not restore them exactly. Run the adapter unmerged, or load the base "
            "model without quantization (e.g. dtype=torch.bfloat16), load the adapter there and merge."
        )
    gated = [f"{layer.location_key} of layer {layer.layer_idx}" for layer in layers if layer[name].use_gating]
    if gated:
        raise UnsupportedMethodError(
            f"Cannot merge adapter {name!r}: it uses gating (use_gating=True), whose factor depends on the input, so "
            f"it cannot be folded into fixed weights (gated at {gated[0]}). Run it unmerged instead."
        )
    busy = sorted({layer.merged for layer in layers if layer.merged not in (None, name)})
    if busy:
        raise CompositionError(
            f"Cannot merge adapter {name!r}: adapter {busy[0]!r} is merged into the same layers; call "
            "reset_adapter() first (only one adapter can be merged at a time)."
        )
    for layer in layers:
        layer.merge(name)


def average(runtime: AdapterRuntime, name: str, weights: dict[str, float], strategy: str, svd_rank: int | None):
    """The LoRA-specific averaging strategies, applied to the freshly added adapter ``name`` (see averaging.py)."""
    lora_strategy_average(lora_layers(runtime), name, weights, strategy, svd_rank)


def _method(name: str, architecture: str, kinds: tuple[tuple[str, str], ...] = ()) -> AdapterMethod:
    return AdapterMethod(
        name=name,
        architecture=architecture,
        containers=("loras", "shared_parameters"),
        add=add,
        delete=delete,
        modules=modules,
        check_support=check_support,
        reset=reset_adapters,
        merge=merge_adapter,
        average=average,
        supported_blocks=LoRALayer.supported_blocks,
        kinds=kinds,
    )


LORA = register_method(_method("lora", "lora", kinds=(("lora", "lora"),)))
MTL_LORA = register_method(_method("mtl_lora", "mtl_lora"))

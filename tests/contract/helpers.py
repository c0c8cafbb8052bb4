"""Shared helpers for the contract suite."""

from __future__ import annotations

import torch

import adapters
from tiny_models import build


def adapter_model(family: str, seed: int = 0) -> torch.nn.Module:
    model = build(family, seed=seed)
    adapters.init(model)
    return model


def randomize_adapter(model, name: str, seed: int = 123, std: float = 0.1) -> None:
    """Give every parameter of adapter ``name`` deterministic random values (so it visibly changes outputs)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, param in sorted(model._adapter_parameters(name), key=lambda item: item[0]):
            noise = torch.randn(param.shape, generator=generator) * std
            param.copy_(noise + (1.0 if param.dim() == 1 and _is_scale(param, model, name) else 0.0))
        # orthogonal parametrizations (LoReFT): writing ``original`` directly gives a zero weight (torch's map reads
        # signs from its diagonal); assign a random matrix with orthonormal rows through the parametrization
        for _, module in _modules(model, name):
            for sub in module.modules():
                if hasattr(sub, "parametrizations") and hasattr(sub.parametrizations, "weight"):
                    rows, cols = sub.weight.shape
                    q, _ = torch.linalg.qr(torch.randn(cols, rows, generator=generator))
                    sub.weight = q.t().contiguous().to(sub.weight.dtype)


def _is_scale(param, model, name) -> bool:
    for _, module in _modules(model, name):
        for sub in module.modules():
            if isinstance(sub, torch.nn.LayerNorm) and sub.weight is param:
                return True
        if getattr(module, "scaling", None) is param:
            return True
    return False


def _modules(model, name):
    for by_location in model.get_adapter(name).values():
        yield from by_location.items()


def all_hooks(model) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def make_trainable(model, names, checkpointing: dict | None = None) -> None:
    """Freeze the base model, unfreeze adapters ``names`` and fusion layers, switch dropout off, enable gradient
    checkpointing with ``checkpointing`` (if given) and set training mode."""
    model.freeze_model(True)
    for name in names:
        for _, param in model._adapter_parameters(name):
            param.requires_grad_(True)
    for name, param in model.named_parameters():
        if "adapter_fusion_layer" in name:
            param.requires_grad_(True)
    for module in model.modules():  # deterministic: no dropout
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    if checkpointing is not None:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=checkpointing)
    model.train()


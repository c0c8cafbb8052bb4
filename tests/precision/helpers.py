"""Shared by the precision tests: adapter weights that make a visible difference, and copying them between models."""

from __future__ import annotations

import torch

from adapters.io.keys import model_tensors

# bfloat16 keeps 8 bits of mantissa; the tiny base models alone differ by up to 0.034 (outputs of magnitude ~3)
# between float32 and bfloat16, so adapted outputs must stay within 0.1 of the float32 model.
BF16_TOLERANCE = 0.1


def perturb_adapters(model, base_keys: set[str], scale: float = 0.5, seed: int = 0) -> None:
    """Add seeded noise to every parameter that is not a base weight, so adapters change the output clearly (LoRA's
    B starts at zero, (IA)³ at one)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name not in base_keys and param.is_floating_point():
                param.add_(scale * torch.randn(param.shape, generator=generator).to(param.dtype))


def added_state(model, base_keys: set[str]) -> dict[str, torch.Tensor]:
    """Every state-dict entry of ``model`` that the base model did not have (adapters, fusion layers). Read without
    ``state_dict()``, which re-rounds bitsandbytes' CPU-packed 4-bit weights."""
    return {key: value for key, value in model_tensors(model) if key not in base_keys}


def base_keys_of(model) -> set[str]:
    return {key for key, _ in model_tensors(model)}


def copy_added_state(model, state: dict[str, torch.Tensor]) -> None:
    """Copy ``state`` (from :func:`added_state` of a twin model) into ``model``, casting to its dtypes."""
    targets = dict(model_tensors(model))
    assert set(state) <= set(targets)
    with torch.no_grad():
        for key, value in state.items():
            targets[key].copy_(value)

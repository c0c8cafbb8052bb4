"""The LoRA-specific strategies of ``average_adapter`` (see :mod:`adapters.averaging` for the overview).

* ``"lora_linear_only_negate_b"``: ``A = Σ_i |w_i| A_i`` and ``B = Σ_i w_i B_i``, so a negative weight negates
  only ``B`` (Zhang et al., 2023, "Composing Parameter-Efficient Modules with Arithmetic Operations");
* ``"lora_delta_w_svd"``: per adapted layer ``ΔW = Σ_i w_i s_i B_i A_i`` (``s = alpha / r``) is split by a
  truncated SVD into ``A (svd_rank, in)`` and ``B (out, svd_rank)`` of a new adapter with ``r = svd_rank``.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from ..errors import UnsupportedMethodError
from ._lowrank import LoRA

__all__ = ["lora_strategy_average"]


def lora_strategy_average(
    layers: Iterable, name: str, weights: dict[str, float], strategy: str, svd_rank: int | None
) -> None:
    """Apply ``lora_linear_only_negate_b`` or ``lora_delta_w_svd`` at every layer holding adapter ``name``."""
    layers = [layer for layer in layers if name in layer]
    for layer in layers:  # check everything before changing anything
        missing = [i for i in weights if i not in layer]
        if missing:
            raise UnsupportedMethodError(
                f"Adapter {missing[0]!r} has no module at {layer.location_key} of layer "
                f"{layer.layer_idx}, where {name!r} has one."
            )
        _check_strategy(layer[name], strategy)
    for layer in layers:
        target, sources = layer[name], [(layer[i], w) for i, w in weights.items()]
        if strategy == "lora_linear_only_negate_b":
            _negate_b(target, sources)
        else:
            _svd(target, sources, layer.group_size)


def _check_strategy(module, strategy: str) -> None:
    params = set(module.state_dict())
    if strategy == "lora_linear_only_negate_b" and not params <= {"lora_A", "lora_B"}:
        extra = sorted(params - {"lora_A", "lora_B"})
        raise UnsupportedMethodError(
            f"combine_strategy='lora_linear_only_negate_b' combines only lora_A and lora_B, but these adapters also "
            f"have {extra} (VeRA, DoRA, gating or MTL-LoRA); use 'linear'."
        )
    if strategy == "lora_delta_w_svd" and (type(module) is not LoRA or params != {"lora_A", "lora_B"}):
        raise UnsupportedMethodError(
            "combine_strategy='lora_delta_w_svd' needs plain LoRA adapters (no (IA)^3, VeRA, DoRA, gating or "
            "MTL-LoRA); use 'linear'."
        )


def _negate_b(target, sources) -> None:
    with torch.no_grad():
        for pname, param in target.named_parameters():
            coefficient = abs if pname == "lora_A" else (lambda w: w)
            total = sum(coefficient(w) * getattr(src, pname).float() for src, w in sources)
            param.copy_(total.to(param.dtype))


def _svd(target: LoRA, sources, size: int) -> None:
    rank = target.r
    with torch.no_grad():
        delta = sum(w * src.scaling * src.delta_weight().float() for src, w in sources) / target.scaling
        A = delta.new_zeros(target.groups * rank, target.in_features)
        B = delta.new_zeros(target.groups * size, rank)
        for k in range(target.groups):
            U, S, Vh = torch.linalg.svd(delta[k * size : (k + 1) * size], full_matrices=False)
            keep = min(rank, S.numel())
            A[k * rank : k * rank + keep] = Vh[:keep]
            B[k * size : (k + 1) * size, :keep] = U[:, :keep] * S[:keep]
        target.lora_A.copy_(A.to(target.lora_A))
        target.lora_B.copy_(B.to(target.lora_B))

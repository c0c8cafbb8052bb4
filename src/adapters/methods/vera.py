"""VeRA: vector-based random matrix adaptation (Kopiczko et al., 2024, https://arxiv.org/abs/2310.11454).

One pair of frozen random matrices ``A (r, in)``, ``B (out, r)`` is shared by all layers of an adapter; each adapted
layer trains only two scalings ``Λ_d (r, r)`` and ``Λ_b (out, out)`` (the reference's ``vera_D`` and ``vera_B``,
initialised to ``diag(vera_d)`` and ``diag(vera_b)``):

    h = x (Λ_b B Λ_d A)ᵀ · alpha / r

The shared pair lives in ``base_model.shared_parameters.<name>`` as buffers (so ``train_adapter`` never unfreezes
them; their state-dict keys are the reference's ``shared_parameters.<name>.lora_A/lora_B``). The reference sizes the
pair from the first adapted layer, so it only works when all adapted layers have the same shape. Here the pair is
sized to the largest input and output of the adapted layers and each layer uses its top-left block; where the
reference works the shapes (and results) are the same.

DVoRA (``DvoRAConfig``) is VeRA with DoRA's magnitude/direction split (see :mod:`adapters.methods.dora`).
"""

from __future__ import annotations

import torch
from torch import nn

from ..configuration import LoRAConfig
from ._lowrank import Inputs, LowRankModule, _init_pair

__all__ = ["Vera", "VeraShared", "is_vera"]


def is_vera(config: LoRAConfig) -> bool:
    """VeRA is selected by a numeric ``vera_d`` or ``vera_b`` (as in the reference)."""
    return config.vera_d is not None or config.vera_b is not None


class VeraShared(nn.Module):
    """The frozen random pair shared by all layers of one VeRA adapter (buffers ``lora_A``, ``lora_B``)."""

    def __init__(self, rank: int, in_features: int, out_features: int, init_weights: str):
        super().__init__()
        lora_A, lora_B = torch.zeros(rank, in_features), torch.zeros(out_features, rank)
        _init_pair(lora_A, lora_B, init_weights)
        self.register_buffer("lora_A", lora_A)
        self.register_buffer("lora_B", lora_B)

    def blocks(self, in_features: int, out_features: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The part of the pair used by a layer with these sizes."""
        return self.lora_A[:, :in_features], self.lora_B[:out_features, :]


class Vera(LowRankModule):
    """The per-layer part of a VeRA adapter: ``vera_D`` (``(groups·r, r)``) and ``vera_B`` (``(groups·out, out)``)."""

    def __init__(self, in_features: int, out_features: int, groups: int, config: LoRAConfig, shared: VeraShared):
        super().__init__(in_features, out_features, groups, config)
        d = 0.0 if config.vera_d is None else float(config.vera_d)
        b = 0.0 if config.vera_b is None else float(config.vera_b)
        self.vera_D = nn.Parameter(torch.diag(torch.full((config.r,), d)).repeat(groups, 1))
        self.vera_B = nn.Parameter(torch.diag(torch.full((out_features,), b)).repeat(groups, 1))
        self.__dict__["_shared"] = shared  # not a child: its keys live under base_model.shared_parameters

    def _pair(self) -> tuple[torch.Tensor, torch.Tensor]:
        A, B = self.__dict__["_shared"].blocks(self.in_features, self.out_features)
        return A.to(self.vera_D.dtype), B.to(self.vera_D.dtype)

    def update(self, inputs: Inputs, x: torch.Tensor) -> list[torch.Tensor]:
        gate = self.gate_values(x)
        A, B = self._pair()
        dtype = self.vera_D.dtype
        shared_input = None
        out = []
        for j, (inp, vera_D, vera_B) in enumerate(zip(inputs, self._grouped(self.vera_D), self._grouped(self.vera_B))):
            if inp is None:
                if shared_input is None:
                    shared_input = self.lora_dropout(x.to(dtype)) @ A.t()
                projected = shared_input
            else:
                projected = self.lora_dropout(inp.to(dtype)) @ A.t()
            out.append(self.scale(projected @ vera_D.t() @ B.t() @ vera_B.t(), gate, j))
        return out

    def delta_weight(self) -> torch.Tensor:
        A, B = self._pair()
        return torch.cat([vb @ B @ vd @ A for vd, vb in zip(self._grouped(self.vera_D), self._grouped(self.vera_B))])

"""Invertible adapters on the embedding output (MAD-X, Pfeiffer et al., 2020, https://arxiv.org/abs/2005.00052).

An invertible coupling block ``f`` transforms the embedding output before the first layer; its exact inverse
``f⁻¹`` can be applied before an LM head's output embedding. Two coupling types:

* NICE (Dinh et al., 2014, https://arxiv.org/abs/1410.8516): split ``x = [x1, x2]`` along the hidden dimension,
  ``y1 = x1 + F(x2)``, ``y2 = x2 + G(y1)``.
* GLOW (Kingma & Dhariwal, 2018, https://arxiv.org/abs/1807.03039), affine coupling:
  ``y1 = e(s2(x2)) ⊙ x1 + t2(x2)``, ``y2 = e(s1(y1)) ⊙ x2 + t1(y1)`` with the soft clamp
  ``e(s) = exp(clamp · 0.636 · atan(s / clamp))``.

``F``, ``G``, ``s1``, ``s2`` are two-layer MLPs narrowing by ``inv_adapter_reduction_factor``. Only the first adapter
of the active setup applies its invertible adapter.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import AdapterConfigError
from ._common import activation

__all__ = ["NICECouplingBlock", "GLOWCouplingBlock", "build_invertible_adapter"]


def _mlp(fan_in: int, hidden: int, fan_out: int, non_linearity: str) -> nn.Sequential:
    return nn.Sequential(nn.Linear(fan_in, hidden), activation(non_linearity), nn.Linear(hidden, fan_out))


class NICECouplingBlock(nn.Module):
    """Additive coupling: ``y1 = x1 + F(x2)``, ``y2 = x2 + G(y1)``."""

    def __init__(self, hidden_size: int, non_linearity: str = "relu", reduction_factor: float = 2):
        super().__init__()
        self.split_len1 = hidden_size // 2
        self.split_len2 = hidden_size - self.split_len1
        self.F = _mlp(self.split_len2, int(self.split_len1 // reduction_factor), self.split_len1, non_linearity)
        self.G = _mlp(self.split_len1, int(self.split_len2 // reduction_factor), self.split_len2, non_linearity)

    def forward(self, x: torch.Tensor, rev: bool = False) -> torch.Tensor:
        x1, x2 = x[..., : self.split_len1], x[..., self.split_len1 :]
        if not rev:
            y1 = x1 + self.F(x2)
            y2 = x2 + self.G(y1)
        else:
            y2 = x2 - self.G(x1)
            y1 = x1 - self.F(y2)
        return torch.cat((y1, y2), dim=-1)


class GLOWCouplingBlock(nn.Module):
    """Affine coupling with soft-clamped scales (see the module docstring)."""

    def __init__(self, hidden_size: int, non_linearity: str = "relu", reduction_factor: float = 2, clamp: float = 5.0):
        super().__init__()
        self.split_len1 = hidden_size // 2
        self.split_len2 = hidden_size - self.split_len1
        self.clamp = clamp
        self.s1 = _mlp(self.split_len1, int(self.split_len1 // reduction_factor), 2 * self.split_len2, non_linearity)
        self.s2 = _mlp(self.split_len2, int(self.split_len2 // reduction_factor), 2 * self.split_len1, non_linearity)

    def _log_e(self, s: torch.Tensor) -> torch.Tensor:
        return self.clamp * 0.636 * torch.atan(s / self.clamp)

    def forward(self, x: torch.Tensor, rev: bool = False) -> torch.Tensor:
        x1, x2 = x[..., : self.split_len1], x[..., self.split_len1 :]
        if not rev:
            r2 = self.s2(x2)
            s2, t2 = r2[..., : self.split_len1], r2[..., self.split_len1 :]
            y1 = torch.exp(self._log_e(s2)) * x1 + t2
            r1 = self.s1(y1)
            s1, t1 = r1[..., : self.split_len2], r1[..., self.split_len2 :]
            y2 = torch.exp(self._log_e(s1)) * x2 + t1
        else:
            r1 = self.s1(x1)
            s1, t1 = r1[..., : self.split_len2], r1[..., self.split_len2 :]
            y2 = (x2 - t1) * torch.exp(-self._log_e(s1))
            r2 = self.s2(y2)
            s2, t2 = r2[..., : self.split_len1], r2[..., self.split_len1 :]
            y1 = (x1 - t2) * torch.exp(-self._log_e(s2))
        return torch.cat((y1, y2), dim=-1)


_BLOCKS = {"nice": NICECouplingBlock, "glow": GLOWCouplingBlock}


def build_invertible_adapter(config, hidden_size: int) -> nn.Module:
    """Build the coupling block a bottleneck config asks for (``inv_adapter`` = ``"nice"`` or ``"glow"``)."""
    kind = str(config.inv_adapter).lower()
    if kind not in _BLOCKS:
        raise AdapterConfigError(f"inv_adapter={config.inv_adapter!r} is not supported; allowed: 'nice', 'glow'.")
    factor = config.inv_adapter_reduction_factor or 2
    if hidden_size // 2 // factor < 1 or not math.isfinite(factor):
        raise AdapterConfigError(
            f"inv_adapter_reduction_factor={factor} leaves no hidden units for hidden size {hidden_size}."
        )
    return _BLOCKS[kind](hidden_size, non_linearity=config.non_linearity, reduction_factor=factor)

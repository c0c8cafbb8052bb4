"""Representation fine-tuning configs: ReFT and its LoReFT, NoReFT and DiReFT presets.

ReFT edits hidden representations instead of weights: on the first ``prefix_positions`` and last
``suffix_positions`` tokens, the output of chosen layers is moved within an ``r``-dimensional subspace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from .base import AdapterConfig

__all__ = ["ReftConfig", "LoReftConfig", "NoReftConfig", "DiReftConfig"]


@dataclass(eq=False)
class ReftConfig(AdapterConfig):
    """Representation fine-tuning (Wu et al., 2024, "ReFT: Representation Finetuning for Language Models").

    Attributes:
        layers: ``"all"`` or the indices of the layers whose output is edited.
        prefix_positions: Number of leading (non-padding) tokens edited.
        suffix_positions: Number of trailing (non-padding) tokens edited.
        r: Rank of the edited subspace.
        orthogonality: Keep the projection matrix orthogonal.
        tied_weights: Use the same parameters for prefix and suffix positions.
        dropout: Dropout on the edit.
        non_linearity: Activation applied to the learned source (``None``: identity).
        dtype: Name of the torch dtype of the added weights (``None``: the model's dtype).
        output_reft: Edit the output of each layer.
        init_weights_seed: Seed for initializing the weights (``None``: not seeded).
        subtract_projection: Subtract the projection of the hidden state (``h + (f(h) - Rh)Rᵀ``); DiReFT
            leaves it out (``h + f(h)Rᵀ``).
    """

    architecture: ClassVar[str | None] = "reft"

    layers: Literal["all"] | list[int]
    prefix_positions: int
    suffix_positions: int
    r: int
    orthogonality: bool
    tied_weights: bool = False
    dropout: float = 0.05
    non_linearity: str | None = None
    dtype: str | None = None
    output_reft: bool = True
    init_weights_seed: int | None = None
    subtract_projection: bool = True

    _ranges: ClassVar[dict[str, tuple[float | None, float | None]]] = {
        "prefix_positions": (0, None),
        "suffix_positions": (0, None),
        "r": (1, None),
        "dropout": (0.0, 1.0),
    }

    _expected: ClassVar[dict[str, str]] = {"layers": "'all' or a list of layer indices (ints)"}

    def _check(self, invalid: frozenset[str]) -> list[str]:
        problems = []
        if "layers" not in invalid and isinstance(self.layers, list) and any(i < 0 for i in self.layers):
            problems.append(f"layers: expected 'all' or non-negative layer indices, got {self.layers!r}")
        positions_ok = invalid.isdisjoint({"prefix_positions", "suffix_positions"})
        if positions_ok and self.prefix_positions == 0 and self.suffix_positions == 0:
            problems.append("prefix_positions, suffix_positions: at least one must be positive")
        return problems


@dataclass(eq=False)
class LoReftConfig(ReftConfig):
    """LoReFT: low-rank ReFT with an orthogonal projection on every layer (Wu et al., 2024)."""

    layers: Literal["all"] | list[int] = "all"
    prefix_positions: int = 3
    suffix_positions: int = 0
    r: int = 1
    orthogonality: bool = True


@dataclass(eq=False)
class NoReftConfig(ReftConfig):
    """NoReFT: LoReFT without the orthogonality constraint (Wu et al., 2024)."""

    layers: Literal["all"] | list[int] = "all"
    prefix_positions: int = 3
    suffix_positions: int = 0
    r: int = 1
    orthogonality: bool = False


@dataclass(eq=False)
class DiReftConfig(NoReftConfig):
    """DiReFT: NoReFT without subtracting the projection of the hidden state (Wu et al., 2024)."""

    subtract_projection: bool = False

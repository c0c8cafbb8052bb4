"""LoRA-family configs: LoRA, (IA)^3, VeRA, DoRA, DVoRA and multi-task MTL-LoRA.

All of them wrap linear layers of the model (attention q/k/v, feed-forward in/out) and add a low-rank (or
rescaling) update ``ΔW`` whose output is combined with the layer's output by addition (``composition_mode="add"``)
or multiplication (``"scale"``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

from .base import AdapterConfig

__all__ = [
    "LoRAConfig",
    "IA3Config",
    "VeraConfig",
    "DoRAConfig",
    "DvoRAConfig",
    "MultiTaskConfig",
    "MTLLoRAConfig",
]


@dataclass(eq=False)
class LoRAConfig(AdapterConfig):
    """Low-Rank Adaptation (Hu et al., 2021, "LoRA: Low-Rank Adaptation of Large Language Models").

    Attributes:
        selfattn_lora: Adapt the attention projections named in ``attn_matrices`` (self- and cross-attention).
        intermediate_lora: Adapt the first feed-forward projection (up projection).
        output_lora: Adapt the second feed-forward projection (down projection).
        leave_out: Layer indices in which nothing is adapted.
        r: Rank of the update.
        alpha: Scaling numerator; the update is scaled by ``alpha / r``.
        dropout: Dropout on the input of the update.
        attn_matrices: Which attention projections to adapt: any of ``"q"``, ``"k"``, ``"v"``.
        composition_mode: ``"add"`` adds the update to the output, ``"scale"`` multiplies the output by it
            (needs ``r == 1``).
        init_weights: Initialization: ``"lora"``, ``"bert"``, ``"ia3"`` or ``"vera"``.
        init_weights_seed: Seed for initializing the weights (``None``: not seeded).
        use_gating: Replace the fixed scaling by a learned gate.
        use_dora: Decompose into magnitude and direction (DoRA).
        dora_unscaled_bias: With DoRA on a layer with a bias, add the bias after the magnitude scaling
            (``m/‖W+ΔW‖ ⊙ (W x + s ΔW x) + b``, PEFT's DoRA); ``False`` (the reference's): the bias is scaled too
            (``m/‖W+ΔW‖ ⊙ (W x + b + s ΔW x)``). No effect without ``use_dora`` or on layers without a bias.
        vera_d: Initial value of VeRA's trainable scaling vector ``d``; a number enables VeRA.
        vera_b: Initial value of VeRA's trainable scaling vector ``b``; a number enables VeRA.
        dtype: Name of the torch dtype of the added weights (``None``: the layer's dtype).
    """

    architecture: ClassVar[str | None] = "lora"

    selfattn_lora: bool = True
    intermediate_lora: bool = False
    output_lora: bool = False
    leave_out: list[int] = field(default_factory=list)
    r: int = 8
    alpha: float = 8
    dropout: float = 0.0
    attn_matrices: list[Literal["q", "k", "v"]] = field(default_factory=lambda: ["q", "v"])
    composition_mode: Literal["add", "scale"] = "add"
    init_weights: Literal["lora", "bert", "ia3", "vera"] = "lora"
    init_weights_seed: int | None = None
    use_gating: bool = False
    use_dora: bool = False
    dora_unscaled_bias: bool = False
    vera_d: float | None = None
    vera_b: float | None = None
    dtype: str | None = None

    _ranges: ClassVar[dict[str, tuple[float | None, float | None]]] = {"r": (1, None), "dropout": (0.0, 1.0)}

    def _check(self, invalid: frozenset[str]) -> list[str]:
        if invalid.isdisjoint({"composition_mode", "r"}) and self.composition_mode == "scale" and self.r != 1:
            return [f"composition_mode: 'scale' needs r == 1, got r={self.r!r}"]
        return []


@dataclass(eq=False)
class IA3Config(LoRAConfig):
    """(IA)^3: learned rescaling of keys, values and feed-forward activations (Liu et al., 2022, "Few-Shot PEFT")."""

    selfattn_lora: bool = True
    intermediate_lora: bool = True
    output_lora: bool = False
    r: int = 1
    alpha: float = 1
    attn_matrices: list[Literal["q", "k", "v"]] = field(default_factory=lambda: ["k", "v"])
    composition_mode: Literal["add", "scale"] = "scale"
    init_weights: Literal["lora", "bert", "ia3", "vera"] = "ia3"


@dataclass(eq=False)
class VeraConfig(LoRAConfig):
    """VeRA: shared frozen random matrices with trainable scaling vectors (Kopiczko et al., 2024)."""

    r: int = 8
    vera_d: float | None = 0.1
    vera_b: float | None = 0.0
    init_weights: Literal["lora", "bert", "ia3", "vera"] = "vera"
    composition_mode: Literal["add", "scale"] = "add"


@dataclass(eq=False)
class DoRAConfig(LoRAConfig):
    """DoRA: weight-decomposed low-rank adaptation (Liu et al., 2024, "DoRA")."""

    use_dora: bool = True


@dataclass(eq=False)
class DvoRAConfig(VeraConfig):
    """DVoRA: VeRA combined with DoRA's magnitude/direction decomposition (Liu et al., 2024, "DoRA")."""

    use_dora: bool = True
    alpha: float = 8


@dataclass(eq=False)
class MultiTaskConfig(AdapterConfig):
    """Marker base of multi-task methods whose adapters can share parameters (MTL-LoRA, Yang et al., 2024).

    It has no fields and cannot be instantiated; ``isinstance(config, MultiTaskConfig)`` tells whether a config
    supports ``share_parameters``.
    """

    _abstract: ClassVar[bool] = True


@dataclass(eq=False)
class MTLLoRAConfig(LoRAConfig, MultiTaskConfig):
    """MTL-LoRA: LoRA with task-specific transforms and shared up projections (Yang et al., 2024, "MTL-LoRA").

    Attributes:
        n_up_projection: Number of shared up projections, mixed per task.
        task_specific_matrix_type: Task-specific transform: ``"singular_values"`` (diagonal) or ``"linear"``.
        weights_sharpness: Temperature of the softmax mixing the up projections.
    """

    architecture: ClassVar[str | None] = "mtl_lora"

    n_up_projection: int = 1
    task_specific_matrix_type: Literal["singular_values", "linear"] = "singular_values"
    weights_sharpness: float = 0.05

    _ranges: ClassVar[dict[str, tuple[float | None, float | None]]] = {"n_up_projection": (1, None)}

"""The trainable update of one linear layer for one LoRA-family adapter: LoRA, (IA)³ and MTL-LoRA modules.

A module adapts ``groups`` equal parts of a linear layer's output (one part for an ordinary projection; for a fused
``q|k|v`` projection such as GPT-2's ``c_attn``, one per enabled matrix). Per-group tensors are stacked along the
first dimension, which is the reference's ``LoRAMergedLinear`` layout: ``lora_A`` is ``(groups·r, in)`` and
``lora_B`` ``(groups·out, r)``, group ``j`` using rows ``j·r:(j+1)·r`` of A and ``j·out:(j+1)·out`` of B.

Every module offers the same two operations, used by :class:`adapters.methods.lora.LoRALayer`:

* ``update(inputs, x)`` returns, per group, the adapter's contribution ("hidden states") with scaling (or gate)
  applied. ``inputs[j]`` is ``None`` for the layer input ``x`` or, inside a ``Stack``, the previous adapter's
  hidden states of that group (the reference feeds each adapter of a stack the previous one's output).
* ``delta_weight()`` returns the unscaled weight update ``ΔW`` (``(groups·out, in)``; (IA)³: the scale column
  ``(groups·out, 1)``), used for merging and DoRA's norms.
"""

from __future__ import annotations

import logging
import math

import torch
from torch import nn

from ..configuration import LoRAConfig, MTLLoRAConfig
from ..errors import AdapterConfigError
from .gating import record_gate

__all__ = ["LowRankModule", "LoRA", "IA3", "MTLLoRA", "TaskSpecific"]

logger = logging.getLogger(__name__)

Inputs = list[torch.Tensor | None]


class LowRankModule(nn.Module):
    """What all LoRA-family modules share: group layout, scaling, dropout, gating and DoRA's magnitude."""

    composition_mode = "add"

    def __init__(self, in_features: int, out_features: int, groups: int, config: LoRAConfig):
        super().__init__()
        self.in_features, self.out_features, self.groups = in_features, out_features, groups
        self.r = config.r
        self.alpha = config.alpha
        self.scaling = config.alpha / config.r
        self.use_gating = config.use_gating
        self.lora_dropout = nn.Dropout(p=config.dropout) if config.dropout > 0.0 else nn.Identity()
        if config.use_gating:
            self.gate = nn.Linear(in_features, groups)
            nn.init.normal_(self.gate.weight, std=0.02)
        self.dora_unscaled_bias = bool(config.use_dora and config.dora_unscaled_bias)
        if config.use_dora:
            self.m = nn.Linear(1, groups * out_features, bias=False)

    @property
    def use_dora(self) -> bool:
        return "m" in self._modules

    def gate_values(self, x: torch.Tensor) -> torch.Tensor | None:
        """Per-example, per-group gate ``mean_seq(sigmoid(gate(x)))`` of shape ``(batch, groups)``, or ``None``."""
        if not self.use_gating:
            return None
        gate = torch.sigmoid(self.gate(x.to(self.gate.weight.dtype))).mean(dim=1)
        record_gate(self, gate)
        return gate

    def scale(self, hidden: torch.Tensor, gate: torch.Tensor | None, group: int) -> torch.Tensor:
        """Multiply by the gate of ``group`` (with gating) or by the fixed scaling (skipped when it is 1)."""
        if gate is None:
            return hidden if self.scaling == 1.0 else hidden * self.scaling
        return hidden * gate[:, group].view(-1, *([1] * (hidden.dim() - 1)))

    def _fusable(self, kind: type[LowRankModule], output: torch.Tensor) -> bool:
        """Whether ``kind.fused_output`` applies: this module computes ``kind``'s own update (not a subclass's,
        such as MTL-LoRA's), in one group, without gating or DoRA, in the layer output's dtype."""
        own_update = type(self).update is kind.update
        simple = self.groups == 1 and not self.use_gating and not self.use_dora
        return own_update and simple and output.dtype == self.lora_B.dtype

    def _grouped(self, tensor: torch.Tensor) -> list[torch.Tensor]:
        return list(tensor.chunk(self.groups, dim=0)) if self.groups > 1 else [tensor]

    def update(self, inputs: Inputs, x: torch.Tensor) -> list[torch.Tensor]:
        raise NotImplementedError

    def delta_weight(self) -> torch.Tensor:
        raise NotImplementedError


def _init_pair(lora_A: torch.Tensor, lora_B: torch.Tensor, scheme: str) -> None:
    """The reference's initialisations of an (A, B) pair."""
    if scheme == "lora":  # A like nn.Linear's default, B zero: the update starts at zero
        nn.init.kaiming_uniform_(lora_A, a=math.sqrt(5))
        nn.init.zeros_(lora_B)
    elif scheme == "bert":
        nn.init.normal_(lora_A, std=0.02)
        nn.init.normal_(lora_B, std=0.02)
    elif scheme == "ia3":
        nn.init.ones_(lora_A)
        nn.init.ones_(lora_B)
    elif scheme == "vera":
        nn.init.kaiming_uniform_(lora_A)
        nn.init.kaiming_uniform_(lora_B)
    else:
        raise AdapterConfigError(f"init_weights={scheme!r} is not supported; allowed: 'lora', 'bert', 'ia3', 'vera'.")


class LoRA(LowRankModule):
    """LoRA (Hu et al., 2021, https://arxiv.org/abs/2106.09685): ``h = x Aᵀ Bᵀ · alpha / r`` per group."""

    def __init__(self, in_features: int, out_features: int, groups: int, config: LoRAConfig):
        super().__init__(in_features, out_features, groups, config)
        self.lora_A = nn.Parameter(torch.zeros(groups * config.r, in_features))
        self.lora_B = nn.Parameter(torch.zeros(groups * out_features, config.r))
        with torch.no_grad():
            _init_pair(self.lora_A, self.lora_B, config.init_weights)

    def _project(self, inputs: Inputs, x: torch.Tensor) -> list[torch.Tensor]:
        """``dropout(input_j) A_jᵀ`` per group (``(…, r)``); the layer input is projected once for all groups."""
        dtype = self.lora_A.dtype
        shared = None
        if any(inp is None for inp in inputs):
            shared = self._grouped_last(self.lora_dropout(x.to(dtype)) @ self.lora_A.t())
        A = self._grouped(self.lora_A)
        return [
            shared[j] if inp is None else self.lora_dropout(inp.to(dtype)) @ A[j].t() for j, inp in enumerate(inputs)
        ]

    def _grouped_last(self, tensor: torch.Tensor) -> list[torch.Tensor]:
        return list(tensor.chunk(self.groups, dim=-1)) if self.groups > 1 else [tensor]

    def update(self, inputs: Inputs, x: torch.Tensor) -> list[torch.Tensor]:
        gate = self.gate_values(x)
        B = self._grouped(self.lora_B)
        # scaled in rank space (r values per token instead of out): the same product, a fraction of the work
        return [self.scale(a, gate, j) @ B[j].t() for j, a in enumerate(self._project(inputs, x))]

    def delta_weight(self) -> torch.Tensor:
        return torch.cat([b @ a for a, b in zip(self._grouped(self.lora_A), self._grouped(self.lora_B))], dim=0)

    def fused_output(self, x: torch.Tensor, output: torch.Tensor) -> torch.Tensor | None:
        """``output + update([None], x)`` in one ``addmm`` (the update's product accumulates into a copy of the
        layer output: one tensor of the output's size is written instead of three), or ``None`` when this module
        needs the general path (several groups, gating, DoRA, or another dtype than the layer output's)."""
        if not self._fusable(LoRA, output):
            return None
        low = self.lora_dropout(x.to(self.lora_A.dtype)) @ self.lora_A.t()
        if self.scaling != 1.0:
            low = low * self.scaling
        rows = torch.addmm(output.reshape(-1, output.shape[-1]), low.reshape(-1, self.r), self.lora_B.t())
        return rows.view(output.shape)


class IA3(LowRankModule):
    """(IA)³ (Liu et al., 2022, https://arxiv.org/abs/2205.05638): the output is multiplied by ``alpha · b``.

    ``lora_B`` is the scale column ``(groups·out, 1)``; the site multiplies the layer output by ``update()``.
    """

    composition_mode = "scale"

    def __init__(self, in_features: int, out_features: int, groups: int, config: LoRAConfig):
        super().__init__(in_features, out_features, groups, config)
        self.scaling = config.alpha
        self.lora_B = nn.Parameter(torch.zeros(groups * out_features, 1))
        scheme = config.init_weights
        with torch.no_grad():
            if scheme == "ia3":
                nn.init.ones_(self.lora_B)
            elif scheme == "lora":
                logger.warning("(IA)^3 adapter initialised with init_weights='lora' (zeros): it starts by zeroing.")
                nn.init.zeros_(self.lora_B)
            elif scheme == "bert":
                nn.init.normal_(self.lora_B, std=0.02)
            else:
                raise AdapterConfigError(
                    f"init_weights={scheme!r} is not supported for (IA)^3 (composition_mode='scale'); allowed: "
                    "'ia3', 'lora', 'bert'."
                )

    def update(self, inputs: Inputs, x: torch.Tensor) -> list[torch.Tensor]:
        gate = self.gate_values(x)
        shape = (x.shape[0],) + (1,) * (x.dim() - 2) + (self.out_features,)
        out = []
        for j, (inp, column) in enumerate(zip(inputs, self._grouped(self.lora_B))):
            vector = column.view(shape[1:]).expand(shape)
            out.append(self.scale(vector if inp is None else inp.to(vector.dtype) * vector, gate, j))
        return out

    def delta_weight(self) -> torch.Tensor:
        return self.lora_B

    def fused_output(self, x: torch.Tensor, output: torch.Tensor) -> torch.Tensor | None:
        """``output · update([None], x)`` (the scale vector, broadcast). Without autograd (inference) the layer's
        fresh output is scaled in place, which saves writing a second tensor of its size (for BERT-base's
        3072-wide feed-forward output, 0.18 instead of 0.70 ms per layer). ``None``: take the general path."""
        if not self._fusable(IA3, output):
            return None
        vector = self.lora_B.view(-1)
        if self.scaling != 1.0:
            vector = vector * self.scaling
        if not torch.is_grad_enabled() and not output.requires_grad:
            return output.mul_(vector)
        return output * vector


class TaskSpecific(nn.Module):
    """MTL-LoRA's task-specific transform between A and B: a diagonal (``values`` of shape ``(groups·r,)``) or a
    full matrix per group (``(groups·r, r)``, initialised to the identity)."""

    def __init__(self, rank: int, groups: int, kind: str):
        super().__init__()
        self.kind, self.rank = kind, rank
        if kind == "singular_values":
            self.values = nn.Parameter(torch.ones(groups * rank))
        elif kind == "linear":
            self.values = nn.Parameter(torch.eye(rank).repeat(groups, 1))
        else:
            raise AdapterConfigError(
                f"task_specific_matrix_type={kind!r} is not supported; allowed: 'singular_values', 'linear'."
            )

    def matrices(self) -> list[torch.Tensor]:
        """One ``(r, r)`` matrix per group."""
        parts = self.values.split(self.rank, dim=0)
        return [torch.diag(p) if self.kind == "singular_values" else p for p in parts]


class MTLLoRA(LoRA):
    """MTL-LoRA (Yang et al., 2024, https://arxiv.org/abs/2410.09437).

    ``h = Σ_k w̃_k · x Aᵀ Λ B_kᵀ · alpha / r`` with ``n_up_projection`` up projections ``B_k`` (``lora_B`` is
    ``(n_up, groups·out, r)``), the task-specific transform ``Λ`` and mixing weights
    ``w̃ = softmax(weights / weights_sharpness)``. ``lora_A`` and ``lora_B`` can be shared between the adapters of
    several tasks (``share_parameters``).
    """

    def __init__(self, in_features: int, out_features: int, groups: int, config: MTLLoRAConfig):
        super().__init__(in_features, out_features, groups, config)
        self.lora_B = nn.Parameter(torch.zeros(config.n_up_projection, groups * out_features, config.r))
        if config.init_weights == "bert":
            nn.init.normal_(self.lora_B, std=0.02)
        self.task_specific = TaskSpecific(config.r, groups, config.task_specific_matrix_type)
        self.weights = nn.Parameter(torch.ones(config.n_up_projection))
        self.weights_sharpness = config.weights_sharpness

    def mixing(self) -> torch.Tensor:
        return torch.softmax(self.weights / self.weights_sharpness, dim=0)

    def update(self, inputs: Inputs, x: torch.Tensor) -> list[torch.Tensor]:
        gate = self.gate_values(x)
        mixing = self.mixing().to(self.lora_B.dtype)
        B = self.lora_B.chunk(self.groups, dim=1) if self.groups > 1 else [self.lora_B]  # each (n_up, out, r)
        out = []
        for j, (a, transform) in enumerate(zip(self._project(inputs, x), self.task_specific.matrices())):
            up = torch.einsum("k,kor->or", mixing, B[j])
            out.append(self.scale(a @ transform.to(a.dtype) @ up.t(), gate, j))
        return out

    def delta_weight(self) -> torch.Tensor:
        mixing = self.mixing().to(self.lora_B.dtype)
        B = self.lora_B.chunk(self.groups, dim=1) if self.groups > 1 else [self.lora_B]
        parts = []
        for a, b, transform in zip(self._grouped(self.lora_A), B, self.task_specific.matrices()):
            parts.append(torch.einsum("k,kor->or", mixing, b) @ transform.to(a.dtype).t() @ a)  # h = x Aᵀ Λ Bᵀ
        return torch.cat(parts, dim=0)

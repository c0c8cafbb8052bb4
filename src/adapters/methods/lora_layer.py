"""The per-layer runtime of LoRA-family adapters: :class:`LoRALayer`, its hook, composition and merging.

A ``LoRALayer`` is the ``loras`` child of one adapted ``nn.Linear`` / ``Conv1D`` (a ``ModuleDict`` of the adapters'
modules by name). Its forward hook runs the active setup on a :class:`LoRAState` and combines the result with the
layer's own output; see :mod:`adapters.methods.lora` for the overview and docs/methods/lora.md for the primitives.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn
from transformers.pytorch_utils import Conv1D

from ..architectures.attach import HOOK_COMPUTE, AdapterRuntime
from ..architectures.spec import LoRASite
from ..composition import AdapterCompositionBlock, Average, BatchSplit, MultiTask, Parallel, Stack
from ..errors import CompositionError, UnsupportedModelError
from ._lowrank import IA3, LowRankModule
from .composer import compose, routed_rows, segments
from .dora import apply_magnitude, merged_rows, row_norms
from .quantized import dequantized_weight

__all__ = ["LoRALayer", "LoRAState", "linear_shape", "weight_rows"]


class LoRAState(NamedTuple):
    """What flows through a composition at one adapted layer.

    Attributes:
        layer_input: the linear layer's input ``x``.
        hidden: per output group, the adapters' hidden states so far (``None``: no adapter touched that group).
        layer_output: the linear layer's own output ``y``.
        last: the adapter that ran last (its mode combines ``hidden`` with ``y``), or ``None``.
    """

    layer_input: torch.Tensor
    hidden: tuple[torch.Tensor | None, ...]
    layer_output: torch.Tensor
    last: str | None


def linear_shape(linear: nn.Module) -> tuple[int, int, bool]:
    """``(in_features, out_features, transposed)``; transformers' ``Conv1D`` stores its weight as ``(in, out)``.

    Sizes of ``nn.Linear`` subclasses come from the module, not its weight: a quantized layer (bitsandbytes
    ``Linear4bit``/``Linear8bitLt``) stores a packed weight of another shape."""
    if isinstance(linear, nn.Linear):
        return linear.in_features, linear.out_features, False
    if isinstance(linear, Conv1D):
        return int(linear.weight.shape[0]), int(linear.weight.shape[1]), True
    raise UnsupportedModelError(
        f"LoRA-family adapters wrap nn.Linear or Conv1D layers, got {type(linear).__name__}; check the family's "
        "LoRA sites in adapters.architectures.specs."
    )


def weight_rows(linear: nn.Module) -> torch.Tensor:
    """The base weight as ``(out, in)``: a view of the weight (transposed for ``Conv1D``), or the dequantized values
    of a quantized layer (a new tensor)."""
    weight = dequantized_weight(linear)
    return weight.t() if linear_shape(linear)[2] else weight


class LoRALayer(nn.ModuleDict):
    """The LoRA-family adapters of one linear layer (a ``ModuleDict`` by adapter name) and the hook that runs them."""

    def __init__(self, site: LoRASite, layer_index: int, linear: nn.Module, runtime: AdapterRuntime):
        super().__init__()
        in_features, out_features, transposed = linear_shape(linear)
        groups = max(1, len(site.matrices))
        if out_features % groups:
            raise UnsupportedModelError(
                f"A fused projection with {groups} parts needs an output size divisible by {groups}, got "
                f"{out_features}."
            )
        self.location_key = f"{site.location}_lora"
        self.layer_idx = layer_index
        self.in_features, self.n_groups, self.group_size = in_features, groups, out_features // groups
        self.__dict__.update(
            _linear=linear, _runtime=runtime, _transposed=transposed, _handle=None, _merged=None, _backup=None
        )
        self.shares: dict[str, tuple[str, ...]] = {}  # MTL-LoRA parameter-sharing groups: name -> adapters

    @property
    def linear(self) -> nn.Module:
        return self.__dict__["_linear"]

    @property
    def merged(self) -> str | None:
        """The adapter currently merged into the linear layer's weights, if any."""
        return self.__dict__["_merged"]

    # hook --------------------------------------------------------------------------------------------------------
    def install(self) -> None:
        runtime = self.__dict__["_runtime"]
        self.__dict__["_handle"] = runtime.register_output_hook(
            self.linear, self._on_output, HOOK_COMPUTE, with_kwargs=True
        )

    def uninstall(self) -> None:
        handle = self.__dict__["_handle"]
        if handle is not None:
            self.__dict__["_runtime"].remove_hook(handle)
            self.__dict__["_handle"] = None

    def _on_output(self, module: nn.Module, args: tuple, kwargs: dict, output: torch.Tensor):
        if self.merged is not None:
            return None
        call = self.__dict__["_runtime"].current()
        setup = None if call is None else call.setup_for(self.layer_idx)
        if setup is None or setup.flatten().isdisjoint(self.keys()):
            return None
        x = args[0] if args else next(iter(kwargs.values()))
        fused = self._fused_single(setup, x, output)
        if fused is not None:
            return fused
        state = LoRAState(x, (None,) * self.n_groups, output, None)
        if isinstance(setup, MultiTask):
            return self._finish_rows(setup, state, call)
        if isinstance(setup, BatchSplit):
            return self._finish_slices(setup, state, call)
        return self.finish(self.compose(setup, state, call))

    def _fused_single(self, setup: AdapterCompositionBlock, x: torch.Tensor, output: torch.Tensor):
        """The common case, one plain LoRA or (IA)³ adapter active here: its module combines its update with the
        layer output directly (LoRA: ``y + x·Aᵀ·Bᵀ·s`` in one ``addmm``; (IA)³: ``y · b``, in place without
        autograd); the same values as :meth:`compose` + :meth:`finish`. ``None``: take the general path."""
        if type(setup) is not Stack or len(setup) != 1 or not isinstance(setup[0], str) or self.n_groups != 1:
            return None
        module = self._modules.get(setup[0])
        fused = getattr(module, "fused_output", None)
        return None if fused is None else fused(x, output)

    def _finish_part(self, child, state: LoRAState, rows, call) -> torch.Tensor | None:
        """Rows ``rows`` of the batch composed and finished with ``child``'s own adapters (``None``: ``child`` has
        no adapter at this layer, the rows keep the layer output)."""
        names = set() if child is None else {child} if isinstance(child, str) else child.flatten()
        if names.isdisjoint(self.keys()):
            return None
        return self.finish(self.compose(child, self.vslice(state, rows), call)).to(state.layer_output.dtype)

    def _finish_rows(self, setup: MultiTask, state: LoRAState, call) -> torch.Tensor:
        """``MultiTask``: each group of rows is composed and finished with its own adapter's mode (rows routed to
        LoRA, (IA)³ and DoRA adapters, or to none, can share one batch)."""
        output = state.layer_output
        for child, rows in routed_rows(setup, call, output.shape[0], output.device):
            part = self._finish_part(child, state, rows, call)
            if part is not None:
                output = output.index_copy(0, rows, part)
        return output

    def _finish_slices(self, setup: BatchSplit, state: LoRAState, call) -> torch.Tensor:
        """``BatchSplit`` at the top of a setup: each slice of the batch is composed and finished with its own
        child's adapters (slices may use LoRA, (IA)³ and DoRA adapters with their own magnitudes)."""
        output = state.layer_output
        parts = []
        for child, rows in zip(setup, segments(setup.batch_sizes, output.shape[0], "batch size", setup)):
            part = self._finish_part(child, state, rows, call)
            parts.append(output[rows] if part is None else part)
        return torch.cat(parts, dim=0)

    # composition -------------------------------------------------------------------------------------------------
    # composition: the primitives of adapters.methods.composer ------------------------------------------------------
    method_name = "LoRA-family"
    supported_blocks = frozenset({Stack, BatchSplit, Parallel, Average, MultiTask})

    def compose(self, setup: AdapterCompositionBlock | str, state: LoRAState, call=None) -> LoRAState:
        """Run ``setup`` on ``state`` with the shared composition interpreter (``call``: the call's record)."""
        return compose(self, setup, state, call)

    def has_adapter(self, name: str) -> bool:
        return name in self

    def pre_block(self, name: str, state: LoRAState) -> LoRAState:
        return state

    def size(self, state: LoRAState, dim: int) -> int:
        return state.layer_input.shape[dim]

    def device(self, state: LoRAState) -> torch.device:
        return state.layer_input.device

    def weighted_sum(self, states: list[LoRAState], weights: list[float]) -> LoRAState:
        """Primitive: ``Σ_i w_i · h_i`` over the children's hidden states (a group no child touched stays empty)."""
        hidden = []
        neutral = 1.0 if any(s.last and self[s.last].composition_mode == "scale" for s in states) else 0.0
        for j in range(self.n_groups):
            values = [s.hidden[j] for s in states]
            known = next((v for v in values if v is not None), None)
            if known is None:
                hidden.append(None)
                continue
            hidden.append(
                sum(w * (known.new_full(known.shape, neutral) if v is None else v) for w, v in zip(weights, values))
            )
        lasts = [s.last for s in states if s.last is not None]
        return states[0]._replace(hidden=tuple(hidden), last=lasts[-1] if lasts else None)

    def compose_single(self, name: str, state: LoRAState) -> LoRAState:
        """Primitive: run adapter ``name`` on ``state`` (its groups' hidden states are replaced by its output)."""
        module = self[name]
        inputs = [state.hidden[j] for j in module.group_index]
        if not isinstance(module, IA3) and any(i is not None and i.shape[-1] != self.in_features for i in inputs):
            raise CompositionError(
                f"Cannot stack LoRA adapter {name!r} on another one at {self.location_key} of layer {self.layer_idx}:"
                f" in a Stack each adapter receives the previous adapter's output (as in the reference), which needs "
                f"equal input and output sizes, here {self.in_features} -> {self.group_size}."
            )
        hidden = list(state.hidden)
        for j, value in zip(module.group_index, module.update(inputs, state.layer_input)):
            hidden[j] = value
        return state._replace(hidden=tuple(hidden), last=name)

    def vslice(self, state: LoRAState, index: slice | torch.Tensor, dim: int = 0) -> LoRAState:
        """Primitive: the examples ``index`` (a slice or index tensor over the batch) of ``state``."""
        return LoRAState(
            state.layer_input[index],
            tuple(None if h is None else h[index] for h in state.hidden),
            state.layer_output[index],
            state.last,
        )

    def pad_and_concat(self, states: list[LoRAState], dim: int = 0, whole: LoRAState | None = None) -> LoRAState:
        """Primitive: concatenate states along the batch; a group no adapter touched in some part is filled with
        the neutral element (0 for additive updates, 1 for (IA)³ scalings). ``whole``: the state the pieces were cut
        from; its layer input and output (which no block changes) are taken instead of concatenating them again."""
        lasts = [s.last for s in states if s.last is not None]
        self._check_one_finish(lasts)
        neutral = 1.0 if any(self[n].composition_mode == "scale" for n in lasts) else 0.0
        hidden = []
        for j in range(self.n_groups):
            values = [s.hidden[j] for s in states]
            known = next((v for v in values if v is not None), None)
            if known is None:
                hidden.append(None)
                continue
            filled = [
                v if v is not None else known.new_full((s.layer_input.shape[0], *known.shape[1:]), neutral)
                for v, s in zip(values, states)
            ]
            hidden.append(torch.cat(filled, dim=0))
        last = lasts[-1] if lasts else None
        if whole is not None:
            return LoRAState(whole.layer_input, tuple(hidden), whole.layer_output, last)
        return LoRAState(
            torch.cat([s.layer_input for s in states], dim=0),
            tuple(hidden),
            torch.cat([s.layer_output for s in states], dim=0),
            last,
        )

    def _check_one_finish(self, lasts: list[str]) -> None:
        """Pieces joined inside a setup are finished together by the last adapter: refuse pieces whose adapters
        finish differently ((IA)³ scaling, or DoRA's per-adapter magnitude) instead of computing wrong values."""
        distinct = list(dict.fromkeys(lasts))
        own = [n for n in distinct if self[n].composition_mode == "scale" or self[n].use_dora]
        if len(distinct) > 1 and own:
            raise CompositionError(
                f"Adapters {distinct} are joined inside one composition at the {self.location_key} layer "
                f"{self.layer_idx}, but {own} finish their layer's output in their own way ((IA)^3 scaling or DoRA "
                "magnitudes). Put the BatchSplit at the top of the setup or use MultiTask (each slice is then "
                "finished with its own adapter)."
            )

    def finish(self, state: LoRAState) -> torch.Tensor:
        """Combine the hidden states with the layer output using the last adapter's mode."""
        output = state.layer_output
        if state.last is None:
            return output
        last = self[state.last]
        chunks = list(output.split(self.group_size, dim=-1)) if self.n_groups > 1 else [output]
        norms = self._dora_norms(last) if last.use_dora else {}
        for j, hidden in enumerate(state.hidden):
            if hidden is None:
                continue
            if last.composition_mode == "scale":
                chunks[j] = chunks[j] * hidden.to(output.dtype)
            elif j in norms:
                chunks[j] = apply_magnitude(chunks[j], hidden, *norms[j])
            else:
                chunks[j] = chunks[j] + hidden.to(output.dtype)
        return torch.cat(chunks, dim=-1) if self.n_groups > 1 else chunks[0]

    def _dora_norms(self, module: LowRankModule) -> dict[int, tuple[torch.Tensor, ...]]:
        """Per output group: ``(magnitude, ‖W + ΔW‖, bias kept out of the scaling or None)``."""
        size, weight, delta = self.group_size, weight_rows(self.linear), module.delta_weight()
        bias = self.linear.bias if module.dora_unscaled_bias else None
        norms = {}
        for k, j in enumerate(module.group_index):
            rows, part = slice(k * size, (k + 1) * size), slice(j * size, (j + 1) * size)
            norms[j] = (
                module.m.weight[rows],
                row_norms(weight[part], delta[rows]),
                None if bias is None else bias[part],
            )
        return norms

    # merging -----------------------------------------------------------------------------------------------------
    def merge(self, name: str) -> None:
        """Fold adapter ``name`` into the linear layer's weight (and bias); keep the originals for :meth:`reset`."""
        if self.merged == name:
            return
        module, size = self[name], self.group_size
        weight, bias = self.linear.weight, self.linear.bias
        with torch.no_grad():
            rows = weight_rows(self.linear).float()
            bias_rows = None if bias is None else bias.float()
            new_rows, new_bias = rows.clone(), None if bias is None else bias_rows.clone()
            delta = module.delta_weight().float()
            for k, j in enumerate(module.group_index):
                part, d = slice(j * size, (j + 1) * size), delta[k * size : (k + 1) * size]
                if module.composition_mode == "scale":
                    factor = d[:, 0] * module.scaling
                    new_rows[part] = rows[part] * factor[:, None]
                    if bias is not None:
                        new_bias[part] = bias_rows[part] * factor
                elif module.use_dora:
                    magnitude = module.m.weight.float()[k * size : (k + 1) * size]
                    b_part = None if bias is None else bias_rows[part]
                    new_rows[part], merged_bias = merged_rows(
                        rows[part], b_part, d, module.scaling, magnitude, module.dora_unscaled_bias
                    )
                    if bias is not None:
                        new_bias[part] = merged_bias
                else:
                    new_rows[part] = rows[part] + module.scaling * d
            self.__dict__["_backup"] = (weight.detach().clone(), None if bias is None else bias.detach().clone())
            weight.copy_((new_rows.t() if self.__dict__["_transposed"] else new_rows).to(weight.dtype))
            if bias is not None:
                bias.copy_(new_bias.to(bias.dtype))
        self.__dict__["_merged"] = name

    def reset(self) -> None:
        """Undo :meth:`merge` exactly (the original weight and bias are copied back)."""
        if self.merged is None:
            return
        weight_backup, bias_backup = self.__dict__["_backup"]
        with torch.no_grad():
            self.linear.weight.copy_(weight_backup)
            if bias_backup is not None:
                self.linear.bias.copy_(bias_backup)
        self.__dict__.update(_merged=None, _backup=None)

    def remove_adapter(self, name: str) -> None:
        """Delete adapter ``name`` (un-merging it first) and drop it from parameter-sharing groups."""
        if self.merged == name:
            self.reset()
        for group, members in list(self.shares.items()):
            if name in members:
                rest = tuple(m for m in members if m != name)
                if len(rest) > 1:
                    self.shares[group] = rest
                else:
                    del self.shares[group]
        del self[name]

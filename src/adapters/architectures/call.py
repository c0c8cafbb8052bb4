"""The per-call record: everything one forward call of an adapter-enabled model needs to know, in one object.

An :class:`AdapterCall` is made once, at the model's entry (the outermost of: the top-level model, its base model, an
encoder or decoder stack called on its own during generation; see :mod:`adapters.architectures.entry`), from

* the adapter setup: the innermost ``with AdapterSetup(...)`` block, else the model's active setup; AdapterDrop's
  ``skip_layers``; the head setup of the block;
* the call's own options, taken out of the forward keyword arguments so transformers never sees them: ``task_ids``
  (``MultiTask`` routing), ``adapter_names`` (per-row routing: the call's setup becomes a ``MultiTask`` of the named
  adapters, see :mod:`adapters.architectures.routing`), ``output_adapter_fusion_attentions`` and
  ``output_adapter_gating_scores`` (what to record);
* whether the inputs are already replicated for ``Parallel`` (``generate()`` replicates once up front).

Every adapter site reads the record of the call in progress through ``runtime.current()`` (one per-thread slot per
model). The record's fields never change during the call. Two dictionaries travel with it:

* :attr:`AdapterCall.scratch`: values one site hands to another within the call (a captured residual, the prompt's
  placement, a group's attention mask, the fusion temperature used by the call). They belong to the call, not to a
  module, so concurrent calls on other threads, a second forward before ``backward`` and the recompute of a
  gradient-checkpointed layer (which re-binds the same record, on whichever thread runs ``backward``) all see their
  own values.
* :attr:`AdapterCall.records`: what the call asked to record (fusion attentions, gating scores); added to the output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ..composition import AdapterCompositionBlock

__all__ = ["AdapterCall", "FORWARD_OPTIONS", "CALL_KWARGS", "PROMPT_PLACEMENT", "PromptRows", "insert_columns"]

# forward option -> output key it fills
FORWARD_OPTIONS: dict[str, str] = {
    "output_adapter_fusion_attentions": "adapter_fusion_attentions",
    "output_adapter_gating_scores": "adapter_gating_scores",
}

# keyword arguments of a forward call that belong to adapters (taken out before transformers sees them)
CALL_KWARGS: tuple[str, ...] = ("task_ids", "adapter_names", *FORWARD_OPTIONS)

# scratch key of the prompt placement ``(position, length)`` written by prompt tuning for this call
PROMPT_PLACEMENT = "prompt_placement"


@dataclass(frozen=True, eq=False)
class AdapterCall:
    """The record of one forward call (see the module docstring).

    Attributes:
        setup: the adapter setup of the call (``None``: no adapter runs).
        skip_layers: global layer indices whose adapters are bypassed (AdapterDrop).
        head_setup: the head setup of the ``AdapterSetup`` block, if the setup came from one.
        from_context: whether the setup came from an ``AdapterSetup`` block (heads are then derived from it).
        task_ids: the call's ``task_ids`` (``MultiTask`` routing), or ``None``.
        adapter_names: per-row routing: the adapter name (or ``None``) of every row, or ``None`` (no routing).
        options: the forward options the call asked for (keys of :data:`FORWARD_OPTIONS`).
        replicated: the inputs are already replicated for ``Parallel`` (by ``generate()``).
        version: the model's structure version when the call started (compiled graphs guard on it).
        scratch: per-call values handed from one site to another (see the module docstring).
        records: what the call recorded, by output key (fusion attentions, gating scores).
    """

    setup: AdapterCompositionBlock | None
    skip_layers: frozenset[int] = frozenset()
    head_setup: Any = None
    from_context: bool = False
    task_ids: Any = None
    adapter_names: tuple[str | None, ...] | None = None
    options: frozenset[str] = frozenset()
    replicated: bool = False
    version: int = 0
    scratch: dict = field(default_factory=dict)
    records: dict = field(default_factory=dict)

    @property
    def channels(self) -> int:
        """How many copies of the batch the setup runs on (``Parallel``), 1 otherwise."""
        return 1 if self.setup is None else self.setup.parallel_channels

    def setup_for(self, layer_index: int | None) -> AdapterCompositionBlock | None:
        """The setup at global layer ``layer_index`` (``None`` if AdapterDrop skips it); ``None`` index: the
        model-level setup (never skipped)."""
        if layer_index is not None and layer_index in self.skip_layers:
            return None
        return self.setup

    def wants(self, option: str) -> bool:
        """Whether the call asked for forward option ``option``."""
        return option in self.options

    def record(self, option: str, name: str, layer_index: int, location: str, value: Any) -> None:
        """Store ``value`` as ``records[output key][name][layer_index][location]`` if the call asked for ``option``."""
        if option in self.options:
            key = FORWARD_OPTIONS[option]
            self.records.setdefault(key, {}).setdefault(name, {}).setdefault(layer_index, {})[location] = value

    # prompt tuning inserts positions: token-level inputs of the user's call must be aligned with them --------------
    @property
    def prompt_placement(self) -> tuple[int, int] | PromptRows | None:
        """``(position, length)`` of the soft prompt inserted by this call (a :class:`PromptRows` when rows were
        routed to prompts of their own), or ``None``."""
        return self.scratch.get(PROMPT_PLACEMENT)

    @property
    def prompt_columns(self) -> int:
        """How many columns prompt tuning inserted into every row of this call (0: none)."""
        placement = self.prompt_placement
        if placement is None:
            return 0
        return placement.total if isinstance(placement, PromptRows) else placement[1]

    def align_to_prompt(self, tensor: torch.Tensor | None, fill: Any) -> torch.Tensor | None:
        """``tensor`` ``(batch, length, ...)`` with ``fill`` columns where this call inserted the prompt."""
        placement = self.prompt_placement
        if tensor is None or placement is None:
            return tensor
        if isinstance(placement, PromptRows):
            return placement.insert(tensor, fill)
        return insert_columns(tensor, placement, fill)

    def shift_positions(self, positions: torch.Tensor | None) -> torch.Tensor | None:
        """Token positions of the user's call as positions in the sequence the model saw (prompt included)."""
        placement = self.prompt_placement
        if positions is None or placement is None:
            return positions
        if isinstance(placement, PromptRows):
            return placement.shift(positions)
        position, length = placement
        return positions + length * (positions >= position)

    def row_offsets(self) -> list[int] | None:
        """Per-row routing with prompts of different lengths: how many masked columns precede each row's own
        sequence in the model's outputs (row i alone = ``output[i, offsets[i]:]``); ``None`` when there are none."""
        placement = self.prompt_placement
        if not isinstance(placement, PromptRows) or not any(placement.offsets):
            return None
        return list(placement.offsets)


@dataclass(frozen=True)
class PromptRows:
    """Where prompt tuning put the prompts of a routed batch (rows with prompts of different lengths, or none).

    Row ``r``'s own sequence (its prompt of ``lengths[r]`` columns inserted at ``positions[r]``, exactly as when it
    runs alone) is preceded by ``offsets[r] = total - lengths[r]`` masked-out columns, so all rows have ``total``
    more columns than the user's input.
    """

    offsets: tuple[int, ...]
    positions: tuple[int, ...]
    lengths: tuple[int, ...]
    total: int

    def insert(self, tensor: torch.Tensor, fill: Any, lead: Any = None) -> torch.Tensor:
        """``tensor`` ``(batch, length, ...)`` of the user's rows laid out like the model's sequence: ``fill`` at
        each row's prompt, ``lead`` (default: ``fill``) at its leading offset."""
        lead = fill if lead is None else lead
        rows = [
            insert_columns(insert_columns(tensor[r : r + 1], (self.positions[r], self.lengths[r]), fill), (0, n), lead)
            for r, n in enumerate(self.offsets)
        ]
        return torch.cat(rows)

    def shift(self, positions: torch.Tensor) -> torch.Tensor:
        """Token positions (one or more per row, first dimension: the batch) in the model's sequence."""
        shape = (-1,) + (1,) * (positions.dim() - 1)
        offsets, starts, lengths = (
            torch.tensor(v, device=positions.device).view(shape) for v in (self.offsets, self.positions, self.lengths)
        )
        return positions + offsets + lengths * (positions >= starts)


def insert_columns(tensor: torch.Tensor, placement: tuple[int, int], fill: Any) -> torch.Tensor:
    """``tensor`` ``(batch, length, ...)`` with ``placement[1]`` columns of ``fill`` inserted at ``placement[0]``."""
    position, length = placement
    if not length:
        return tensor
    shape = (tensor.shape[0], length, *tensor.shape[2:])
    columns = torch.full(shape, fill, dtype=tensor.dtype, device=tensor.device)
    return torch.cat([tensor[:, :position], columns, tensor[:, position:]], dim=1)

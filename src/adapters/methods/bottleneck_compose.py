"""Composition primitives of bottleneck adapters (see :mod:`adapters.methods.composer` for the interpreter).

The state that flows through a setup at one site is a :class:`BottleneckState`. ``pre_block`` applies an adapter's
``pre_forward`` (original LayerNorm, residual choice), ``compose_single`` its bottleneck. After the setup ran, the last
adapter's ``post_forward`` finishes the sub-block; when a ``Split``/``BatchSplit``/``Parallel``/``MultiTask`` ends
with different adapters per segment, each segment (for ``MultiTask``: each group of rows, wherever they are in the
batch) is finished by its own last adapter.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch

from ..composition import Average, BatchSplit, Fuse, MultiTask, Parallel, Split, Stack
from ..errors import CompositionError
from .composer import compose

__all__ = ["BottleneckState", "BottleneckComposer", "run_bottleneck_setup"]

FUSION_ATTENTIONS = "output_adapter_fusion_attentions"  # the forward option that records fusion attentions

Norm = Callable[[torch.Tensor], torch.Tensor] | None


class BottleneckState(NamedTuple):
    hidden: torch.Tensor  # current hidden states
    residual_in: torch.Tensor  # the sub-block's residual stream
    adapter_residual: torch.Tensor | None  # what the next adapter adds back (set by pre_block)
    up: torch.Tensor | None  # the last adapter's scaled up-projection (fusion values)
    last: str | None  # the adapter that ran last
    # after mixed concats: (dim, index, last); index is a slice, or a tensor of rows (dim 0) once rows were reordered
    segments: tuple[tuple[int, slice | torch.Tensor, str | None], ...] = ()

    def tensors(self) -> tuple[str, ...]:
        return ("hidden", "residual_in", "adapter_residual", "up")


class BottleneckComposer:
    """The bottleneck primitives for one site and one forward call."""

    method_name = "bottleneck"
    supported_blocks = frozenset({Stack, Fuse, Split, BatchSplit, Parallel, Average, MultiTask})

    def __init__(self, layer, norm: Norm):
        self.layer, self.norm = layer, norm

    def has_adapter(self, name: str) -> bool:
        return name in self.layer

    def size(self, state: BottleneckState, dim: int) -> int:
        return state.hidden.shape[dim]

    def device(self, state: BottleneckState) -> torch.device:
        return state.hidden.device

    def pre_block(self, name: str, state: BottleneckState, fusion_config=None) -> BottleneckState:
        x, residual = self.layer[name].pre_forward(state.hidden, state.residual_in, self.norm)
        return state._replace(hidden=x, adapter_residual=residual)

    def compose_single(self, name: str, state: BottleneckState, need_up: bool = False) -> BottleneckState:
        adapter = self.layer[name]
        out = adapter(state.hidden, state.adapter_residual)
        up = adapter.up_values(state.hidden) if need_up else None
        return state._replace(hidden=out, up=up, last=name, segments=())

    def vslice(self, state: BottleneckState, index: slice | torch.Tensor, dim: int) -> BottleneckState:
        def cut(t):
            return None if t is None else (t[index] if dim == 0 else t[:, index])

        segments = _reorder_segments(state, index) if isinstance(index, torch.Tensor) else ()
        return state._replace(**{k: cut(getattr(state, k)) for k in state.tensors()}, segments=segments)

    def pad_and_concat(self, states: list[BottleneckState], dim: int) -> BottleneckState:
        def cat(name):
            values = [getattr(s, name) for s in states]
            return None if any(v is None for v in values) else torch.cat(values, dim=dim)

        merged = {k: cat(k) for k in states[0].tensors()}
        lasts = [s.last for s in states]
        segments: tuple = ()
        if len(set(lasts)) > 1 or any(s.segments for s in states):
            start, parts = 0, []
            for s in states:
                stop = start + s.hidden.shape[dim]
                parts.append((dim, slice(start, stop), s.last))
                start = stop
            segments = tuple(parts)
        last = next((name for name in reversed(lasts) if name is not None), None)
        return BottleneckState(**merged, last=last, segments=segments)

    def weighted_sum(self, states: list[BottleneckState], weights: list[float]) -> BottleneckState:
        kinds = {
            (self.layer[s.last].config.is_parallel, self.layer[s.last].config.original_ln_after)
            for s in states
            if s.last is not None
        }
        if len(kinds) > 1:
            raise CompositionError(
                f"Average at {self.layer.location_key} mixes adapters that finish differently (parallel vs. "
                "sequential, or different original_ln_after); average adapters of the same kind."
            )
        hidden = sum(w * s.hidden for w, s in zip(weights, states))
        last = next((s.last for s in reversed(states) if s.last is not None), None)
        return states[0]._replace(hidden=hidden, up=None, last=last, segments=())

    def compose_fuse(self, setup: Fuse, state: BottleneckState, call) -> BottleneckState:
        """AdapterFusion (Pfeiffer et al., 2021): attention over the children's up-projections."""
        fusion = self.layer.fusion(setup.name)
        if fusion is None:  # fusion layers exist only where all fused adapters sit; elsewhere the block is a no-op
            return state
        last = setup.last()
        before_norm = state.hidden
        state = self.pre_block(last, state)
        query = before_norm if fusion.config.query_before_ln else state.hidden
        children = []
        for child in setup:
            if isinstance(child, str):
                if self.has_adapter(child):
                    children.append(self.compose_single(child, state, need_up=True))
            else:
                children.append(self._compose_stack_with_up(child, state))
        values = torch.stack([c.up for c in children], dim=2)  # (batch, seq, n_adapters, hidden)
        output, attention = fusion(query, values, values, state.adapter_residual, call)
        if call is not None:
            layer = self.layer
            call.record(FUSION_ATTENTIONS, setup.name, layer.layer_idx, layer.location_key, attention.detach())
        return state._replace(hidden=output, up=None, last=last, segments=())

    def _compose_stack_with_up(self, stack: Stack, state: BottleneckState) -> BottleneckState:
        names = [n for n in stack if self.has_adapter(n)]
        for index, name in enumerate(names):
            if index:
                state = self.pre_block(name, state)
            state = self.compose_single(name, state, need_up=index == len(names) - 1)
        return state


def _reorder_segments(state: BottleneckState, rows: torch.Tensor) -> tuple:
    """The segments of ``state`` after its rows were reordered (``rows[i]``: the old row now at position i).

    Segments along the batch become groups of rows by last adapter; segments along the sequence stay as they are.
    """
    if not state.segments or state.segments[0][0] != 0:
        return state.segments
    last_of_row: list[str | None] = [None] * state.hidden.shape[0]
    for _, index, last in state.segments:
        for row in range(state.hidden.shape[0])[index] if isinstance(index, slice) else index.tolist():
            last_of_row[row] = last
    reordered = [last_of_row[row] for row in rows.tolist()]
    return tuple(
        (0, torch.tensor([i for i, n in enumerate(reordered) if n == name], device=rows.device), name)
        for name in dict.fromkeys(reordered)
    )


def _finish(layer, state: BottleneckState, h, residual_in, norm: Norm, model_adds_residual: bool) -> torch.Tensor:
    if state.last is None:
        return h if model_adds_residual else (norm(h + residual_in) if norm else h + residual_in)
    return layer[state.last].post_forward(state.hidden, h, residual_in, norm, model_adds_residual)


def run_bottleneck_setup(
    layer, setup, h, residual_in, norm: Norm, model_adds_residual: bool, call=None
) -> torch.Tensor:
    """Run ``setup`` at a bottleneck site for the call ``call`` and return the sub-block's new output."""
    composer = BottleneckComposer(layer, norm)
    state = compose(composer, setup, BottleneckState(h, residual_in, None, None, None), call)
    if not state.segments:
        return _finish(layer, state, h, residual_in, norm, model_adds_residual)
    finished = None
    for dim, index, last in state.segments:
        part = composer.vslice(state, index, dim)._replace(last=last, segments=())
        h_part = h[index] if dim == 0 else h[:, index]
        r_part = residual_in[index] if dim == 0 else residual_in[:, index]
        piece = _finish(layer, part, h_part, r_part, norm, model_adds_residual)
        finished = piece.new_empty(h.shape) if finished is None else finished
        if dim == 0:
            finished[index] = piece
        else:
            finished[:, index] = piece
    return finished

"""The one composition interpreter: runs a setup (Stack, Fuse, Split, BatchSplit, Parallel, Average, MultiTask) at
one adapter layer over per-method primitives.

A method's layer object provides:

* ``method_name`` and ``supported_blocks`` (block classes it can run),
* ``has_adapter(name)``, ``pre_block(name, state)`` (prepare the input of adapter ``name``; identity for LoRA),
  ``compose_single(name, state)`` (run one adapter),
* ``vslice(state, index, dim)``, ``pad_and_concat(states, dim)`` (dim 0 = batch, 1 = sequence),
  ``weighted_sum(states, weights)``, ``size(state, dim)``,
* optionally ``compose_fuse(setup, state)`` and ``compose_multi_task(setup, state)``.

Semantics: ``Stack`` runs its children in order, each on the previous output. ``Split`` / ``BatchSplit`` run child i
on the i-th segment of the sequence / batch and concatenate. ``Parallel`` runs child i on the i-th copy of the batch
(the batch was replicated at the model entry). ``Average`` runs every child on the same input and returns
``Σ w_i · out_i``.
"""

from __future__ import annotations

from typing import Any

from ..composition import AdapterCompositionBlock, Average, BatchSplit, Fuse, MultiTask, Parallel, Split, Stack
from ..errors import CompositionError

__all__ = ["compose", "CompositionSizeError"]


class CompositionSizeError(CompositionError, IndexError):
    """A Split / BatchSplit / Parallel does not fit the input's sequence length or batch size."""


def _unsupported(layer, block: AdapterCompositionBlock) -> CompositionError:
    allowed = ", ".join(sorted(b.__name__ for b in layer.supported_blocks))
    return CompositionError(
        f"{layer.method_name} adapters cannot be composed with {type(block).__name__} (in {block!r}); "
        f"{layer.method_name} supports: {allowed}."
    )


def _run_child(layer, child, state, lvl: int):
    if isinstance(child, str):
        if not layer.has_adapter(child):
            return state
        return layer.compose_single(child, layer.pre_block(child, state))
    return compose(layer, child, state, lvl + 1)


def _segments(sizes: list[int], total: int, what: str, block) -> list[slice]:
    if sum(sizes) != total:
        raise CompositionSizeError(
            f"{type(block).__name__} sizes {sizes} sum to {sum(sizes)}, but the input's {what} is {total}."
        )
    bounds, start = [], 0
    for size in sizes:
        bounds.append(slice(start, start + size))
        start += size
    return bounds


def _split(layer, block, state, lvl: int, sizes: list[int], dim: int, what: str):
    parts = [
        _run_child(layer, child, layer.vslice(state, part, dim), lvl)
        for child, part in zip(block, _segments(sizes, layer.size(state, dim), what, block))
    ]
    return layer.pad_and_concat(parts, dim)


def compose(layer, setup: AdapterCompositionBlock | str, state: Any, lvl: int = 0) -> Any:
    """Run ``setup`` on ``state`` at ``layer``; unsupported blocks raise :class:`CompositionError`."""
    if isinstance(setup, str):
        return _run_child(layer, setup, state, lvl)
    if type(setup) not in layer.supported_blocks:
        raise _unsupported(layer, setup)
    if isinstance(setup, Stack):
        for child in setup:
            state = _run_child(layer, child, state, lvl)
        return state
    if isinstance(setup, Fuse):
        return layer.compose_fuse(setup, state)
    if isinstance(setup, MultiTask):
        return layer.compose_multi_task(setup, state)
    if isinstance(setup, Split):
        return _split(layer, setup, state, lvl, setup.splits, 1, "sequence length")
    if isinstance(setup, BatchSplit):
        return _split(layer, setup, state, lvl, setup.batch_sizes, 0, "batch size")
    if isinstance(setup, Parallel):
        total, channels = layer.size(state, 0), len(setup)
        if total % channels:
            raise CompositionSizeError(f"Parallel with {channels} channels got a batch of {total} rows.")
        return _split(layer, setup, state, lvl, [total // channels] * channels, 0, "batch size")
    if isinstance(setup, Average):
        outputs = [_run_child(layer, child, state, lvl) for child in setup]
        return layer.weighted_sum(outputs, setup.weights)
    raise _unsupported(layer, setup)

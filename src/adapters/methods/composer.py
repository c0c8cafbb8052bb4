"""The one composition interpreter: runs a setup (Stack, Fuse, Split, BatchSplit, Parallel, Average, MultiTask) at
one adapter layer over per-method primitives.

A method's layer object provides:

* ``method_name`` and ``supported_blocks`` (block classes it can run),
* ``has_adapter(name)``, ``pre_block(name, state)`` (prepare the input of adapter ``name``; identity for LoRA),
  ``compose_single(name, state)`` (run one adapter),
* ``vslice(state, index, dim)`` (``index``: a slice, or a tensor of row indices for dim 0),
  ``pad_and_concat(states, dim, whole)`` (dim 0 = batch, 1 = sequence; ``whole``: the state the pieces were cut
  from, whose parts that no block changes need not be concatenated again), ``weighted_sum(states, weights)``,
  ``size(state, dim)``, ``device(state)``,
* optionally ``compose_fuse(setup, state, call)``.

``MultiTask`` is run here for every method with these primitives: the rows of the batch are grouped by the call's
``task_ids`` (one child index or adapter name per row; ``None`` or ``-1``: no adapter, the row keeps the input
state), each group runs its child, and the rows are put back in their original order. Methods that act on whole
rows outside these primitives (prompt tuning, ReFT, invertible adapters, a LoRA layer finishing each group with its
own adapter's mode) group the rows with :func:`routed_rows`. Per-row routing (``adapter_names=``) is a ``MultiTask``
made for the call (:mod:`adapters.architectures.routing`).

The interpreter gets the call's record (:class:`~adapters.architectures.call.AdapterCall`): everything per call that
a block needs (``task_ids``, what to record) comes from it, never from module state.

Semantics: ``Stack`` runs its children in order, each on the previous output. ``Split`` / ``BatchSplit`` run child i
on the i-th segment of the sequence / batch and concatenate. ``Parallel`` runs child i on the i-th copy of the batch
(the batch was replicated at the model entry). ``Average`` runs every child on the same input and returns
``Σ w_i · out_i``.
"""

from __future__ import annotations

from typing import Any

import torch

from ..composition import AdapterCompositionBlock, Average, BatchSplit, Fuse, MultiTask, Parallel, Split, Stack
from ..errors import CompositionError

__all__ = ["compose", "CompositionSizeError", "task_indices", "routed_rows", "segments"]


class CompositionSizeError(CompositionError, IndexError):
    """A Split / BatchSplit / Parallel does not fit the input's sequence length or batch size."""


def _unsupported(layer, block: AdapterCompositionBlock) -> CompositionError:
    allowed = ", ".join(sorted(b.__name__ for b in layer.supported_blocks))
    return CompositionError(
        f"{layer.method_name} adapters cannot be composed with {type(block).__name__} (in {block!r}); "
        f"{layer.method_name} supports: {allowed}."
    )


def _run_child(layer, child, state, call, lvl: int):
    if isinstance(child, str):
        if not layer.has_adapter(child):
            return state
        return layer.compose_single(child, layer.pre_block(child, state))
    return compose(layer, child, state, call, lvl + 1)


def segments(sizes: list[int], total: int, what: str, block) -> list[slice]:
    if sum(sizes) != total:
        raise CompositionSizeError(
            f"{type(block).__name__} sizes {sizes} sum to {sum(sizes)}, but the input's {what} is {total}."
        )
    bounds, start = [], 0
    for size in sizes:
        bounds.append(slice(start, start + size))
        start += size
    return bounds


def _split(layer, block, state, call, lvl: int, sizes: list[int], dim: int, what: str):
    parts = [
        _run_child(layer, child, layer.vslice(state, part, dim), call, lvl)
        for child, part in zip(block, segments(sizes, layer.size(state, dim), what, block))
    ]
    return layer.pad_and_concat(parts, dim, state)


def task_indices(task_ids: Any, children: list[str], batch: int, device: torch.device) -> torch.Tensor:
    """``task_ids`` (a tensor of child indices, or a list of child indices / adapter names) as a long tensor of one
    child index per row (``-1``, or ``None`` in a list: no adapter for that row); :class:`CompositionError` if it
    does not fit the ``MultiTask`` or the batch."""
    if task_ids is None:
        raise CompositionError(
            "A MultiTask setup needs task_ids in the forward call: one child index or adapter name per example, "
            f"e.g. model(..., task_ids=[{children[0]!r}, ...])."
        )
    if isinstance(task_ids, (list, tuple)):
        unknown = [t for t in task_ids if isinstance(t, str) and t not in children]
        if unknown:
            raise CompositionError(f"task_ids name adapters {unknown} that are not in the MultiTask {children}.")
        task_ids = [-1 if t is None else children.index(t) if isinstance(t, str) else int(t) for t in task_ids]
    ids = torch.as_tensor(task_ids, dtype=torch.long, device=device).view(-1)
    if ids.numel() != batch or (ids.numel() and (int(ids.min()) < -1 or int(ids.max()) >= len(children))):
        raise CompositionError(
            f"task_ids must give one index in [0, {len(children)}) (or -1: no adapter) per example (batch size "
            f"{batch}), got {ids.tolist()}."
        )
    return ids


def routed_rows(block: MultiTask, call: Any, batch: int, device: torch.device) -> list[tuple[Any, torch.Tensor]]:
    """The rows of a ``MultiTask`` call grouped by child: ``[(child, rows), ...]`` with ``rows`` a long tensor of
    row indices; rows without an adapter come first, as child ``None``. Children with no rows are left out."""
    children = list(block)
    names = [child if isinstance(child, str) else child.last() for child in children]
    ids = task_indices(None if call is None else call.task_ids, names, batch, device)
    groups = []
    for index, child in enumerate([None, *children], start=-1):
        rows = torch.nonzero(ids == index).view(-1)
        if rows.numel():
            groups.append((child, rows))
    return groups


def _multi_task(layer, block: MultiTask, state, call, lvl: int):
    """Run child ``task_ids[i]`` on row i (no child for ``-1``): rows are grouped by child, run, and put back in
    their order."""
    groups = routed_rows(block, call, layer.size(state, 0), layer.device(state))
    if len(groups) == 1 and groups[0][1].numel() == layer.size(state, 0):  # one child for the whole batch
        child = groups[0][0]
        return state if child is None else _run_child(layer, child, state, call, lvl)
    order = torch.cat([rows for _, rows in groups])
    parts = []
    for child, rows in groups:
        part = layer.vslice(state, rows, 0)
        parts.append(part if child is None else _run_child(layer, child, part, call, lvl))
    return layer.vslice(layer.pad_and_concat(parts, 0), torch.argsort(order), 0)


def compose(layer, setup: AdapterCompositionBlock | str, state: Any, call: Any = None, lvl: int = 0) -> Any:
    """Run ``setup`` on ``state`` at ``layer`` for the call ``call``; unsupported blocks raise
    :class:`CompositionError`."""
    if isinstance(setup, str):
        return _run_child(layer, setup, state, call, lvl)
    if type(setup) not in layer.supported_blocks:
        raise _unsupported(layer, setup)
    if isinstance(setup, Stack):
        for child in setup:
            state = _run_child(layer, child, state, call, lvl)
        return state
    if isinstance(setup, Fuse):
        return layer.compose_fuse(setup, state, call)
    if isinstance(setup, MultiTask):
        return _multi_task(layer, setup, state, call, lvl)
    if isinstance(setup, Split):
        return _split(layer, setup, state, call, lvl, setup.splits, 1, "sequence length")
    if isinstance(setup, BatchSplit):
        return _split(layer, setup, state, call, lvl, setup.batch_sizes, 0, "batch size")
    if isinstance(setup, Parallel):
        total, channels = layer.size(state, 0), len(setup)
        if total % channels:
            raise CompositionSizeError(f"Parallel with {channels} channels got a batch of {total} rows.")
        return _split(layer, setup, state, call, lvl, [total // channels] * channels, 0, "batch size")
    if isinstance(setup, Average):
        outputs = [_run_child(layer, child, state, call, lvl) for child in setup]
        return layer.weighted_sum(outputs, setup.weights)
    raise _unsupported(layer, setup)

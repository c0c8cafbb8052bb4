"""Per-row routing: ``model(**batch, adapter_names=[...])`` runs row ``i`` with adapter ``adapter_names[i]``.

It is the ``MultiTask`` mechanism with the setup made for the call: the call's setup becomes
``MultiTask(*distinct names)`` (in order of first appearance) and its ``task_ids`` one child index per row, ``-1``
for a row whose name is ``None`` (that row gets the base model's output). The active setup and any ``AdapterSetup``
block are ignored for such a call (AdapterDrop's ``skip_layers`` still apply). Every method runs ``MultiTask``
through the composition interpreter (:mod:`adapters.methods.composer`) or, for model-level methods (prompt tuning,
ReFT, invertible adapters), by grouping the rows (:func:`adapters.methods.composer.routed_rows`).

``generate(**batch, adapter_names=[...])`` (:func:`routed_generate`) binds the names to the thread for the whole
generation (transformers never sees them), each repeated for the rows generate expands its input row into (beams,
returned sequences), so every step (and an encoder-decoder's encoder call) is routed the same way.

What is checked before any computation: ``adapter_names`` is a list or tuple of adapter names and ``None``, with one
entry per row of the call's batch (:class:`~adapters.errors.RoutingError` names both lengths), and every name is an
adapter of the model (the model registers the check, :attr:`RouteCheck`; unknown names raise
:class:`~adapters.errors.AdapterNotFoundError`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from ..composition import AdapterCompositionBlock, MultiTask
from ..errors import RoutingError

__all__ = ["route", "batch_size", "routed_generate", "RouteCheck", "BATCH_INPUTS"]

# checks the distinct adapter names of a routed call (registered by the model: unknown names, fusions, methods)
RouteCheck = Callable[[list[str]], None]

# forward arguments whose first dimension is the batch, in the order they are looked at
BATCH_INPUTS: tuple[str, ...] = (
    "input_ids",
    "inputs_embeds",
    "pixel_values",
    "input_features",
    "input_values",
    "decoder_input_ids",
    "decoder_inputs_embeds",
)


def batch_size(args: tuple, kwargs: dict) -> int | None:
    """The batch size of a forward call: the first dimension of its main input (``None`` if it has none)."""
    for key in BATCH_INPUTS:
        value = kwargs.get(key)
        if isinstance(value, torch.Tensor):
            return int(value.shape[0])
    if args and isinstance(args[0], torch.Tensor):
        return int(args[0].shape[0])
    return None


def _entries(adapter_names: Any) -> tuple[str | None, ...]:
    if isinstance(adapter_names, (str, AdapterCompositionBlock)) or not isinstance(adapter_names, Sequence):
        raise RoutingError(
            f"adapter_names must be a list with one adapter name (or None) per row of the batch, got "
            f"{adapter_names!r}."
        )
    bad = [name for name in adapter_names if name is not None and not isinstance(name, str)]
    if bad:
        raise RoutingError(
            f"adapter_names entries must be adapter names or None, got {bad[0]!r}; per-row routing runs one adapter "
            "per row (composition blocks and fusion setups per row are not supported)."
        )
    return tuple(adapter_names)


def route(adapter_names: Any, batch: int | None, check: RouteCheck | None) -> dict[str, Any]:
    """The call-record fields of a routed call: ``setup`` (a ``MultiTask`` of the distinct names, ``None`` if every
    row has ``None``), ``task_ids`` (a long tensor, ``-1``: no adapter) and ``adapter_names`` (the names per row).

    Raises :class:`RoutingError` for a malformed list or one whose length is not ``batch``, and whatever ``check``
    raises for the names (before any computation).
    """
    names = _entries(adapter_names)
    if batch is not None and len(names) != batch:
        raise RoutingError(
            f"adapter_names has {len(names)} entries but the batch has {batch} rows; give one adapter name (or None) "
            "per row."
        )
    distinct = list(dict.fromkeys(name for name in names if name is not None))
    if check is not None and distinct:
        check(distinct)
    task_ids = torch.tensor([-1 if name is None else distinct.index(name) for name in names], dtype=torch.long)
    return {
        "setup": MultiTask(*distinct) if distinct else None,
        "task_ids": task_ids,
        "adapter_names": names,
    }


def _expansion(model: Any, kwargs: dict) -> int:
    """How many rows ``generate`` makes of each input row (the larger of beams and returned sequences, as
    transformers' ``generate`` expands its inputs)."""
    config = kwargs.get("generation_config") or getattr(model, "generation_config", None)

    def value(name: str) -> int:
        given = kwargs.get(name)
        return int(given if given is not None else (getattr(config, name, None) or 1))

    return max(value("num_beams"), value("num_return_sequences"))


def routed_generate(model: Any, runtime: Any, generate: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    """Run ``generate(*args, **kwargs)`` with ``kwargs["adapter_names"]`` routing every call it makes (each name
    repeated for the rows generate expands it into)."""
    names = _entries(kwargs.pop("adapter_names"))
    expand = _expansion(model, kwargs)
    if expand > 1:
        names = tuple(name for name in names for _ in range(expand))
    with runtime.routing(names):
        return generate(*args, **kwargs)

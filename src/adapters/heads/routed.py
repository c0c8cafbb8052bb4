"""Heads of a routed call (``model(**batch, adapter_names=[...])`` on a flexible-head model).

Row ``i`` uses the head named like its adapter ``adapter_names[i]``; a row whose adapter has no head of its name (and
every ``None`` row) uses the ``head=`` argument, a single head name. If no row has a head (a model without heads, or
no head matches and no ``head=``), the call returns the base model's outputs, rows in request order. If only some
rows have one, :class:`~adapters.errors.RoutingError` names the rows without a head.

The heads run once per group of rows sharing a head and an adapter (the adapter's invertible adapter, if any, is
the one an LM head inverts), and the result is a :class:`RoutedOutput`: ``head_outputs[i]`` (also ``output[i]``) is
row ``i``'s output, equal to running that row alone (batch dimension 1; with prompt tuning the leading masked
columns of a routed batch are removed, so token-level outputs have the row's own length).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from transformers.utils import ModelOutput

from ..errors import AdapterNotFoundError, RoutingError
from ..methods.bottleneck import invertible_transform
from .model_mixin import _slice_output

__all__ = ["RoutedOutput", "routed_heads", "run_routed_heads"]


@dataclass
class RoutedOutput(ModelOutput):
    """The outputs of a routed call on a flexible-head model, in request order.

    Attributes:
        loss: the sum of the head groups' losses when labels were given (``None`` otherwise).
        logits: every row's logits stacked along the batch, when all rows' heads give logits of one shape (e.g. one
            head type with equal label counts; also what ``generate()`` reads); ``None`` otherwise.
        head_outputs: row ``i``'s own output (batch dimension 1), of its head's output type.
        head_names: the head each row used.
        adapter_names: the adapter each row used (``None``: no adapter).
        past_key_values: the cache of the whole batch (generation).
    """

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    head_outputs: list[ModelOutput] | None = None
    head_names: list[str] | None = None
    adapter_names: list[str | None] | None = None
    past_key_values: Any = None

    def __getitem__(self, k):
        if isinstance(k, int):
            return self.head_outputs[k]
        return super().__getitem__(k)


def routed_heads(heads, adapter_names: tuple[str | None, ...], head: Any) -> list[str] | None:
    """The head of every row (see the module docstring); ``None``: no row has a head."""
    if head is not None and not isinstance(head, str):
        raise RoutingError(
            f"With adapter_names, head= is a single head name (the head of rows whose adapter has no head of its "
            f"own), got {head!r}."
        )
    if head is not None and head not in heads:
        raise AdapterNotFoundError(f"No head named {head!r}. Heads: {', '.join(heads) or 'none'}.")
    rows = [name if name is not None and name in heads else head for name in adapter_names]
    if all(r is None for r in rows):
        return None
    missing = [i for i, r in enumerate(rows) if r is None]
    if missing:
        shown = ", ".join(f"{i} ({adapter_names[i]!r})" for i in missing[:5])
        raise RoutingError(
            f"Rows {shown}{', ...' if len(missing) > 5 else ''} have no head: their adapter is None or has no head "
            f"of its name. Pass head=NAME for them (heads: {', '.join(heads)})."
        )
    return rows


def _take(value: Any, row: int, offset: int, length: int) -> Any:
    """Row ``row`` of an output field (batch dimension kept); token-level tensors lose ``offset`` leading columns."""
    if isinstance(value, torch.Tensor) and value.dim() >= 1:
        value = value[row : row + 1]
        return value[:, offset:] if offset and value.dim() >= 2 and value.shape[1] == length else value
    if isinstance(value, tuple) and all(isinstance(v, torch.Tensor) for v in value):
        return tuple(_take(v, row, offset, length) for v in value)
    return value


def _row_output(result: ModelOutput, row: int, offset: int, length: int) -> ModelOutput:
    fields = {k: _take(v, row, offset, length) for k, v in result.items() if k not in ("loss", "past_key_values")}
    return type(result)(**fields)


def _part(value: Any, rows: torch.Tensor, batch: int) -> Any:
    if isinstance(value, torch.Tensor) and value.dim() >= 1 and value.shape[0] == batch:
        return value[rows]
    return value


def run_routed_heads(
    model, outputs, row_heads: list[str], call, cls_output=None, attention_mask=None, **kwargs
) -> RoutedOutput:
    """Run every row's head on its rows of ``outputs`` (the base model's outputs of the routed call)."""
    hidden = outputs[0]
    batch, length = hidden.shape[0], hidden.shape[1] if hidden.dim() >= 2 else 0
    offsets = call.row_offsets() or [0] * batch
    names = call.adapter_names
    rows_out: list[Any] = [None] * batch
    groups: dict[tuple[str, str | None], list[int]] = {}
    for row, key in enumerate(zip(row_heads, names)):
        groups.setdefault(key, []).append(row)
    losses, logits, order = [], [], []
    runtime = model._adapter_runtime
    for (head_name, adapter), rows in groups.items():
        index = torch.tensor(rows, device=hidden.device)

        def inverse(h, rev: bool = False, _name: str = adapter or ""):
            return invertible_transform(runtime, h, rev=rev, name=_name)

        part_kwargs = {k: _part(v, index, batch) for k, v in kwargs.items()}
        part_kwargs["invertible_adapter"] = inverse
        result = model.heads[head_name](
            _slice_output(outputs, index),
            _part(cls_output, index, batch),
            _part(attention_mask, index, batch),
            True,
            **part_kwargs,
        )
        losses.append(result.get("loss"))
        logits.append(result.get("logits"))
        order.extend(rows)
        for j, row in enumerate(rows):
            rows_out[row] = _row_output(result, j, offsets[row], length)
    stacked = None
    if all(isinstance(t, torch.Tensor) for t in logits) and len({t.shape[1:] for t in logits}) == 1:
        stacked = torch.cat(logits)[torch.argsort(torch.tensor(order, device=hidden.device))]
    return RoutedOutput(
        loss=sum(losses) if all(loss is not None for loss in losses) else None,
        logits=stacked,
        head_outputs=rows_out,
        head_names=list(row_heads),
        adapter_names=list(names),
        past_key_values=getattr(outputs, "past_key_values", None),
    )

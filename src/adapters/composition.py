"""Composition blocks: how several adapters combine in one forward pass.

Blocks are immutable values. ``Stack("a", "b")`` runs ``a`` then ``b``; ``Fuse`` combines adapters with
AdapterFusion; ``Split`` splits the sequence, ``BatchSplit`` the batch; ``Parallel`` runs every child on its own copy
of the batch; ``Average`` combines the children's outputs with weights; ``MultiTask`` routes rows by ``task_ids``.
Validation follows the reference's nesting table and depth rule.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence
from typing import Any, Union

from .errors import CompositionError

__all__ = [
    "AdapterCompositionBlock",
    "Stack",
    "Fuse",
    "Split",
    "BatchSplit",
    "Parallel",
    "Average",
    "MultiTask",
    "parse_composition",
    "validate_composition",
    "ALLOWED_NESTINGS",
]

Child = Union[str, "AdapterCompositionBlock"]


class AdapterCompositionBlock(Sequence):
    """Base class of all blocks: an immutable sequence of children (adapter names or blocks)."""

    def __init__(self, *children: Child | Sequence[Any]):
        self._children: tuple[Child, ...] = tuple(_coerce_child(c) for c in children)
        # blocks are immutable: what every adapter layer asks at every call is computed once (cheap in eager mode,
        # plain constants for torch.compile)
        self._names: frozenset[str] = frozenset().union(
            *({c} if isinstance(c, str) else c.flatten() for c in self._children)
        )
        self._channels: int = self._own_channels()

    @property
    def children(self) -> list[Child]:
        return list(self._children)

    def __getitem__(self, index):  # type: ignore[override]
        return self._children[index]

    def __len__(self) -> int:
        return len(self._children)

    def __iter__(self) -> Iterator[Child]:
        return iter(self._children)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AdapterCompositionBlock):
            return False
        return type(self) is type(other) and self._children == other._children and self._kwargs() == other._kwargs()

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._children))

    def __repr__(self) -> str:
        inner = ", ".join(repr(c) if isinstance(c, str) else repr(c) for c in self._children)
        extra = "".join(f", {k}={v!r}" for k, v in self._kwargs().items())
        return f"{type(self).__name__}[{inner}{extra}]"

    def __str__(self) -> str:
        return repr(self)

    def first(self) -> str:
        """The first adapter name, descending into nested blocks."""
        child = self._children[0]
        return child if isinstance(child, str) else child.first()

    def last(self) -> str:
        """The last adapter name, descending into nested blocks."""
        child = self._children[-1]
        return child if isinstance(child, str) else child.last()

    @property
    def parallel_channels(self) -> int:
        """How many copies of the batch this setup needs (``Parallel`` anywhere below multiplies)."""
        return self._channels

    def _own_channels(self) -> int:
        blocks = [c.parallel_channels for c in self._children if not isinstance(c, str)]
        return max(blocks) if blocks else 1

    def flatten(self) -> frozenset[str]:
        """All adapter names used anywhere in the block."""
        return self._names

    def _kwargs(self) -> dict[str, Any]:
        return {}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable description, in the reference's ``{"type", "children", "kwargs"}`` format."""
        children = [{"type": "single", "children": [c]} if isinstance(c, str) else c.to_dict() for c in self._children]
        return {"type": type(self).__name__, "children": children, "kwargs": self._kwargs()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Child:
        """Rebuild a block (or a single adapter name) from :meth:`to_dict` output."""
        kind = data.get("type")
        if kind == "single":
            return data["children"][0]
        if kind not in _BLOCKS:
            raise CompositionError(f"Unknown composition block type {kind!r}; expected one of {sorted(_BLOCKS)}.")
        children = [AdapterCompositionBlock.from_dict(c) for c in data.get("children", [])]
        return _BLOCKS[kind](*children, **data.get("kwargs", {}))


def _coerce_child(child: Any) -> Child:
    if isinstance(child, (str, AdapterCompositionBlock)):
        return child
    if isinstance(child, Sequence):
        return Fuse(*child)
    raise CompositionError(f"A composition child must be an adapter name or a block, got {child!r}.")


class Stack(AdapterCompositionBlock):
    """Run the children one after another: the output of child i is the input of child i + 1."""


class Fuse(AdapterCompositionBlock):
    """Combine the children with an AdapterFusion layer named ``name`` (default: the names joined by commas)."""

    def __init__(self, *children: Child | Sequence[Any], name: str | None = None):
        super().__init__(*children)
        self._name = name

    @property
    def name(self) -> str:
        if self._name is not None:
            return self._name
        return ",".join(c if isinstance(c, str) else c.last() for c in self._children)

    def _kwargs(self) -> dict[str, Any]:
        return {"name": self._name} if self._name is not None else {}


def _sizes(block: str, keyword: str, sizes: Any, count: int) -> list[int]:
    """``sizes`` as one non-negative int per child (an int is repeated); raise :class:`CompositionError` if not."""
    sizes = list(sizes) if isinstance(sizes, (list, tuple)) else [sizes] * count
    if len(sizes) != count or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in sizes):
        raise CompositionError(
            f"{block} got {keyword}={sizes!r} for {count} children; give one non-negative int per child (or one int "
            "for all)."
        )
    return sizes


class Split(AdapterCompositionBlock):
    """Apply child i to the i-th segment of the sequence; ``splits`` gives the segment lengths."""

    def __init__(self, *children: Child, splits: int | list[int]):
        super().__init__(*children)
        self.splits = _sizes("Split", "splits", splits, len(self))

    def _kwargs(self) -> dict[str, Any]:
        return {"splits": self.splits}


class BatchSplit(AdapterCompositionBlock):
    """Apply child i to the i-th slice of the batch; ``batch_sizes`` gives the slice sizes."""

    def __init__(self, *children: Child, batch_sizes: int | list[int]):
        super().__init__(*children)
        self.batch_sizes = _sizes("BatchSplit", "batch_sizes", batch_sizes, len(self))

    def _kwargs(self) -> dict[str, Any]:
        return {"batch_sizes": self.batch_sizes}


class Parallel(AdapterCompositionBlock):
    """Run each child on its own copy of the input batch (each with its own head)."""

    def _own_channels(self) -> int:
        return len(self._children)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class Average(AdapterCompositionBlock):
    """Combine the children's outputs as ``sum_i w_i * h_i``; weights are normalised to sum to 1 by default."""

    def __init__(self, *children: Child, weights: list[float] | None = None, normalize_weights: bool = True):
        super().__init__(*children)
        if not len(self):
            raise CompositionError("Average needs at least one child.")
        if weights is not None and not (isinstance(weights, (list, tuple)) and all(_is_number(w) for w in weights)):
            raise CompositionError(f"Average got weights={weights!r}; give a list of finite numbers, one per child.")
        if weights is None:
            weights = [1.0 / len(self)] * len(self)
        elif len(weights) != len(self):
            raise CompositionError(f"Average got {len(weights)} weights for {len(self)} children; give one each.")
        elif normalize_weights:
            total = sum(weights)
            if total == 0:
                raise CompositionError(
                    "Average weights sum to 0 and cannot be normalised; pass normalize_weights=False."
                )
            weights = [w / total for w in weights]
        self.weights = [float(w) for w in weights]

    def _kwargs(self) -> dict[str, Any]:
        return {"weights": self.weights}


class MultiTask(AdapterCompositionBlock):
    """Route each batch row to the child selected by the forward argument ``task_ids`` (MTL-LoRA)."""


_BLOCKS: dict[str, type[AdapterCompositionBlock]] = {
    cls.__name__: cls for cls in (Stack, Fuse, Split, BatchSplit, Parallel, Average, MultiTask)
}

# parent block -> child types allowed directly inside it (the reference's table)
ALLOWED_NESTINGS: dict[type[AdapterCompositionBlock], tuple[type, ...]] = {
    Stack: (str, Fuse, Split, Parallel, BatchSplit, Average, MultiTask),
    Fuse: (str, Stack),
    Split: (str, Split, Stack, BatchSplit, Average),
    Parallel: (str, Stack, BatchSplit, Average),
    MultiTask: (str, Stack, Average, Fuse),
    BatchSplit: (str, Stack, Split, BatchSplit, Average),
    Average: (str, Stack, Split, BatchSplit),
}


def _type_name(t: type) -> str:
    return "str" if t is str else t.__name__


def validate_composition(adapter_composition: Child, level: int = 0, model_type: str | None = None) -> None:
    """Check a setup against the nesting table and the depth rule; raise :class:`CompositionError` if invalid."""
    if level > 1 and not isinstance(adapter_composition, (str, Stack)):
        raise CompositionError(
            f"Adapter setup is too deep: {adapter_composition!r} sits at level {level}; below level 1 only Stack "
            "blocks and adapter names are allowed."
        )
    if isinstance(adapter_composition, str):
        return
    if not isinstance(adapter_composition, AdapterCompositionBlock):
        raise CompositionError(f"Invalid adapter setup {adapter_composition!r}; expected a name or a block.")
    if len(adapter_composition) == 0:
        raise CompositionError(f"{type(adapter_composition).__name__} needs at least one child.")
    allowed = ALLOWED_NESTINGS[type(adapter_composition)]
    for child in adapter_composition:
        if not isinstance(child, allowed):
            raise CompositionError(
                f"Cannot nest {type(child).__name__} inside {type(adapter_composition).__name__}. Only the "
                f"following nestings are allowed: {', '.join(_type_name(t) for t in allowed)}."
            )
        validate_composition(child, level=level + 1, model_type=model_type)


def parse_composition(adapter_composition: Any, level: int = 0, model_type: str | None = None) -> Child | None:
    """Turn user shorthand into a block: a name becomes ``Stack(name)`` at the top level; lists are deprecated.

    ``None`` or empty input gives ``None``. A list at level 0 becomes a ``Stack``, a nested list a ``Fuse``.
    """
    if not adapter_composition:
        return None
    if isinstance(adapter_composition, AdapterCompositionBlock):
        if level == 0:
            validate_composition(adapter_composition, model_type=model_type)
        return adapter_composition
    if isinstance(adapter_composition, str):
        return Stack(adapter_composition) if level == 0 else adapter_composition
    if isinstance(adapter_composition, Sequence):
        warnings.warn(
            "Passing a list as adapter setup is deprecated; use composition blocks such as Stack or Fuse.",
            FutureWarning,
            stacklevel=2,
        )
        if level == 0:
            block = Stack(*[parse_composition(c, level=1, model_type=model_type) for c in adapter_composition])
            validate_composition(block, model_type=model_type)
            return block
        return Fuse(*[parse_composition(c, level=2, model_type=model_type) for c in adapter_composition])
    raise CompositionError(
        f"Invalid adapter setup {adapter_composition!r}; expected an adapter name, a composition block or None."
    )

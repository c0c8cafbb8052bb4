"""The method × architecture matrix: which cell runs, and why a cell cannot.

Rows are every model type with a spec (``tiny_models.ALL_FAMILIES``) plus model types kept out of the table that the
generic fallback recognises (``tiny_models.FALLBACK_FAMILIES``). Columns are the methods of the reference's overview
(plus (IA)³). A cell's support is asked from the library itself: ``model.supports_adapter(config)`` on the tiny
model, and, where it refuses, the reason is the library's own message. ``test_breadth_contract.py`` runs every
supported cell; ``scripts/make_model_overview.py`` renders ``docs/model_overview.md`` from this matrix and those
tests' results.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import adapters
from adapters.composition import Fuse, Parallel
from adapters.errors import AdapterError
from tiny_models import ALL_FAMILIES, FALLBACK_FAMILIES, build

# generic-fallback rows of the overview: one of each layer structure (the other held-out types are tested in
# tests/architectures/test_derive.py)
FALLBACK_ROWS = ("gemma", "starcoder2", "ernie")

__all__ = ["Column", "COLUMNS", "ROWS", "support", "row_title", "reference_support"]


@dataclass(frozen=True)
class Column:
    """One column: its title, the config its contract test adds, and the composition it activates."""

    title: str
    config: str
    composition: str | None = None  # "fuse" or "parallel": two adapters of ``config`` composed


COLUMNS = (
    Column("Bottleneck", "seq_bn"),
    Column("Compacter", "compacter[reduction_factor=4]"),
    Column("LoRA", "lora[r=4, alpha=8]"),
    Column("(IA)³", "ia3"),
    Column("Prefix Tuning", "prefix_tuning[prefix_length=3, bottleneck_size=16]"),
    Column("Prompt Tuning", "prompt_tuning[prompt_length=3]"),
    Column("ReFT", "loreft[r=2]"),
    Column("Invertible", "seq_bn_inv"),
    Column("Fusion", "seq_bn", composition="fuse"),
    Column("Parallel", "seq_bn", composition="parallel"),
)
ROWS: tuple[str, ...] = ALL_FAMILIES + FALLBACK_ROWS


def _setup(column: Column):
    return {"fuse": Fuse("a", "b"), "parallel": Parallel("a", "b")}.get(column.composition)


@functools.cache
def support(family: str) -> dict[str, str | None]:
    """``{column title: None (supported) | reason}`` for ``family``, as the library answers it."""
    model = build(family)
    adapters.init(model)
    result = {}
    for column in COLUMNS:
        reason = model._support_problem(adapters.AdapterConfig.load(column.config))
        if reason is None and column.composition is not None:
            reason = _composition_problem(model, column)
        result[column.title] = reason
    return result


def _composition_problem(model, column: Column) -> str | None:
    try:
        model.add_adapter("a", config=column.config)
        model.add_adapter("b", config=column.config)
        if column.composition == "fuse":
            model.add_adapter_fusion(Fuse("a", "b"))
        model.set_active_adapters(_setup(column))
        return None
    except AdapterError as error:
        return str(error)
    finally:
        for name in ("a", "b"):
            if name in model.adapters_config.adapters:
                model.delete_adapter(name)


def _spec(family: str):
    model = build(family)
    adapters.init(model)
    return model._adapter_runtime.spec


@functools.cache
def row_title(family: str) -> str:
    spec = _spec(family)
    title = spec.title(spec.model_types[0] if family in FALLBACK_FAMILIES else build(family).config.model_type)
    return f"{title} (generic fallback)" if family in FALLBACK_FAMILIES else title


@functools.cache
def reference_support(family: str) -> str | None:
    return None if family in FALLBACK_FAMILIES else _spec(family).reference


def setup_for(column: Column):
    return _setup(column)

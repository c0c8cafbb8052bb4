"""``AdapterSetup``: activate adapters (and heads) for the code inside a ``with`` block.

The setup lives in a :class:`contextvars.ContextVar`, so it is per thread and per asyncio task, and nested blocks
restore the outer setup on exit. Nothing on the model is mutated.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from typing import Any

from .composition import AdapterCompositionBlock, parse_composition

__all__ = ["AdapterSetup"]


@dataclass(frozen=True)
class _ActiveSetup:
    adapter_setup: AdapterCompositionBlock | None
    head_setup: Any
    skip_layers: tuple[int, ...] | None


_CURRENT: contextvars.ContextVar[_ActiveSetup | None] = contextvars.ContextVar("adapters_setup", default=None)


class AdapterSetup:
    """Context manager that overrides the model's active adapters (and head) inside its block.

    Args:
        adapter_setup: an adapter name, a composition block, or ``None`` to run with no adapter.
        head_setup: the head(s) to use; derived from the setup when omitted (on models with heads).
        ignore_empty: when true and ``adapter_setup`` is empty, the block does not override anything.
        skip_layers: layer indices whose adapters are bypassed inside the block (AdapterDrop).

    Example::

        with AdapterSetup("sentiment"):
            outputs = model(**batch)
    """

    def __init__(
        self,
        adapter_setup: Any,
        head_setup: Any = None,
        ignore_empty: bool = False,
        skip_layers: list[int] | None = None,
    ):
        self.adapter_setup = parse_composition(adapter_setup)
        self.head_setup = head_setup
        self.skip_layers = tuple(skip_layers) if skip_layers is not None else None
        self._active = not (ignore_empty and self.adapter_setup is None)
        self._tokens: list[contextvars.Token] = []

    def __enter__(self) -> AdapterSetup:
        if self._active:
            setup = _ActiveSetup(self.adapter_setup, self.head_setup, self.skip_layers)
            self._tokens.append(_CURRENT.set(setup))
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._active:
            _CURRENT.reset(self._tokens.pop())

    @staticmethod
    def get_context() -> _ActiveSetup | None:
        """The innermost active setup, or ``None`` outside any ``with AdapterSetup(...)`` block."""
        return _CURRENT.get()

    @classmethod
    def get_context_adapter_setup(cls) -> AdapterCompositionBlock | None:
        ctx = _CURRENT.get()
        return ctx.adapter_setup if ctx is not None else None

    @classmethod
    def get_context_head_setup(cls) -> Any:
        ctx = _CURRENT.get()
        return ctx.head_setup if ctx is not None else None

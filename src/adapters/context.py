"""``AdapterSetup``: activate adapters (and heads) for the code inside a ``with`` block.

The setup lives in a :class:`contextvars.ContextVar`, so it is per thread and per asyncio task, and nested blocks
restore the outer setup on exit. Nothing on the model is mutated. A model reads it once per forward call, at its
entry, into the call's record (:class:`adapters.architectures.call.AdapterCall`); everything inside the call (also a
gradient-checkpointing recompute during ``backward``, after the block has ended) uses that record.

``torch.compile`` cannot trace ``ContextVar.get``; inside a compiled region the setup is read from a per-thread mirror
that the block also maintains (:func:`current_setup`). Compiled graphs guard on what they read, so a different setup
gives a recompile, not a stale result.
"""

from __future__ import annotations

import contextvars
import threading
from dataclasses import dataclass
from typing import Any

import torch

from .composition import AdapterCompositionBlock, parse_composition

__all__ = ["AdapterSetup", "ActiveSetup", "ForwardContext", "current_setup", "entered_call", "left_call"]


@dataclass(frozen=True)
class ActiveSetup:
    """What an ``AdapterSetup`` block sets: the adapter setup, the head setup and the AdapterDrop layers."""

    adapter_setup: AdapterCompositionBlock | None
    head_setup: Any
    skip_layers: tuple[int, ...] | None


_CURRENT: contextvars.ContextVar[ActiveSetup | None] = contextvars.ContextVar("adapters_setup", default=None)
_MIRROR = threading.local()  # the same value per thread, for compiled code (dynamo traces attribute reads)


def current_setup() -> ActiveSetup | None:
    """The innermost ``AdapterSetup`` block's setup, or ``None`` (traceable by ``torch.compile``)."""
    if torch.compiler.is_compiling():
        return getattr(_MIRROR, "setup", None)
    return _CURRENT.get()


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
        self._tokens: list[tuple[contextvars.Token, ActiveSetup | None]] = []

    def __enter__(self) -> AdapterSetup:
        if self._active:
            setup = ActiveSetup(self.adapter_setup, self.head_setup, self.skip_layers)
            self._tokens.append((_CURRENT.set(setup), getattr(_MIRROR, "setup", None)))
            _MIRROR.setup = setup
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._active:
            token, mirrored = self._tokens.pop()
            _CURRENT.reset(token)
            _MIRROR.setup = mirrored

    @staticmethod
    def get_context() -> ActiveSetup | None:
        """The innermost active setup, or ``None`` outside any ``with AdapterSetup(...)`` block."""
        return current_setup()

    @classmethod
    def get_context_adapter_setup(cls) -> AdapterCompositionBlock | None:
        ctx = current_setup()
        return ctx.adapter_setup if ctx is not None else None

    @classmethod
    def get_context_head_setup(cls) -> Any:
        ctx = current_setup()
        return ctx.head_setup if ctx is not None else None


# ---------------------------------------------------------------------------------------------------------------
# ForwardContext: the reference's name for "the forward call in progress", here a read-only view of the call record
_CALLS = threading.local()  # per thread: the records of the model calls in progress, innermost last (a tuple)


def entered_call(call: Any) -> None:
    """Publish ``call`` (an ``AdapterCall``) as the innermost call in progress on this thread (model entries call
    this when a top-level forward starts; :meth:`ForwardContext.get_context` reads it)."""
    if call is not None:
        _CALLS.stack = (*getattr(_CALLS, "stack", ()), call)


def left_call(call: Any) -> None:
    """Withdraw ``call`` again (the model entry's exit, also when the forward raised)."""
    stack = getattr(_CALLS, "stack", ())
    if call is not None and stack and stack[-1] is call:
        _CALLS.stack = stack[:-1]


class ForwardContext:
    """The forward call in progress on this thread, under the reference's name.

    ``ForwardContext.get_context()`` (inside a forward, e.g. in a hook) returns a read-only view of the call's record
    (:class:`adapters.architectures.call.AdapterCall`), or ``None`` outside any call. It answers the reference's
    attributes: ``adapter_setup``, ``head_setup``, ``task_ids``, ``output_adapter_gating_scores``,
    ``output_adapter_fusion_attentions``, ``adapter_gating_scores`` and ``adapter_fusion_attentions`` (what the call
    recorded so far), ``adapter_input_parallelized`` and ``prompt_tokens_length``; ``call`` is the record itself.
    Unlike the reference's object it cannot be entered or set: the record is made by the model at its entry.
    """

    context_args = frozenset(
        {"output_adapter_gating_scores", "output_adapter_fusion_attentions", "adapter_input_parallelized", "task_ids"}
    )
    context_attributes = frozenset({"adapter_gating_scores", "adapter_fusion_attentions"})

    __slots__ = ("call",)

    def __init__(self, call: Any):
        self.call = call

    @classmethod
    def get_context(cls) -> ForwardContext | None:
        """The innermost forward call in progress on this thread, or ``None``."""
        stack = getattr(_CALLS, "stack", ())
        return cls(stack[-1]) if stack else None

    @property
    def adapter_setup(self) -> AdapterCompositionBlock | None:
        return self.call.setup

    @property
    def head_setup(self) -> Any:
        return self.call.head_setup

    @property
    def task_ids(self) -> Any:
        return self.call.task_ids

    @property
    def output_adapter_gating_scores(self) -> bool:
        return self.call.wants("output_adapter_gating_scores")

    @property
    def output_adapter_fusion_attentions(self) -> bool:
        return self.call.wants("output_adapter_fusion_attentions")

    @property
    def adapter_gating_scores(self) -> dict:
        return self.call.records.get("adapter_gating_scores", {})

    @property
    def adapter_fusion_attentions(self) -> dict:
        return self.call.records.get("adapter_fusion_attentions", {})

    @property
    def adapter_input_parallelized(self) -> bool:
        return self.call.replicated

    @property
    def prompt_tokens_length(self) -> int:
        return self.call.prompt_columns

    def __repr__(self) -> str:
        return f"ForwardContext(adapter_setup={self.adapter_setup!r}, task_ids={self.task_ids!r})"

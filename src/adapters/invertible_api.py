"""``InvertibleAdaptersMixin``: the model-level view of invertible adapters (mixed into every adapter-enabled model).

Invertible adapters themselves are part of bottleneck configs (``inv_adapter="nice"|"glow"``, see
:mod:`adapters.methods.bottleneck`); this mixin only answers which one the active setup uses.
"""

from __future__ import annotations

from torch import nn

__all__ = ["InvertibleAdaptersMixin"]


class InvertibleAdaptersMixin:
    """``get_invertible_adapter``, as in the reference."""

    def get_invertible_adapter(self) -> nn.Module | None:
        """The invertible adapter of the first adapter of the active setup, or ``None`` (no active setup, or its
        first adapter has none)."""
        setup = self.active_adapters
        if setup is None or len(setup) == 0:
            return None
        return self.get_adapter(setup.first()).get(-1, {}).get("invertible")

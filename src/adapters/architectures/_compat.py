"""The transformers internals this package relies on, in one place.

Everything here is a name or convention of transformers 5 that is not a documented extension point. If a
transformers release changes one of them, this module (and the test ``tests/architectures/test_attention.py``)
is where it shows.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from torch import nn
from transformers import AttentionInterface
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

from ..errors import UnsupportedAttentionError

__all__ = [
    "EAGER",
    "SUPPORTED_PREFIX_BACKENDS",
    "PACKED_SEQUENCE_KWARGS",
    "backend_function",
    "computes_own_eager_attention",
    "register_attention_backend",
]

# ``AttentionInterface.get_interface(impl, default)`` returns ``default`` (the modeling file's own
# ``eager_attention_forward``) for this name; every other name is looked up in the interface's mapping.
EAGER = "eager"

# Backends whose mask conventions prefix tuning implements (see ``attention.prepend_keys_values``): eager gets
# additive float masks ``(B, 1, Q, K)`` or ``None``; sdpa gets boolean masks ``(B, 1, Q, K)`` or ``None`` (then
# ``is_causal`` decides causality, top-left aligned).
SUPPORTED_PREFIX_BACKENDS = ("eager", "sdpa")

# Keyword arguments of attention functions that describe packed (variable-length) batches; prepending keys would
# need rebuilt cumulative lengths, so such calls are refused.
PACKED_SEQUENCE_KWARGS = ("cu_seq_lens_q", "cu_seq_lens_k", "max_length_q", "max_length_k")


def register_attention_backend(name: str, backend: str, function: Callable) -> None:
    """Register ``function`` as attention implementation ``name`` whose masks are built as for ``backend``.

    ``AttentionInterface.register`` and ``AttentionMaskInterface.register`` are transformers' public extension
    points for custom attention functions; registering a new name changes nothing for models that do not use it.
    """
    AttentionInterface.register(name, function)
    AttentionMaskInterface.register(name, ALL_MASK_ATTENTION_FUNCTIONS[backend])


_EAGER_FUNCTIONS: dict[type, Callable] = {}


def backend_function(module: nn.Module, backend: str) -> Callable:
    """The attention function ``module`` would call for ``backend``: sdpa from the interface; for ``"eager"`` the
    ``eager_attention_forward`` of the module's modeling file (what ``get_interface("eager", default)`` returns)."""
    if backend != EAGER:
        return ALL_ATTENTION_FUNCTIONS[backend]
    cls = type(module)
    function = _EAGER_FUNCTIONS.get(cls)
    if function is None:
        function = getattr(sys.modules.get(cls.__module__), "eager_attention_forward", None)
        if function is None:
            raise UnsupportedAttentionError(
                f"{cls.__name__} ({cls.__module__}) has no module-level eager_attention_forward; use "
                "attn_implementation='sdpa' for attention hooks (prefix tuning) on this model."
            )
        _EAGER_FUNCTIONS[cls] = function
    return function


def computes_own_eager_attention(module: nn.Module) -> bool:
    """Whether ``module`` computes attention with its own code instead of the interface when its implementation is
    ``"eager"`` (GPT-2 with ``reorder_and_upcast_attn``: it upcasts to float32 and reorders the scaling)."""
    return bool(getattr(module, "reorder_and_upcast_attn", False))


"""The transformers internals this package relies on, in one place.

Everything here is a name or convention of transformers 5 that is not a documented extension point. If a
transformers release changes one of them, this module (and the test ``tests/architectures/test_attention.py``)
is where it shows.
"""

from __future__ import annotations

import inspect

from transformers import AttentionInterface

__all__ = [
    "AttentionInterface",
    "EAGER",
    "SUPPORTED_PREFIX_BACKENDS",
    "PACKED_SEQUENCE_KWARGS",
    "check_get_interface_signature",
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


def check_get_interface_signature() -> None:
    """Fail loudly if ``AttentionInterface.get_interface`` no longer takes ``(attn_implementation, default)``."""
    parameters = list(inspect.signature(AttentionInterface.get_interface).parameters)
    if parameters[:3] != ["self", "attn_implementation", "default"]:
        raise RuntimeError(
            "transformers' AttentionInterface.get_interface has an unexpected signature "
            f"{parameters}; this adapters version supports transformers 5.x where it is (self, attn_implementation, "
            "default)."
        )

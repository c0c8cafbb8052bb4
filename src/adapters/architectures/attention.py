"""Attention hooks, scoped to one model, through transformers' attention-function interface.

Every attention module of transformers 5 that this package supports calls::

    fn = ALL_ATTENTION_FUNCTIONS.get_interface(self.config._attn_implementation, eager_attention_forward)
    out, weights = fn(self, query, key, value, attention_mask, dropout=..., scaling=..., **kwargs)

inside its ``forward`` (after the KV-cache update, so the cache only ever holds real tokens). transformers' public
extension point for this is ``AttentionInterface.register``: we register two functions, ``"adapters_eager"`` and
``"adapters_sdpa"`` (with the matching ``AttentionMaskInterface`` entries, so masks are built exactly as for
``"eager"``/``"sdpa"``). Registering adds names and changes nothing for any model that does not use them.

When the first hook is added to an attention module, that module's config switches to the ``adapters_`` name of its
backend (:func:`add_attention_hook`); when its last hook goes, the original name comes back. So hooks act on one
model only, and installing or removing them never changes another model. Our function calls the real backend (the
modeling file's own eager function, or sdpa) unchanged unless the calling module carries hooks: modules without
hooks run bit-identically.

A hook is a callable ``hook(call: AttentionCall) -> AttentionCall`` registered on one module under a key; hooks run
in registration order and may replace the call's keys, values, mask and keyword arguments before the function runs.
:func:`prepend_keys_values` implements prepending extra key/value positions (prefix tuning) for the supported
backends: the mask formats differ per backend (eager: additive float ``(B, 1, Q, K)``; sdpa: boolean or ``None``
with ``is_causal``), T5's ``position_bias`` needs columns for the new positions, and grouped-query attention has
``num_key_value_heads`` key heads. Backends whose conventions are not implemented (flash, flex, paged attention,
packed sequences) raise :class:`~adapters.errors.UnsupportedAttentionError` instead of computing something wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..errors import UnsupportedAttentionError, UnsupportedModelError
from ._compat import (
    EAGER,
    PACKED_SEQUENCE_KWARGS,
    SUPPORTED_PREFIX_BACKENDS,
    backend_function,
    computes_own_eager_attention,
    register_attention_backend,
)

__all__ = [
    "AttentionCall",
    "HOOKED_PREFIX",
    "add_attention_hook",
    "remove_attention_hook",
    "attention_hooks",
    "hooked_implementation",
    "unhooked_implementation",
    "prepend_keys_values",
    "causal_flag",
]

_HOOKS_ATTR = "_adapters_attention_hooks"
HOOKED_PREFIX = "adapters_"


@dataclass
class AttentionCall:
    """One call of an attention function, as the hooks see (and may change) it.

    Attributes:
        fn: the resolved attention function (eager, sdpa).
        implementation: the backend name (``"eager"`` for the modeling file's own eager function, ``"sdpa"``).
        module: the attention module that makes the call.
        query, key, value: ``(batch, heads, length, head_dim)``; keys and values have ``num_key_value_heads`` heads.
        attention_mask: the mask as the backend expects it (``None``, a float or boolean 4-D tensor, ...).
        args, kwargs: the remaining arguments (``dropout``, ``scaling``, ``position_bias``, ``is_causal``, ...).
    """

    fn: Callable
    implementation: str
    module: nn.Module
    query: torch.Tensor
    key: torch.Tensor
    value: torch.Tensor
    attention_mask: Any
    args: tuple = ()
    kwargs: dict[str, Any] = field(default_factory=dict)

    def run(self):
        return self.fn(self.module, self.query, self.key, self.value, self.attention_mask, *self.args, **self.kwargs)


# --------------------------------------------------------------------------------------------------------------
# the registered attention functions
# --------------------------------------------------------------------------------------------------------------
def _hooked(backend: str) -> Callable:
    def adapters_attention(module, query, key, value, attention_mask, *args, **kwargs):
        if backend == EAGER and computes_own_eager_attention(module):
            raise UnsupportedAttentionError(
                f"{type(module).__name__} computes eager attention with its own code (reorder_and_upcast_attn), "
                "which attention hooks (prefix tuning) cannot extend; use attn_implementation='sdpa' or "
                "reorder_and_upcast_attn=False."
            )
        fn = backend_function(module, backend)
        hooks = module.__dict__.get(_HOOKS_ATTR)
        if not hooks:
            return fn(module, query, key, value, attention_mask, *args, **kwargs)
        call = AttentionCall(fn, backend, module, query, key, value, attention_mask, args, dict(kwargs))
        for hook in tuple(hooks.values()):
            call = hook(call)
        return call.run()

    adapters_attention.__name__ = f"{HOOKED_PREFIX}{backend}_attention"
    return adapters_attention


for _backend in SUPPORTED_PREFIX_BACKENDS:
    register_attention_backend(f"{HOOKED_PREFIX}{_backend}", _backend, _hooked(_backend))


def hooked_implementation(implementation: str | None) -> str:
    """The registered name that runs ``implementation`` with hooks; :class:`UnsupportedAttentionError` if none."""
    implementation = implementation or EAGER
    if implementation.startswith(HOOKED_PREFIX):
        return implementation
    if implementation not in SUPPORTED_PREFIX_BACKENDS:
        raise UnsupportedAttentionError(
            f"Attention hooks (prefix tuning) support the attention implementations "
            f"{', '.join(SUPPORTED_PREFIX_BACKENDS)}; the model uses {implementation!r}. Load or switch the model "
            "with attn_implementation='sdpa' or 'eager' (e.g. model.set_attn_implementation('sdpa'))."
        )
    return HOOKED_PREFIX + implementation


def unhooked_implementation(implementation: str | None) -> str | None:
    """The backend name behind a hooked name (``"adapters_sdpa"`` -> ``"sdpa"``); other names unchanged."""
    if implementation is not None and implementation.startswith(HOOKED_PREFIX):
        return implementation.removeprefix(HOOKED_PREFIX)
    return implementation


# --------------------------------------------------------------------------------------------------------------
# per-module hooks
# --------------------------------------------------------------------------------------------------------------
def add_attention_hook(module: nn.Module, key: str, hook: Callable[[AttentionCall], AttentionCall]) -> None:
    """Run ``hook`` on every attention-function call ``module`` makes through a hooked implementation.

    The hooks live in the module's ``__dict__`` (not as submodules), so they add no state-dict keys. Switching the
    module's config to the hooked implementation is the caller's part (``AdapterRuntime.hook_attention``).
    """
    hooks = module.__dict__.get(_HOOKS_ATTR, {})
    if key in hooks:
        raise ValueError(f"{type(module).__name__} already has an attention hook {key!r}.")
    backend_function(module, unhooked_implementation(hooked_implementation(module.config._attn_implementation)))
    hooks[key] = hook
    module.__dict__[_HOOKS_ATTR] = hooks


def remove_attention_hook(module: nn.Module, key: str) -> None:
    """Remove the hook ``key`` from ``module``; the module's attribute goes away with its last hook."""
    hooks = module.__dict__.get(_HOOKS_ATTR)
    if hooks is None:
        return
    hooks.pop(key, None)
    if not hooks:
        del module.__dict__[_HOOKS_ATTR]


def attention_hooks(module: nn.Module) -> dict[str, Callable]:
    """The hooks registered on ``module`` (a copy)."""
    return dict(module.__dict__.get(_HOOKS_ATTR, {}))


def causal_flag(call: AttentionCall) -> bool:
    """Whether the backend treats the call as causal when it gets no mask (sdpa's rule)."""
    flag = call.kwargs.get("is_causal")
    return bool(getattr(call.module, "is_causal", True) if flag is None else flag)


def _check_backend(call: AttentionCall, what: str) -> None:
    implementation = call.implementation
    if implementation not in SUPPORTED_PREFIX_BACKENDS:
        raise UnsupportedAttentionError(
            f"{what} is not supported with the attention implementation {implementation!r} (used by "
            f"{type(call.module).__name__}); supported: {', '.join(SUPPORTED_PREFIX_BACKENDS)}. Load or switch the "
            "model with attn_implementation='sdpa' or 'eager' (e.g. model.set_attn_implementation('sdpa'))."
        )
    if call.kwargs.get("cache") is not None:
        raise UnsupportedAttentionError(f"{what} does not support paged attention (continuous batching).")
    if any(call.kwargs.get(name) is not None for name in PACKED_SEQUENCE_KWARGS):
        raise UnsupportedAttentionError(f"{what} does not support packed (variable-length) batches.")
    mask = call.attention_mask
    if mask is not None and (not isinstance(mask, torch.Tensor) or mask.dim() != 4):
        raise UnsupportedAttentionError(
            f"{what} needs a 4-D attention mask or none, got {type(mask).__name__}"
            f"{tuple(mask.shape) if isinstance(mask, torch.Tensor) else ''}."
        )


def _materialized_mask(call: AttentionCall) -> torch.Tensor:
    """The boolean ``(B|1, 1, Q, K)`` mask equivalent to the call's ``mask=None`` for its backend."""
    query, key = call.query, call.key
    q_len, k_len = query.shape[-2], key.shape[-2]
    if call.implementation == "sdpa" and q_len > 1 and causal_flag(call):
        # transformers leaves sdpa's mask out (relying on is_causal, top-left aligned) only when K == Q, where this is
        # the bottom-right causal mask, or on a static cache's first call, where the keys past Q are empty slots
        rows = torch.arange(q_len, device=key.device)[:, None]
        cols = torch.arange(k_len, device=key.device)[None, :]
        return (cols <= rows).view(1, 1, q_len, k_len)
    return torch.ones(1, 1, q_len, k_len, dtype=torch.bool, device=key.device)


def prepend_keys_values(
    call: AttentionCall,
    keys: torch.Tensor,
    values: torch.Tensor,
    visible: torch.Tensor | None = None,
    what: str = "Prefix tuning",
) -> AttentionCall:
    """Put ``keys``/``values`` ``(batch, kv_heads, P, head_dim)`` in front of the call's keys and values.

    The new positions are visible to every query (``visible``, a boolean ``(batch, P)``, hides some of them, e.g.
    padding between prefixes of different lengths). The mask is extended in the backend's format; sdpa calls that
    relied on ``is_causal`` get an explicit causal mask (sdpa would otherwise align ``is_causal`` top-left over the
    longer key sequence and crop the keys); T5's ``position_bias`` gets zero bias for the new columns.
    """
    _check_backend(call, what)
    query, key = call.query, call.key
    n_new = keys.shape[-2]
    if keys.shape[1] != key.shape[1] or keys.shape[-1] != key.shape[-1]:
        raise UnsupportedModelError(
            f"{what}: {type(call.module).__name__} has keys with {key.shape[1]} heads of size {key.shape[-1]}, "
            f"the prefix has {keys.shape[1]} heads of size {keys.shape[-1]} (check num_key_value_heads / head_dim "
            "in the model config)."
        )
    if n_new == 0:
        return call
    batch = key.shape[0]
    mask = call.attention_mask
    if mask is None and visible is None:
        needs_mask = call.implementation == "sdpa" and query.shape[-2] > 1 and causal_flag(call)
        if needs_mask:
            mask = _materialized_mask(call)
    elif mask is None:
        mask = _materialized_mask(call)
    if mask is not None:
        if mask.dtype == torch.bool:
            columns = torch.ones(*mask.shape[:-1], n_new, dtype=torch.bool, device=mask.device)
            if visible is not None:
                columns = columns.expand(batch, *mask.shape[1:-1], n_new) & visible[:, None, None, :]
                mask = mask.expand(batch, *mask.shape[1:])
        else:
            columns = torch.zeros(*mask.shape[:-1], n_new, dtype=mask.dtype, device=mask.device)
            if visible is not None:
                hidden = torch.finfo(mask.dtype).min
                columns = columns.expand(batch, *mask.shape[1:-1], n_new).masked_fill(
                    ~visible[:, None, None, :], hidden
                )
                mask = mask.expand(batch, *mask.shape[1:])
        if call.implementation == EAGER and mask.dtype == torch.bool:
            # eager functions add the mask to the scores: convert our materialised boolean mask
            min_value = torch.finfo(query.dtype).min
            mask = torch.zeros(mask.shape, dtype=query.dtype, device=mask.device).masked_fill(~mask, min_value)
            columns = torch.zeros(columns.shape, dtype=query.dtype, device=mask.device).masked_fill(
                ~columns, min_value
            )
        mask = torch.cat([columns, mask], dim=-1)
    kwargs = dict(call.kwargs)
    position_bias = kwargs.get("position_bias")
    if isinstance(position_bias, torch.Tensor):
        kwargs["position_bias"] = torch.cat(
            [position_bias.new_zeros(*position_bias.shape[:-1], n_new), position_bias], dim=-1
        )
    call.key = torch.cat([keys.to(key.dtype), key], dim=-2)
    call.value = torch.cat([values.to(call.value.dtype), call.value], dim=-2)
    call.attention_mask = mask
    call.kwargs = kwargs
    return call

"""One wrapper around transformers' attention-function interface, and per-attention-module hooks.

Every attention module of transformers 5 that this package supports calls::

    fn = ALL_ATTENTION_FUNCTIONS.get_interface(config._attn_implementation, eager_attention_forward)
    out, weights = fn(self, query, key, value, attention_mask, dropout=..., scaling=..., **kwargs)

inside its ``forward`` (after the KV-cache update, so the cache only ever holds real tokens). We wrap
``AttentionInterface.get_interface`` once, at class level: it still resolves every backend exactly as before
(including the modeling file's own eager function) and returns the resolved function wrapped by a thin function
that calls it unchanged unless the calling module carries hooks. Modules without hooks therefore run bit-identically
(same function, same arguments). The wrapper is idempotent (installed once, wrappers cached per function) and
reversible (:func:`uninstall_attention_wrapper` restores the original method).

A hook is a callable ``hook(call: AttentionCall) -> AttentionCall`` registered on one module under a key; hooks run
in registration order and may replace the call's keys, values, mask and keyword arguments before the function runs.
:func:`prepend_keys_values` implements prepending extra key/value positions (prefix tuning) for the supported
backends: the mask formats differ per backend (eager: additive float ``(B, 1, Q, K)``; sdpa: boolean or ``None``
with ``is_causal``), T5's ``position_bias`` needs columns for the new positions, and grouped-query attention has
``num_key_value_heads`` key heads. Backends whose conventions are not implemented (flash, flex, paged attention,
packed sequences) raise :class:`~adapters.errors.UnsupportedAttentionError` instead of computing something wrong.
"""

from __future__ import annotations

import functools
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
    AttentionInterface,
    check_get_interface_signature,
)

__all__ = [
    "AttentionCall",
    "add_attention_hook",
    "remove_attention_hook",
    "attention_hooks",
    "install_attention_wrapper",
    "uninstall_attention_wrapper",
    "attention_wrapper_installed",
    "prepend_keys_values",
    "causal_flag",
]

_HOOKS_ATTR = "_adapters_attention_hooks"
_ORIGINAL_ATTR = "__adapters_original__"
_WRAPPERS: dict[tuple[Callable, str], Callable] = {}


@dataclass
class AttentionCall:
    """One call of an attention function, as the hooks see (and may change) it.

    Attributes:
        fn: the resolved attention function (eager, sdpa, ...).
        implementation: the backend name the model asked for (``config._attn_implementation``; ``"eager"`` for the
            modeling file's own eager function).
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
# the wrapper
# --------------------------------------------------------------------------------------------------------------
def _wrap(fn: Callable, implementation: str) -> Callable:
    if fn is None or getattr(fn, _ORIGINAL_ATTR, None) is not None:
        return fn
    cache_key = (fn, implementation)
    wrapper = _WRAPPERS.get(cache_key)
    if wrapper is not None:
        return wrapper

    @functools.wraps(fn)
    def adapters_attention(module, query, key, value, attention_mask, *args, **kwargs):
        hooks = module.__dict__.get(_HOOKS_ATTR) if isinstance(module, nn.Module) else None
        if not hooks:
            return fn(module, query, key, value, attention_mask, *args, **kwargs)
        call = AttentionCall(fn, implementation, module, query, key, value, attention_mask, args, dict(kwargs))
        for hook in tuple(hooks.values()):
            call = hook(call)
        return call.run()

    setattr(adapters_attention, _ORIGINAL_ATTR, fn)
    _WRAPPERS[cache_key] = adapters_attention
    return adapters_attention


def install_attention_wrapper() -> None:
    """Wrap ``AttentionInterface.get_interface`` (idempotent)."""
    current = AttentionInterface.get_interface
    if getattr(current, _ORIGINAL_ATTR, None) is not None:
        return
    check_get_interface_signature()
    original = current

    @functools.wraps(original)
    def get_interface(self, attn_implementation, default):
        return _wrap(original(self, attn_implementation, default), attn_implementation or EAGER)

    setattr(get_interface, _ORIGINAL_ATTR, original)
    AttentionInterface.get_interface = get_interface


def uninstall_attention_wrapper() -> None:
    """Restore transformers' own ``AttentionInterface.get_interface`` (idempotent).

    Hooks registered on modules stay but are no longer called; prefix tuning then raises
    :class:`~adapters.errors.UnsupportedAttentionError` at its next forward (it checks that its hook ran).
    """
    original = getattr(AttentionInterface.get_interface, _ORIGINAL_ATTR, None)
    if original is not None:
        AttentionInterface.get_interface = original
    _WRAPPERS.clear()


def attention_wrapper_installed() -> bool:
    return getattr(AttentionInterface.get_interface, _ORIGINAL_ATTR, None) is not None


# --------------------------------------------------------------------------------------------------------------
# per-module hooks
# --------------------------------------------------------------------------------------------------------------
def add_attention_hook(module: nn.Module, key: str, hook: Callable[[AttentionCall], AttentionCall]) -> None:
    """Run ``hook`` on every attention-function call made by ``module`` (installs the wrapper if needed).

    The hooks live in the module's ``__dict__`` (not as submodules), so they add no state-dict keys.
    """
    install_attention_wrapper()
    hooks = module.__dict__.setdefault(_HOOKS_ATTR, {})
    if key in hooks:
        raise ValueError(f"{type(module).__name__} already has an attention hook {key!r}.")
    hooks[key] = hook


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


# --------------------------------------------------------------------------------------------------------------
# prepending key/value positions
# --------------------------------------------------------------------------------------------------------------
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

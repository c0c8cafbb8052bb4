"""Attention hooks for the families whose attention modules compute attention themselves (GPT-J, DeBERTa,
DeBERTa-v2, MPNet): they never call transformers' attention interface, so :mod:`adapters.architectures.attention`
cannot reach them. No forward is copied; each family's glue works at the boundaries its module exposes:

* **GPT-J** computes ``softmax(q kᵀ / s + mask) v`` in its ``_attn(query, key, value, attention_mask)`` method,
  after rotary embeddings and the KV-cache update. An instance attribute of the same name wraps the class's method:
  the hooks see the call as an eager :class:`~adapters.architectures.attention.AttentionCall` (additive 4-D mask),
  exactly like interface-based modules, so the cache only holds real tokens and prefix keys are position-free.
* **DeBERTa, DeBERTa-v2, MPNet** compute keys and values from the module's input with their own projections and add
  relative-position terms (DeBERTa's disentangled ``c2p``/``p2c`` bias, MPNet's ``position_bias``). A pre-hook puts
  ``P`` placeholder positions in front of the module's input (and of ``query_states``), extends the mask to the
  ``(P+L) × (P+L)`` square (prefix columns visible, placeholder rows see everything) and pads the relative-position
  terms with zeros for the placeholder rows and columns (prefix positions have no relative position, as the prefix
  of T5 gets no bias); hooks on the key and value projections overwrite the placeholder rows of their outputs with
  the prefix keys and values (DeBERTa's fused ``in_proj``: the ``k``/``v`` slices of each head; its ``v_bias``,
  added afterwards, is subtracted first); a forward hook drops the placeholder rows of the output. DeBERTa's
  relative bias method is wrapped on the instance so it runs on the real positions only and is padded with zeros.

The hooks themselves are the ones attention-interface modules get (``hook(call) -> call``): the prefix (and its
visibility mask) is obtained by running them on an empty eager call. A call that bypasses the hooked projections
(DeBERTa's ``query_states`` path multiplies ``in_proj.weight`` directly) would leave the prefix unapplied: it raises
:class:`~adapters.errors.UnsupportedAttentionError` instead of returning a wrong output.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import torch
from torch import nn

from ..errors import UnsupportedAttentionError
from .attach import HOOK_COMPUTE, HOOK_CONSUME, AdapterRuntime, resolve_path
from .attention import AttentionCall

__all__ = ["LEGACY_FAMILIES", "add_legacy_hook", "remove_legacy_hook", "legacy_hooks"]

_HOOKS_ATTR = "_adapters_legacy_attention_hooks"
_GLUE_ATTR = "_adapters_legacy_attention_glue"
_AFTER_PREFIX_SITE = HOOK_CONSUME + 1  # input-hook order: after the prefix site stored its gate input


def legacy_hooks(module: nn.Module) -> dict[str, Callable]:
    """The hooks registered on ``module`` (a copy)."""
    return dict(module.__dict__.get(_HOOKS_ATTR, {}))


def add_legacy_hook(runtime: AdapterRuntime, family: str, module: nn.Module, key: str, hook: Callable) -> None:
    """Run ``hook`` (``hook(AttentionCall) -> AttentionCall``) on every attention ``module`` (of ``family``, a key
    of :data:`LEGACY_FAMILIES`) computes; the family's glue is installed with the first hook."""
    hooks = module.__dict__.setdefault(_HOOKS_ATTR, {})
    if key in hooks:
        raise ValueError(f"{type(module).__name__} already has an attention hook {key!r}.")
    hooks[key] = hook
    if _GLUE_ATTR not in module.__dict__:
        module.__dict__[_GLUE_ATTR] = LEGACY_FAMILIES[family](runtime, module)
    runtime.changed()


def remove_legacy_hook(runtime: AdapterRuntime, module: nn.Module, key: str) -> None:
    """Remove hook ``key``; the glue goes with the last hook."""
    hooks = module.__dict__.get(_HOOKS_ATTR, {})
    hooks.pop(key, None)
    if not hooks:
        module.__dict__.pop(_HOOKS_ATTR, None)
        uninstall = module.__dict__.pop(_GLUE_ATTR, None)
        if uninstall is not None:
            uninstall()
    runtime.changed()


def _run_hooks(call: AttentionCall) -> AttentionCall:
    for hook in tuple(call.module.__dict__.get(_HOOKS_ATTR, {}).values()):
        call = hook(call)
    return call


# --------------------------------------------------------------------------------------------------------------
# GPT-J: the _attn method
# --------------------------------------------------------------------------------------------------------------
def _gptj(runtime: AdapterRuntime, module: nn.Module) -> Callable[[], None]:
    compute = type(module)._attn

    def attn(query, key, value, attention_mask=None):
        call = AttentionCall(lambda m, q, k, v, mask: compute(m, q, k, v, mask), "eager", module, query, key, value,
                             attention_mask)  # fmt: skip
        return _run_hooks(call).run()

    module._attn = attn
    return lambda: module.__dict__.pop("_attn", None)


# --------------------------------------------------------------------------------------------------------------
# DeBERTa, DeBERTa-v2, MPNet: placeholder positions in front of the module's input
# --------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Layout:
    """Where one family's module takes what the glue changes.

    Attributes:
        projections: ``(path, part)`` of the layers computing keys and values from the input: part ``"k"``, ``"v"``
            or ``"qkv"`` (DeBERTa's fused ``in_proj``, per head ``[q | k | v]``).
        boolean_mask: the module takes a boolean-like mask (DeBERTa) rather than an additive float one (MPNet).
        bias_method: the method computing the relative-position bias from query and key layers (DeBERTa).
        bias_kwarg: the argument carrying a precomputed ``(B|1, H, L, L)`` position bias (MPNet).
    """

    projections: tuple[tuple[str, str], ...]
    boolean_mask: bool
    bias_method: str | None = None
    bias_kwarg: str | None = None


@dataclass
class _Pending:
    """The prefix of the module call in progress: its length, keys/values ``(B, H, P, d)``, extended input, and the
    projection parts that wrote their prefix rows so far."""

    length: int
    keys: torch.Tensor
    values: torch.Tensor
    hidden: torch.Tensor
    applied: set[str] = field(default_factory=set)


def _arguments(module: nn.Module, args: tuple, kwargs: dict) -> dict:
    """The call's arguments by name (``**kwargs`` of the forward flattened)."""
    signature = inspect.signature(module.forward)
    arguments = {}
    for name, value in signature.bind_partial(*args, **kwargs).arguments.items():
        if signature.parameters[name].kind is inspect.Parameter.VAR_KEYWORD:
            arguments.update(value)
        else:
            arguments[name] = value
    return arguments


def _prefix(module: nn.Module, heads: int, head_dim: int, like: torch.Tensor):
    """The hooks' keys, values ``(B, H, P, d)`` and additive column mask (``None``: all visible) for this call."""
    empty = like.new_zeros(like.shape[0], heads, 0, head_dim)
    query = like.new_zeros(like.shape[0], heads, 1, head_dim)
    call = _run_hooks(AttentionCall(None, "eager", module, query, empty, empty, None))
    return call.key, call.value, call.attention_mask


def _square_mask(mask, length: int, total: int, columns, boolean: bool):
    """``mask`` over ``L`` positions as a ``(B, 1, P+L, P+L)`` mask: placeholder rows see all, prefix columns as
    ``columns`` (additive ``(B, 1, 1, P)`` or ``None``: visible)."""
    if mask is None and columns is None:
        return None
    prefix = total - length
    reference = columns if mask is None else mask
    batch = reference.shape[0]
    if boolean:
        square = torch.ones(batch, 1, total, total, dtype=torch.bool, device=reference.device)
        if mask is not None:
            square[..., prefix:, prefix:] = mask.bool().expand(batch, 1, length, length)
        if columns is not None:
            square[..., prefix:, :prefix] = (columns == 0).expand(batch, 1, length, prefix)
        return square if mask is None or mask.dtype == torch.bool else square.to(mask.dtype)
    dtype = reference.dtype
    square = torch.zeros(batch, 1, total, total, dtype=dtype, device=reference.device)
    if mask is not None:
        square[..., prefix:, prefix:] = mask.expand(batch, 1, length, length)
    if columns is not None:
        square[..., prefix:, :prefix] = columns.to(dtype).expand(batch, 1, length, prefix)
    return square


def _prefix_rows(pending: _Pending, part: str, module: nn.Module, width: int) -> torch.Tensor:
    """The projection output rows ``(B, P, width)`` that yield the prefix keys/values after the module's reshape."""
    keys, values = pending.keys, pending.values
    batch, heads, length, head_dim = keys.shape
    if part == "qkv":  # DeBERTa: per head [q | k | v]; v_bias is added after the projection
        v_bias = getattr(module, "v_bias", None)
        if v_bias is not None:
            values = values - v_bias.view(1, heads, 1, head_dim).to(values.dtype)
        rows = torch.cat([torch.zeros_like(keys), keys, values], dim=-1)
    else:
        rows = keys if part == "k" else values
    return rows.permute(0, 2, 1, 3).reshape(batch, length, width)


def _extended(layout: _Layout, runtime: AdapterRuntime, module: nn.Module) -> Callable[[], None]:
    key = f"legacy-prefix:{id(module)}"
    heads = int(module.num_attention_heads)

    def before(mod, args, kwargs):
        call = runtime.current()
        if call is None:
            return None
        arguments = _arguments(mod, args, kwargs)
        hidden = arguments["hidden_states"]
        head_dim = int(getattr(mod, "attention_head_size", hidden.shape[-1] // heads))
        keys, values, columns = _prefix(mod, heads, head_dim, hidden)
        prefix = keys.shape[-2]
        if prefix == 0:
            return None
        length, total = hidden.shape[1], hidden.shape[1] + prefix
        for name in ("hidden_states", "query_states"):
            if arguments.get(name) is not None:
                value = arguments[name]
                arguments[name] = torch.cat([value.new_zeros(value.shape[0], prefix, value.shape[-1]), value], 1)
        arguments["attention_mask"] = _square_mask(
            arguments.get("attention_mask"), length, total, columns, layout.boolean_mask
        )
        bias = arguments.get(layout.bias_kwarg) if layout.bias_kwarg else None
        if bias is not None:
            arguments[layout.bias_kwarg] = nn.functional.pad(bias, (prefix, 0, prefix, 0))
        call.scratch[key] = _Pending(prefix, keys, values, arguments["hidden_states"])
        return (), arguments

    def projection(part: str, linear, args, output):
        call = runtime.current()
        pending = None if call is None else call.scratch.get(key)
        if pending is None or not args or args[0] is not pending.hidden:
            return None
        rows = _prefix_rows(pending, part, module, output.shape[-1]).to(output.dtype)
        pending.applied.add(part)
        return torch.cat([rows, output[:, pending.length :]], dim=1)

    def after(mod, args, output):
        call = runtime.current()
        pending = None if call is None else call.scratch.pop(key, None)
        if pending is None:
            return None
        missing = {part for _, part in layout.projections} - pending.applied
        if missing:
            raise UnsupportedAttentionError(
                f"Prefix tuning is active at {type(mod).__name__}, but this call computed its keys/values without "
                f"the projection layers {sorted(p for p, part in layout.projections if part in missing)} (e.g. "
                "DeBERTa's query_states path), so the prefix could not be inserted. Call the module without "
                "query_states, or deactivate the prefix-tuning adapter for this call."
            )
        cut = pending.length
        context, *rest = output
        rest = [r[..., cut:, :] if isinstance(r, torch.Tensor) else r for r in rest]
        return (context[:, cut:], *rest)

    handles = [
        runtime.register_input_hook(before, _AFTER_PREFIX_SITE, module=module),
        runtime.register_output_hook(module, after, HOOK_COMPUTE),
    ]
    for path, part in layout.projections:
        linear, _ = resolve_path(module, path)
        handles.append(runtime.register_output_hook(linear, partial(projection, part), HOOK_CONSUME))
    if layout.bias_method is not None:
        module.__dict__[layout.bias_method] = _real_positions_bias(runtime, key, getattr(module, layout.bias_method))

    def uninstall() -> None:
        for handle in handles:
            runtime.remove_hook(handle)
        if layout.bias_method is not None:
            module.__dict__.pop(layout.bias_method, None)

    return uninstall


def _real_positions_bias(runtime: AdapterRuntime, key: str, compute: Callable) -> Callable:
    """DeBERTa's relative bias on the real positions only, padded with zeros for the placeholder rows/columns."""

    def bias(query_layer, key_layer, relative_pos, rel_embeddings, scale_factor):
        call = runtime.current()
        pending = None if call is None else call.scratch.get(key)
        if pending is None:
            return compute(query_layer, key_layer, relative_pos, rel_embeddings, scale_factor)
        cut = pending.length
        real = compute(query_layer[..., cut:, :], key_layer[..., cut:, :], relative_pos, rel_embeddings, scale_factor)
        return nn.functional.pad(real, (cut, 0, cut, 0)) if isinstance(real, torch.Tensor) else real

    return bias


LEGACY_FAMILIES: dict[str, Callable[[AdapterRuntime, nn.Module], Callable[[], None]]] = {
    "gptj": _gptj,
    "deberta": partial(_extended, _Layout((("in_proj", "qkv"),), True, bias_method="disentangled_att_bias")),
    "deberta-v2": partial(
        _extended,
        _Layout((("key_proj", "k"), ("value_proj", "v")), True, bias_method="disentangled_attention_bias"),
    ),
    "mpnet": partial(_extended, _Layout((("k", "k"), ("v", "v")), False, bias_kwarg="position_bias")),
}

"""The generic fallback: derive an :class:`ArchitectureSpec` for a model type that has none, from its module tree.

What it looks for, in the base model:

* the layer list: the ``nn.ModuleList`` (or lists, for encoder-decoder models) of the layer class that
  transformers records hidden states from (``_can_record_outputs["hidden_states"]``), or else lists of identical
  modules that contain attention projections;
* in the first layer, the attention module: the module holding query/key/value projections (separate or fused);
* the residual structure, observed in one short forward pass on dummy token ids with forward hooks on the first
  layer's modules: pre-LN (``x + attn(norm(x))``: the norm's input is the residual, the attention module's output
  is ``h``) or post-LN (``norm(x + h)``: the norm is replaced by the adapter's result), for the attention block and
  for the feed-forward block;
* the feed-forward projections (first and last linear layer called in the feed-forward block), for LoRA;
* the token embeddings (``get_input_embeddings()``), for prompt tuning.

When something cannot be found, :class:`~adapters.errors.UnsupportedModelError` names the model type and every spec
field that could not be derived.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

import torch
from torch import nn

from ..errors import UnsupportedModelError
from .sites import ATTENTION_STORE, OUTPUT_STORE, ffn
from .spec import ArchitectureSpec, AttentionSite, BottleneckSite, InvertibleSite, LayerGroup, LoRASite, PromptSite

__all__ = ["derive_spec", "DERIVED_REASON_PREFIX"]

DERIVED_REASON_PREFIX = "derived by the generic fallback"
_QKV_NAMES = (
    ("q_proj", "k_proj", "v_proj"), ("query", "key", "value"), ("q", "k", "v"),
    ("query_proj", "key_proj", "value_proj"), ("q_lin", "k_lin", "v_lin"),
)  # fmt: skip
_FUSED_QKV_NAMES = ("qkv_proj", "Wqkv", "c_attn", "query_key_value", "qkv", "in_proj")


@dataclass
class _Call:
    """One recorded module call in the probe forward."""

    path: str
    order: int
    args: tuple
    kwargs: dict
    output: object = None
    end: int = -1


@dataclass
class _Probe:
    """Every module call inside the first layer (paths relative to the layer), in call order."""

    calls: list[_Call] = field(default_factory=list)

    def by_path(self, path: str) -> _Call | None:
        return next((c for c in self.calls if c.path == path), None)


def _tensor(value) -> torch.Tensor | None:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (tuple, list)) and value and isinstance(value[0], torch.Tensor):
        return value[0]
    return None


def _plus(a, b) -> torch.Tensor | None:
    """``a + b`` for two tensors (first elements of tuples) of the same shape, else ``None``."""
    a, b = _tensor(a), _tensor(b)
    return a + b if a is not None and b is not None and a.shape == b.shape else None


def _same(a, b) -> bool:
    a, b = _tensor(a), _tensor(b)
    return a is not None and b is not None and a.shape == b.shape and torch.allclose(a, b, atol=1e-5, rtol=1e-4)


# --------------------------------------------------------------------------------------------------------------
# layers and attention
# --------------------------------------------------------------------------------------------------------------


def _layer_class(base: nn.Module) -> type | None:
    recorded = getattr(base, "_can_record_outputs", None) or {}
    target = recorded.get("hidden_states")
    return getattr(target, "target_class", target) if target is not None else None


def _attention_in(module: nn.Module) -> tuple[str, tuple[str, ...]] | None:
    """``(path, projection names)`` of the first submodule holding q/k/v projections (fused: one name)."""
    for path, sub in module.named_modules():
        children = dict(sub.named_children())
        for names in _QKV_NAMES:
            if all(isinstance(children.get(n), nn.Linear) for n in names):
                return path, names
        for name in _FUSED_QKV_NAMES:
            if isinstance(children.get(name), nn.Module) and hasattr(children[name], "weight"):
                return path, (name,)
    return None


def _layer_lists(base: nn.Module) -> list[str]:
    """Paths of the layer lists, encoder first."""
    layer_class = _layer_class(base)
    found = []
    for path, module in base.named_modules():
        if not isinstance(module, nn.ModuleList) or len(module) == 0:
            continue
        first = module[0]
        if layer_class is not None:
            if isinstance(first, layer_class):
                found.append(path)
        elif all(type(m) is type(first) for m in module) and _attention_in(first) is not None:
            found.append(path)
    found = [p for p in found if not any(p != q and p.startswith(f"{q}.") for q in found)]  # outermost lists
    return sorted(found, key=lambda p: (0 if "encoder" in p else 1, p))


def _calls_attention_interface(module: nn.Module) -> bool:
    try:
        return "get_interface(" in inspect.getsource(type(module).forward)
    except (OSError, TypeError):
        return False


# --------------------------------------------------------------------------------------------------------------
# the probe forward
# --------------------------------------------------------------------------------------------------------------


def _probe(model: nn.Module, layer: nn.Module) -> _Probe:
    probe, counter, handles = _Probe(), [0], []
    open_calls: dict[int, _Call] = {}

    def pre(path):
        def hook(module, args, kwargs):
            if path in {c.path for c in probe.calls}:
                return None  # a shared layer (ALBERT) is called again: keep the first call
            call = _Call(path, counter[0], args, kwargs)
            counter[0] += 1
            probe.calls.append(call)
            open_calls[id(module)] = call
            return None

        return hook

    def post(module, args, output):
        call = open_calls.pop(id(module), None)
        if call is not None:
            call.output, call.end = output, counter[0]
            counter[0] += 1

    for path, module in layer.named_modules():
        handles.append(module.register_forward_pre_hook(pre(path), with_kwargs=True))
        handles.append(module.register_forward_hook(post))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(**_dummy_inputs(model))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return probe


def _dummy_inputs(model: nn.Module) -> dict[str, torch.Tensor]:
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    vocab = int(getattr(config, "vocab_size", None) or 8)
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(min(3, vocab - 1), vocab, (1, 6), generator=generator).to(device)
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    if getattr(model.config, "is_encoder_decoder", False):
        batch["decoder_input_ids"] = ids[:, :4]
    return batch


def _is_norm(path: str, probe: _Probe, layer: nn.Module) -> bool:
    module = layer.get_submodule(path) if path else layer
    return "norm" in type(module).__name__.lower()


def _argument_holding(call: _Call, value) -> tuple[int, str] | None:
    """``(positional index, keyword)`` under which ``call`` received ``value`` (index -1 if by keyword)."""
    for index, arg in enumerate(call.args):
        if _same(arg, value):
            return index, "hidden_states"
    for key, arg in call.kwargs.items():
        if _same(arg, value):
            return len(call.args) + 99, key  # never positional: read by keyword
    return None


def _is_inside(path: str, ancestor: str) -> bool:
    return ancestor == "" or path == ancestor or path.startswith(f"{ancestor}.")


# --------------------------------------------------------------------------------------------------------------
# residual structure of one block (attention or feed-forward)
# --------------------------------------------------------------------------------------------------------------


def _pre_ln_site(
    location, store, probe, layer, x, after: int, core: str | None
) -> tuple[BottleneckSite, object] | None:
    """``x + S(norm(x))``: a norm called after ``after`` on ``x``, a sub-block S whose output plus ``x`` is the next
    residual stream. Returns the site and the new residual stream."""
    for norm in (c for c in probe.calls if c.order > after and _is_norm(c.path, probe, layer)):
        if not (norm.args and _same(norm.args[0], x)):
            continue
        consumers = [c for c in probe.calls if c.order > norm.end and c.path and _argument_holding(c, norm.output)]
        for sub in consumers:
            if core is not None and not _is_inside(core, sub.path):
                continue
            new_stream = _plus(x, sub.output)
            if new_stream is not None and _stream_continues(probe, sub, new_stream):
                return BottleneckSite(location, store, norm.path, sub.path), new_stream
    return None


def _stream_continues(probe: _Probe, sub: _Call, stream: torch.Tensor) -> bool:
    """The residual stream ``stream`` reaches a later module (or is the layer's output)."""
    if _same(probe.by_path("").output, stream):
        return True
    return any(c.order > sub.end and c.path and _argument_holding(c, stream) for c in probe.calls)


def _post_ln_site(location, store, probe, layer, x, after: int) -> tuple[BottleneckSite, object] | None:
    """``norm(x + h)``: a norm whose input is ``x`` plus the output of a module called before it."""
    for norm in (c for c in probe.calls if c.order > after and _is_norm(c.path, probe, layer) and c.args):
        candidates = [c for c in probe.calls if after < c.order and c.end < norm.order and c.path]
        for h in sorted(candidates, key=lambda c: -c.end):
            if not _same(norm.args[0], _plus(x, h.output)):
                continue
            holders = [c for c in probe.calls if after < c.order <= h.order and c.path and _argument_holding(c, x)]
            if not holders:
                continue
            owner = next((c for c in reversed(holders) if _is_inside(h.path, c.path)), holders[0])
            index, key = _argument_holding(owner, x)
            site = BottleneckSite(
                location, store, owner.path, h.path, norm=norm.path, residual_arg=index, residual_kwarg=key
            )
            return site, norm.output
    return None


def _block_site(location, store, probe, layer, x, after, core=None):
    return _pre_ln_site(location, store, probe, layer, x, after, core) or _post_ln_site(
        location, store, probe, layer, x, after
    )


# --------------------------------------------------------------------------------------------------------------
# the spec
# --------------------------------------------------------------------------------------------------------------


def _lora_sites(layer: nn.Module, attention: str, names: tuple[str, ...], probe: _Probe, after: int):
    prefix = f"{attention}." if attention else ""
    if len(names) == 1:
        sites = (LoRASite("selfattn", f"{prefix}{names[0]}", ("q", "k", "v")),)
    else:
        sites = tuple(LoRASite("selfattn", f"{prefix}{n}", (m,)) for m, n in zip("qkv", names))
    linears = [
        c.path
        for c in probe.calls
        if c.order > after and isinstance(layer.get_submodule(c.path) if c.path else layer, nn.Linear)
        and not _is_inside(c.path, attention)
    ]  # fmt: skip
    if len(linears) < 2:
        return sites, False
    ups = [p for p in linears[:-1] if "up" in p.rsplit(".", 1)[-1].lower()]
    return sites + ffn(ups[0] if ups else linears[0], linears[-1]), True


def _group(base: nn.Module, model: nn.Module, path: str, missing: list[str]) -> LayerGroup | None:
    layer = base.get_submodule(path)[0]
    found = _attention_in(layer)
    if found is None:
        missing.append(f"attention with query/key/value projections (in {path}.0)")
        return None
    attention, names = found
    probe = _probe(model, layer)
    layer_call = probe.by_path("")
    if layer_call is None:
        missing.append(f"a call of {path}.0 in a forward pass on token ids")
        return None
    x = layer_call.args[0] if layer_call.args else layer_call.kwargs.get("hidden_states")
    mh = _block_site("mh_adapter", ATTENTION_STORE, probe, layer, x, 0, core=attention)
    if mh is None:
        missing.append("the attention block's residual structure (mh_adapter: residual, output, norm)")
        return None
    mh_site, stream = mh
    after = max(c.end for c in probe.calls if c.path and _is_inside(c.path, mh_site.output))
    out = _block_site("output_adapter", OUTPUT_STORE, probe, layer, stream, after)
    if out is None:
        missing.append("the feed-forward block's residual structure (output_adapter: residual, output, norm)")
        return None
    lora, has_ffn = _lora_sites(layer, attention, names, probe, after)
    if not has_ffn:
        missing.append("feed-forward projections (LoRA intermediate/output)")
    core = layer.get_submodule(attention)
    attention_sites = (AttentionSite(attention, "self_prefix"),) if _calls_attention_interface(core) else ()
    return LayerGroup(path, (mh_site, out[0]), lora, attention_sites, inputs=_inputs_path(path))


def _inputs_path(layers_path: str) -> str:
    """The stack owning the layers (``encoder``/``decoder``) for encoder-decoder models; the base model otherwise."""
    head = layers_path.split(".")[0]
    return head if head in ("encoder", "decoder") else ""


def _embeddings_path(base: nn.Module) -> str | None:
    try:
        embeddings = base.get_input_embeddings()
    except (NotImplementedError, AttributeError):
        return None
    return next((path for path, module in base.named_modules() if module is embeddings), None)


def derive_spec(model: nn.Module) -> ArchitectureSpec:
    """Derive a spec from ``model``'s module tree (see the module docstring).

    Raises:
        UnsupportedModelError: naming the model type and the spec fields that could not be found.
    """
    from .specs import supported_model_types

    model_type = getattr(getattr(model, "config", None), "model_type", None)
    base = getattr(model, "base_model", None)
    if not isinstance(base, nn.Module):
        raise UnsupportedModelError(
            f"{type(model).__name__} is not a transformers model (it has no config.model_type and no base_model), "
            "so no spec can be found or derived. Pass a transformers PreTrainedModel, or describe your own model "
            "with adapters.AdapterModelInterface and call adapters.init(model, interface=...)."
        )
    missing: list[str] = []
    paths = _layer_lists(base)
    if not paths:
        missing.append("the layer list (an nn.ModuleList of transformer layers)")
    groups = []
    for path in paths:
        try:
            group = _group(base, model, path, missing)
        except Exception as error:  # noqa: BLE001 - any failure of the probe means: not derivable
            missing.append(f"a forward pass on token ids to observe {path}.0 ({type(error).__name__}: {error})")
            group = None
        if group is not None:
            groups.append(group)
    if missing or not groups:
        raise UnsupportedModelError(
            f"Model type {model_type!r} ({type(model).__name__}) has no architecture spec, and the generic fallback "
            f"could not derive one: could not find {'; '.join(missing)}. Write a spec (docs/adding_architecture.md) "
            f"or pass an AdapterModelInterface to adapters.init(model, interface=...). Model types with a spec: "
            f"{', '.join(supported_model_types())}."
        )
    embeddings = _embeddings_path(base)
    unsupported = []
    if not all(group.attention_sites for group in groups):
        unsupported.append(("prefix_tuning", f"{DERIVED_REASON_PREFIX}: the attention does not call the interface"))
    encoder_decoder = len(groups) > 1
    if embeddings is None or encoder_decoder:
        unsupported.append(("prompt_tuning", f"{DERIVED_REASON_PREFIX}: no single token-embedding input"))
    return ArchitectureSpec(
        name=f"{model_type} (derived)",
        model_types=(model_type,),
        layer_groups=tuple(groups),
        invertible=None if encoder_decoder else InvertibleSite(store="", first_layer=f"{groups[0].path}.0"),
        prompt=None if embeddings is None or encoder_decoder else PromptSite(embeddings, mode="inputs_embeds"),
        titles=(model_type,),
        unsupported=tuple(unsupported),
    )

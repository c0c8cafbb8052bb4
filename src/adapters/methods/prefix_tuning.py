"""Prefix tuning (Li & Liang, 2021, "Prefix-Tuning: Optimizing Continuous Prompts for Generation",
https://arxiv.org/abs/2101.00190).

Every adapted attention module attends over ``P`` learned key/value positions in front of the real ones:

    attention(Q, [P_k; K], [P_v; V])    with P_k, P_v ∈ R^{kv_heads × P × head_dim} per layer

The prefixes of all layers at one location (``self_prefix``, ``encoder_prefix``, ``cross_prefix``) come from one
module with the reference's parameterisation: ``control_trans(wte)`` where ``wte`` is an ``Embedding(P, hidden)``
and ``control_trans = Linear(hidden, bottleneck) → non_linearity → Linear(bottleneck, n_layers·2·kv_heads·head_dim)``
(``flat=True``: one learned vector of that size). The output is laid out ``(P, n_layers·2, kv_heads, head_dim)``:
layer ``l`` uses slot ``2l`` for keys and ``2l+1`` for values. With ``use_gating`` a per-site gate
``g = mean_seq(sigmoid(W x + b))`` (``x``: the attention module's input) scales the prefix keys by ``g[0]`` and the
values by ``g[-1]`` (``shared_gating``: one gate for both).

Prefixes are computed inside each attention call (only that layer's slice of the last linear layer), so
activation checkpointing re-computes them with the layer, also with ``use_reentrant=True``. They are added through
the attention-function wrapper of :mod:`adapters.architectures.attention`, or, for the families whose attention
modules compute attention themselves (GPT-J, DeBERTa, DeBERTa-v2, MPNet: ``AttentionSite.legacy``), through the glue of
:mod:`adapters.architectures.legacy_attention`; no attention code is copied.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import torch
from torch import nn

from ..architectures.attach import HOOK_CONSUME, AdapterRuntime, LayerRef, resolve_path
from ..architectures.attention import (
    AttentionCall,
    attention_hooks,
    prepend_keys_values,
    shift_position_bias,
    unhooked_implementation,
)
from ..architectures.legacy_attention import add_legacy_hook, legacy_hooks, remove_legacy_hook
from ..architectures.spec import AttentionSite
from ..composition import AdapterCompositionBlock, BatchSplit, MultiTask, Parallel, Stack
from ..configuration import ConfigUnion, PrefixTuningConfig
from ..errors import CompositionError, UnsupportedAttentionError, UnsupportedMethodError
from ._common import activation, adapter_dtype, place_like, seeded
from .composer import compose
from .gating import record_score
from .registry import AdapterMethod, register_method

logger = logging.getLogger(__name__)

__all__ = [
    "position_handling_on_load",
    "PrefixTuning",
    "FlatPrefixTuning",
    "PrefixTuningPool",
    "PrefixAttentionSite",
    "PrefixState",
    "eject_prefix_tuning",
    "prefix_geometry",
]

_HOOK_KEY = "prefix_tuning"


class PrefixTuning(nn.Module):
    """The prefixes of ``n_layers`` attention modules at one location, reparameterised by an MLP."""

    def __init__(self, n_layers: int, n_heads: int, head_dim: int, hidden_size: int, config: PrefixTuningConfig):
        super().__init__()
        self.n_layers, self.n_heads, self.head_dim, self.prefix_length = (
            n_layers,
            n_heads,
            head_dim,
            config.prefix_length,
        )
        self.wte = nn.Embedding(config.prefix_length, hidden_size)
        self.control_trans = nn.Sequential(
            nn.Linear(hidden_size, config.bottleneck_size),
            activation(config.non_linearity),
            nn.Linear(config.bottleneck_size, n_layers * 2 * n_heads * head_dim),
        )
        self.dropout = nn.Dropout(config.dropout)

    def layer_keys_values(self, index: int) -> torch.Tensor:
        """Keys and values of layer ``index``: ``(2, n_heads, prefix_length, head_dim)``."""
        first, last = self.control_trans[0], self.control_trans[2]
        hidden = self.control_trans[1](first(self.wte.weight))
        width = self.n_heads * self.head_dim
        rows = slice(2 * index * width, (2 * index + 2) * width)
        out = nn.functional.linear(hidden, last.weight[rows], last.bias[rows])
        return out.view(self.prefix_length, 2, self.n_heads, self.head_dim).permute(1, 2, 0, 3)

    def flat_values(self) -> torch.Tensor:
        """All prefixes as the flat vector ``FlatPrefixTuning`` stores (``eject``)."""
        return self.control_trans(self.wte.weight).reshape(-1)


class FlatPrefixTuning(nn.Module):
    """The prefixes of ``n_layers`` attention modules at one location, learned directly (``flat=True``)."""

    def __init__(
        self,
        n_layers: int,
        n_heads: int,
        head_dim: int,
        hidden_size: int,
        config: PrefixTuningConfig,
        values: torch.Tensor | None = None,
    ):
        super().__init__()
        self.n_layers, self.n_heads, self.head_dim, self.prefix_length = (
            n_layers,
            n_heads,
            head_dim,
            config.prefix_length,
        )
        size = config.prefix_length * n_layers * 2 * n_heads * head_dim
        self.control_trans = nn.Parameter(torch.randn(size) if values is None else values.reshape(size))
        self.dropout = nn.Dropout(config.dropout)

    def layer_keys_values(self, index: int) -> torch.Tensor:
        table = self.control_trans.view(self.prefix_length, self.n_layers * 2, self.n_heads, self.head_dim)
        return table[:, 2 * index : 2 * index + 2].permute(1, 2, 0, 3)


class PrefixTuningPool(nn.Module):
    """``base_model.prefix_tuning``: ``prefix_tunings[adapter][location]`` (the reference's key layout)."""

    def __init__(self):
        super().__init__()
        self.prefix_tunings = nn.ModuleDict()

    def forward(self, *args, **kwargs):  # pragma: no cover - the pool is read by the attention hooks
        raise RuntimeError("PrefixTuningPool is not called; attention hooks read its modules.")


class PrefixState(NamedTuple):
    """What flows through a composition at one attention module.

    Attributes:
        keys, values: the prefix positions collected so far, ``(batch, kv_heads, n, head_dim)`` (``n`` may be 0).
        visible: ``(batch, n)`` booleans, ``False`` for padding between prefixes of different lengths; ``None``
            when all are visible.
        hidden: the attention module's input ``(batch, length, hidden)`` for the gates (``None`` without gates).
    """

    keys: torch.Tensor
    values: torch.Tensor
    visible: torch.Tensor | None
    hidden: torch.Tensor | None


# --------------------------------------------------------------------------------------------------------------
# the hook of one attention module
# --------------------------------------------------------------------------------------------------------------
class PrefixAttentionSite:
    """Prefix tuning at one attention module: the attention hook plus the composition primitives.

    It is not an ``nn.Module`` (it adds no state-dict keys); it lives in the module's attention-hook table. The
    prefix parameters are in ``base_model.prefix_tuning``; gates in ``<attention>.prefix_tuning.prefix_gates``.
    A pre-hook on the attention module puts the module input (for the gates) and a "pending" mark into the call's
    scratch; the attention hook consumes both; a forward hook checks that the hook ran.
    """

    method_name = "Prefix tuning"
    supported_blocks = frozenset({Stack, Parallel, BatchSplit, MultiTask})

    def __init__(self, runtime: AdapterRuntime, ref: LayerRef, site: AttentionSite):
        self.runtime, self.site = runtime, site
        self.layer_idx = ref.index
        self.location_key = site.location
        self.layer = ref.module
        self.module, _ = resolve_path(ref.module, site.path)
        self.indices: dict[str, int] = {}  # adapter -> index of this layer in its location module
        self.shifted: set[str] = set()  # adapters with shift_relative_positions (adapters 1.x's T5 positions)
        self._bias_module = _relative_bias_module(runtime, ref, site)
        self._handles: list = []
        self._key = f"prefix:{ref.index}:{site.path}"  # scratch key of this site

    # installation ----------------------------------------------------------------------------------------------
    def install(self) -> None:
        runtime = self.runtime
        if self.site.legacy is not None:  # the module computes attention itself: its family's glue
            add_legacy_hook(runtime, self.site.legacy, self.module, _HOOK_KEY, self)
        else:
            runtime.hook_attention(self.module, _HOOK_KEY, self)
        self._handles.append(runtime.register_input_hook(self._before, HOOK_CONSUME, module=self.module))
        self._handles.append(runtime.register_output_hook(self.module, self._after, HOOK_CONSUME))

    def uninstall(self) -> None:
        if self.site.legacy is not None:
            remove_legacy_hook(self.runtime, self.module, _HOOK_KEY)
        else:
            self.runtime.unhook_attention(self.module, _HOOK_KEY)
        for handle in self._handles:
            self.runtime.remove_hook(handle)
        self._handles.clear()

    # per call ----------------------------------------------------------------------------------------------------
    def _active(self, call) -> AdapterCompositionBlock | None:
        setup = None if call is None else call.setup_for(self.layer_idx)
        if setup is None or not (setup.flatten() & self.indices.keys()):
            return None
        return _relevant(setup, self.indices.keys())

    def _before(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        call = self.runtime.current()
        setup = self._active(call)
        if setup is None:
            return
        gates = self.gates()
        gated = gates is not None and bool(setup.flatten() & gates.keys())
        call.scratch[self._key] = (args[0] if args else kwargs.get("hidden_states")) if gated else None

    def _after(self, module: nn.Module, args: tuple, output) -> None:
        call = self.runtime.current()
        if call is not None and self._key in call.scratch:
            del call.scratch[self._key]
            raise UnsupportedAttentionError(
                f"Prefix tuning is active at {type(module).__name__} (layer {self.layer_idx}), but the module did not "
                "call transformers' attention interface with the hooked implementation, so the prefix could not be "
                f"applied (its attention implementation is {module.config._attn_implementation!r}; e.g. GPT-2 with "
                "reorder_and_upcast_attn and eager attention). Use attn_implementation='sdpa' and set it through "
                "model.set_attn_implementation(...)."
            )

    def __call__(self, call: AttentionCall) -> AttentionCall:
        record = self.runtime.current()
        setup = self._active(record)
        if setup is None:
            return call
        hidden = record.scratch.pop(self._key, None)
        key = call.key
        batch, heads, _, head_dim = key.shape
        empty = key.new_zeros(batch, heads, 0, head_dim)
        state = compose(self, setup, PrefixState(empty, empty, None, hidden), record)
        call = prepend_keys_values(call, state.keys, state.values, state.visible)
        if self._bias_module is not None and self.shifted & setup.flatten():
            call = shift_position_bias(call, self._bias_module, state.keys.shape[2])
        return call

    def gates(self) -> nn.ModuleDict | None:
        try:
            module, _ = resolve_path(self.layer, self.site.gate_store)
        except Exception:
            return None
        return module if isinstance(module, nn.ModuleDict) else None

    # composition primitives (see adapters.methods.composer) --------------------------------------------------------
    def has_adapter(self, name: str) -> bool:
        return name in self.indices

    def pre_block(self, name: str, state: PrefixState) -> PrefixState:
        return state

    def size(self, state: PrefixState, dim: int) -> int:
        return state.keys.shape[0] if dim == 0 else 0

    def device(self, state: PrefixState) -> torch.device:
        return state.keys.device

    def compose_single(self, name: str, state: PrefixState) -> PrefixState:
        """Primitive: prepend adapter ``name``'s prefix (a ``Stack`` prepends right to left, as the reference)."""
        prefix = _pool(self.runtime).prefix_tunings[name][self.location_key]
        keys_values = prefix.layer_keys_values(self.indices[name])
        batch = state.keys.shape[0]
        keys_values = prefix.dropout(keys_values.unsqueeze(1).expand(-1, batch, -1, -1, -1))
        keys, values = keys_values[0], keys_values[1]
        gates = self.gates()
        if gates is not None and name in gates:
            gate = gates[name]
            if state.hidden is None:
                raise RuntimeError(f"Prefix gate of {name!r} at layer {self.layer_idx} got no input.")
            score = torch.sigmoid(gate(state.hidden.to(gate.weight.dtype))).mean(dim=1)
            record_score(self.runtime, name, self.layer_idx, self.location_key, score)
            keys = keys * score[:, 0].view(-1, 1, 1, 1).to(keys.dtype)
            values = values * score[:, -1].view(-1, 1, 1, 1).to(values.dtype)
        keys = torch.cat([keys.to(state.keys.dtype), state.keys], dim=2)
        values = torch.cat([values.to(state.values.dtype), state.values], dim=2)
        visible = state.visible
        if visible is not None:
            visible = torch.cat([visible.new_ones(batch, prefix.prefix_length), visible], dim=1)
        return state._replace(keys=keys, values=values, visible=visible)

    def vslice(self, state: PrefixState, index: slice | torch.Tensor, dim: int = 0) -> PrefixState:
        """Primitive: the examples ``index`` of ``state`` (prefixes cannot be split along the sequence)."""
        if dim != 0:
            raise CompositionError("Prefix tuning cannot split the sequence (Split); prefixes apply to whole rows.")
        return PrefixState(
            state.keys[index],
            state.values[index],
            None if state.visible is None else state.visible[index],
            None if state.hidden is None else state.hidden[index],
        )

    def pad_and_concat(self, states: list[PrefixState], dim: int = 0, whole: PrefixState | None = None) -> PrefixState:
        """Primitive: concatenate states along the batch; shorter prefixes are padded in front with hidden
        (masked-out) positions (``whole``, the state the pieces were cut from, is not needed: every part of a
        prefix state can change)."""
        if dim != 0:
            raise CompositionError("Prefix tuning cannot concatenate along the sequence.")
        longest = max(s.keys.shape[2] for s in states)
        keys, values, visible = [], [], []
        for s in states:
            pad = longest - s.keys.shape[2]
            batch, heads, _, head_dim = s.keys.shape
            zeros = s.keys.new_zeros(batch, heads, pad, head_dim)
            keys.append(torch.cat([zeros, s.keys], dim=2))
            values.append(torch.cat([zeros.to(s.values.dtype), s.values], dim=2))
            shown = s.visible if s.visible is not None else s.keys.new_ones(batch, s.keys.shape[2], dtype=torch.bool)
            visible.append(torch.cat([shown.new_zeros(batch, pad), shown], dim=1))
        all_visible = torch.cat(visible)
        hidden = [s.hidden for s in states]
        return PrefixState(
            torch.cat(keys),
            torch.cat(values),
            None if bool(all_visible.all()) else all_visible,
            None if any(h is None for h in hidden) else torch.cat(hidden),
        )

    def weighted_sum(self, states: list[PrefixState], weights: list[float]) -> PrefixState:
        raise CompositionError("Prefix tuning adapters cannot be averaged at run time (Average).")


def _relative_bias_module(runtime: AdapterRuntime, ref: LayerRef, site: AttentionSite) -> nn.Module | None:
    """The attention module that computes the relative position bias shared by this site's layer group (T5: the
    same site in the group's first layer), or ``None`` when the family has none."""
    first = next(r for r in runtime.iter_layers() if r.group is ref.group)
    module, _ = resolve_path(first.module, site.path)
    return module if getattr(module, "has_relative_attention_bias", False) else None


def _relevant(setup: AdapterCompositionBlock, names) -> AdapterCompositionBlock:
    """``setup`` without the blocks inside a ``Stack`` that hold none of ``names`` (e.g. the ``Fuse`` of bottleneck
    adapters in ``Stack("prefix", Fuse("x", "y"))`` concerns other methods' layers, not this attention module)."""
    if not isinstance(setup, Stack):
        return setup
    children = [
        child if isinstance(child, str) else _relevant(child, names)
        for child in setup
        if isinstance(child, str) or child.flatten() & names
    ]
    return setup if len(children) == len(setup) else Stack(*children)


# --------------------------------------------------------------------------------------------------------------
# add / delete / inspect
# --------------------------------------------------------------------------------------------------------------
def _pool(runtime: AdapterRuntime, create: bool = False) -> PrefixTuningPool | None:
    base = runtime.base_model
    pool = getattr(base, "prefix_tuning", None)
    if pool is None and create:
        pool = PrefixTuningPool()
        base.add_module("prefix_tuning", pool)
    return pool if isinstance(pool, PrefixTuningPool) else None


def _enabled_sites(runtime: AdapterRuntime, config: PrefixTuningConfig):
    """``(layer, site)`` pairs that get a prefix, in global layer order."""
    leave_out = set(config.leave_out or ())
    for ref in runtime.iter_layers():
        if ref.index in leave_out:
            continue
        for site in ref.group.attention_sites:
            if site.config_flag is None or getattr(config, site.config_flag):
                yield ref, site


def _all_sites(runtime: AdapterRuntime):
    for ref in runtime.iter_layers():
        for site in ref.group.attention_sites:
            yield ref, site


def prefix_geometry(model_config, site: AttentionSite) -> tuple[int, int]:
    """``(kv_heads, head_dim)`` of the prefix at ``site``: ``num_key_value_heads`` (grouped-query attention) or the
    site's number of heads; ``d_kv`` (T5) or ``head_dim`` or ``hidden_size // heads``."""
    config = model_config.get_text_config() if hasattr(model_config, "get_text_config") else model_config
    heads = getattr(config, site.heads_attribute, None) or config.num_attention_heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    head_dim = getattr(config, "d_kv", None) or getattr(config, "head_dim", None) or config.hidden_size // heads
    return int(kv_heads), int(head_dim)


def _site_hook(ref: LayerRef, site: AttentionSite) -> PrefixAttentionSite | None:
    module, _ = resolve_path(ref.module, site.path)
    return attention_hooks(module).get(_HOOK_KEY) or legacy_hooks(module).get(_HOOK_KEY)


def check_support(runtime: AdapterRuntime, config: PrefixTuningConfig) -> str | None:
    if not any(True for _ in _all_sites(runtime)):
        return f"prefix tuning is not available for {runtime.spec.name}"
    if not any(True for _ in _enabled_sites(runtime, config)):
        return "the config enables no attention module of this model (check leave_out/encoder_prefix/cross_prefix)"
    model_config = runtime.base_model.config
    implementation = unhooked_implementation(getattr(model_config, "_attn_implementation", None)) or "eager"
    if implementation not in ("eager", "sdpa"):
        return (
            f"prefix tuning supports attn_implementation 'eager' and 'sdpa', the model uses {implementation!r} "
            "(load it with attn_implementation='sdpa')"
        )
    if implementation == "eager" and getattr(model_config, "reorder_and_upcast_attn", False):
        return "prefix tuning cannot hook GPT-2's reorder_and_upcast_attn eager attention (use sdpa)"
    return None


def add(runtime: AdapterRuntime, name: str, config: PrefixTuningConfig) -> None:
    """Build the prefix modules and gates first, then attach them, so a failure leaves the model untouched."""
    base = runtime.base_model
    model_config = base.config
    hidden = int(getattr(model_config.get_text_config(), "hidden_size", None) or model_config.hidden_size)
    sites = list(_enabled_sites(runtime, config))
    counts: dict[str, int] = {}
    geometry: dict[str, tuple[int, int]] = {}
    placed: list[tuple[LayerRef, AttentionSite, int]] = []
    for ref, site in sites:
        index = counts.get(site.location, 0)
        counts[site.location] = index + 1
        shape = prefix_geometry(model_config, site)
        if geometry.setdefault(site.location, shape) != shape:
            raise UnsupportedAttentionError(
                f"Attention modules at {site.location} have different head shapes ({geometry[site.location]} vs "
                f"{shape}); one prefix module cannot serve them."
            )
        placed.append((ref, site, index))
    kind = FlatPrefixTuning if config.flat else PrefixTuning
    locations = nn.ModuleDict()
    for location, n_layers in counts.items():
        heads, head_dim = geometry[location]
        with seeded(config.init_weights_seed):
            locations[location] = kind(n_layers, heads, head_dim, hidden, config)
    place_like(locations, base, adapter_dtype(runtime, None, base))
    gates = {}
    if config.use_gating:
        for ref, site, _ in placed:
            gate = nn.Linear(hidden, 1 if config.shared_gating else 2)
            with torch.no_grad():
                gate.weight.normal_(mean=0.0, std=0.02)
            gates[(ref.index, site.path)] = place_like(gate, ref.module, adapter_dtype(runtime, None, ref.module))
    # attach
    _pool(runtime, create=True).prefix_tunings[name] = locations
    for ref, site, index in placed:
        hook = _site_hook(ref, site)
        if hook is None:
            hook = PrefixAttentionSite(runtime, ref, site)
            hook.install()
        hook.indices[name] = index
        if config.shift_relative_positions:
            hook.shifted.add(name)
        gate = gates.get((ref.index, site.path))
        if gate is not None:
            runtime.ensure_module(ref.module, site.gate_store, nn.ModuleDict)[name] = gate


def delete(runtime: AdapterRuntime, name: str) -> None:
    for ref, site in _all_sites(runtime):
        hook = _site_hook(ref, site)
        if hook is not None and name in hook.indices:
            del hook.indices[name]
            hook.shifted.discard(name)
            if not hook.indices:
                hook.uninstall()
        try:
            gates, _ = resolve_path(ref.module, site.gate_store)
        except Exception:
            continue
        if isinstance(gates, nn.ModuleDict) and name in gates:
            del gates[name]
            if len(gates) == 0:
                runtime.remove_module(ref.module, site.gate_store)
    pool = _pool(runtime)
    if pool is not None and name in pool.prefix_tunings:
        del pool.prefix_tunings[name]
        if len(pool.prefix_tunings) == 0:
            delattr(runtime.base_model, "prefix_tuning")


def modules(runtime: AdapterRuntime, name: str) -> dict[int, dict[str, nn.Module]]:
    """``{layer: {location: ModuleDict(prefix=..., gate=...)}}``; the prefix module of a location is listed at the
    first layer that uses it (as the reference's ``get_adapter``)."""
    pool = _pool(runtime)
    prefixes = pool.prefix_tunings[name] if pool is not None and name in pool.prefix_tunings else {}
    found: dict[int, dict[str, nn.Module]] = {}
    for ref, site in _all_sites(runtime):
        hook = _site_hook(ref, site)
        if hook is None or name not in hook.indices:
            continue
        entry = nn.ModuleDict()
        if hook.indices[name] == 0 and site.location in prefixes:
            entry["prefix"] = prefixes[site.location]
        gates = hook.gates()
        if gates is not None and name in gates:
            entry["gate"] = gates[name]
        if len(entry):
            found.setdefault(ref.index, {})[site.location] = entry
    return found


def eject_prefix_tuning(model, name: str) -> None:
    """Replace adapter ``name``'s reparameterised prefixes by their flat values (``flat=True``); outputs stay the
    same and the MLP is dropped. The adapter's config becomes ``flat=True`` so it saves and reloads as such."""
    runtime = model._adapter_runtime
    config = model._require_adapter(name)
    pool = _pool(runtime)
    if pool is None or name not in pool.prefix_tunings:
        raise UnsupportedMethodError(f"Adapter {name!r} has no prefix tuning to eject.")
    members = list(config.configs) if isinstance(config, ConfigUnion) else [config]
    prefix_config = next(m for m in members if isinstance(m, PrefixTuningConfig))
    flat_config = prefix_config.replace(flat=True)
    locations = pool.prefix_tunings[name]
    for location in list(locations.keys()):
        module = locations[location]
        if not isinstance(module, PrefixTuning):
            continue
        with torch.no_grad():
            values = module.flat_values().detach().clone()
        flat = FlatPrefixTuning(module.n_layers, module.n_heads, module.head_dim, 0, flat_config, values=values)
        flat.control_trans.requires_grad_(any(p.requires_grad for p in module.parameters()))
        flat.train(module.training)
        locations[location] = flat
    new_members = [flat_config if m is prefix_config else m for m in members]
    new_config = type(config)._from_members(new_members) if isinstance(config, ConfigUnion) else flat_config
    model.adapters_config.update(name, new_config)


def _written_by_the_reference(version: str | None) -> bool:
    """Whether a saved ``version`` is the reference's (``adapters.1.x``, adapter-transformers ``3.x``) or unknown."""
    if not version or not version.startswith("adapters."):
        return True
    major = version.removeprefix("adapters.").split(".")[0]
    return not major.isdigit() or int(major) < 2


def position_handling_on_load(model, config, version: str | None, shift: bool | None):
    """The config a loaded adapter gets for ``load_adapter(..., shift_relative_positions=shift)``.

    ``shift`` set: its prefix-tuning members get ``shift_relative_positions=shift``. Not set: a prefix-tuning file
    written by the reference, loaded into a model with relative position biases (T5), gets a warning that its
    outputs differ from the reference's and how to reproduce them.
    """
    members = config.members()
    prefixes = [m for m in members if isinstance(m, PrefixTuningConfig)]
    if not prefixes:
        return config
    if shift is None:
        relative = any(getattr(m, "has_relative_attention_bias", False) for m in model.modules())
        if relative and _written_by_the_reference(version) and not any(m.shift_relative_positions for m in prefixes):
            logger.warning(
                "This prefix-tuning adapter was saved by adapters %s. On %s the reference shifted every token's "
                "relative position by the prefix length; this library keeps the positions, so outputs differ from "
                "the reference's. To reproduce them, load with load_adapter(..., shift_relative_positions=True).",
                version or "(unknown version)",
                type(model).__name__,
            )
        return config
    updated = [m.replace(shift_relative_positions=bool(shift)) if m in prefixes else m for m in members]
    return type(config)._from_members(updated) if isinstance(config, ConfigUnion) else updated[0]


PREFIX_TUNING = register_method(
    AdapterMethod(
        name="prefix_tuning",
        architecture="prefix_tuning",
        containers=("prefix_tunings", "prefix_gates"),
        add=add,
        delete=delete,
        modules=modules,
        check_support=check_support,
        base_modules=("prefix_tuning",),
        supported_blocks=PrefixAttentionSite.supported_blocks,
        ignored_file_keys=(r"\.prefix_tuning\.pool\.prefix_tunings\.",),
        kinds=(("prefix_tuning", "prefix_tuning"),),
    )
)

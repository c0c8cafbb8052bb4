"""Bottleneck adapters: sequential (Houlsby, Pfeiffer), parallel (He et al.), Compacter and AdapterPlus.

A bottleneck adapter is a small two-layer network inserted in a transformer sub-block
(Houlsby et al., 2019, https://arxiv.org/abs/1902.00751; Pfeiffer et al., 2020, https://arxiv.org/abs/2005.00247):

    a(x) = s · W_up φ(W_down x)

where ``W_down`` narrows the hidden size by ``reduction_factor`` and ``s`` is the ``scaling``. Around it, the
sub-block output ``h`` and the layer's residual ``r`` are combined exactly as the reference library does:

* sequential: ``x = LN(h + r)`` if ``original_ln_before`` else ``h``; ``out = a(x) + residual`` (the residual is
  ``h``, ``x`` or ``h + r`` depending on ``residual_before_ln``); then ``LN(out + r)`` if ``original_ln_after``;
* parallel (``is_parallel``, He et al., 2021, https://arxiv.org/abs/2110.04366): ``out = a(r) + h``, then
  ``LN(out + r)``.

Adapters attach through forward hooks at the sites named by the model family's spec; module classes and base
weights are untouched. Compacter swaps the linear layers for PHM layers (:mod:`adapters.methods.phm`);
``inv_adapter`` adds an invertible adapter on the embeddings (:mod:`adapters.methods.invertible`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from ..architectures import site_variants
from ..architectures.attach import HOOK_CONSUME, AdapterRuntime, resolve_path
from ..architectures.spec import BottleneckSite
from ..composition import AdapterCompositionBlock, MultiTask
from ..configuration import BnConfig
from ..errors import AdapterConfigError
from ._common import (
    StochasticDepth,
    activation,
    adapter_dtype,
    bert_init,
    floating_dtype,
    place_like,
    seeded,
    shared_parameters_store,
)
from .bottleneck_compose import BottleneckComposer, run_bottleneck_setup
from .composer import routed_rows
from .gating import record_gate
from .invertible import build_invertible_adapter
from .phm import PHMLayer, build_shared_phm_parameters, check_phm_sizes
from .registry import AdapterMethod, register_method

__all__ = ["BottleneckAdapter", "BottleneckLayer", "InvertibleAdapters", "bottleneck_size"]

Norm = Callable[[torch.Tensor], torch.Tensor] | None
PreNorm = tuple[torch.Tensor, torch.Tensor] | None


def bottleneck_size(config: BnConfig, hidden_size: int, layer_index: int) -> int:
    """``int(hidden_size // reduction_factor)`` (at least 1), with the layer's factor (see
    :meth:`BnConfig.reduction_factor_for`, which raises ``ConfigKeyError`` for a layer without one)."""
    return max(1, int(hidden_size // config.reduction_factor_for(layer_index)))


class BottleneckAdapter(nn.Module):
    """One bottleneck adapter at one site. Parameter names follow the reference's checkpoint format."""

    def __init__(self, input_size: int, down_size: int, config: BnConfig, shared: nn.ParameterDict | None = None):
        super().__init__()
        self.config = config
        down_layers: list[nn.Module] = []
        if config.ln_before:
            self.adapter_norm_before = nn.LayerNorm(input_size)
            down_layers.append(self.adapter_norm_before)
        down_layers.append(self._projection(input_size, down_size, "down", shared))
        down_layers.append(activation(config.non_linearity))
        self.adapter_down = nn.Sequential(*down_layers)
        self.adapter_up = self._projection(down_size, input_size, "up", shared)
        if config.scaling == "learned":
            self.scaling = nn.Parameter(torch.ones(1))
        elif config.scaling == "channel":
            self.scaling = nn.Parameter(torch.ones(input_size))
        else:
            self.scaling = float(config.scaling)
        if config.ln_after:
            self.adapter_norm_after = nn.LayerNorm(input_size)
        if config.use_gating:
            self.gate = nn.Linear(input_size, 1)
        self.dropout = nn.Dropout(p=config.dropout)
        self.drop_path = StochasticDepth(config.stochastic_depth) if config.stochastic_depth else None
        self._initialize()

    def _projection(self, fan_in: int, fan_out: int, position: str, shared) -> nn.Module:
        if self.config.phm_layer:
            return PHMLayer(fan_in, fan_out, position, self.config, shared)
        return nn.Linear(fan_in, fan_out)

    def _linears(self) -> tuple[nn.Module, nn.Module]:
        down = next(m for m in self.adapter_down if isinstance(m, (nn.Linear, PHMLayer)))
        return down, self.adapter_up

    def _initialize(self) -> None:
        scheme = self.config.init_weights
        down, up = self._linears()
        with torch.no_grad():
            if scheme == "bert":
                self.adapter_down.apply(bert_init)
                self.adapter_up.apply(bert_init)
            elif scheme == "mam_adapter" and isinstance(down, nn.Linear):
                nn.init.kaiming_uniform_(down.weight, a=math.sqrt(5))
                nn.init.zeros_(down.bias)
                nn.init.zeros_(up.weight)
                nn.init.zeros_(up.bias)
            elif scheme == "houlsby" and isinstance(down, nn.Linear):
                for linear in (down, up):
                    nn.init.trunc_normal_(linear.weight, std=1e-2, a=-2e-2, b=2e-2)
                    nn.init.zeros_(linear.bias)
            elif scheme not in ("bert", "mam_adapter", "houlsby"):
                raise AdapterConfigError(
                    f"init_weights={scheme!r} is not supported; allowed: 'bert', 'mam_adapter', 'houlsby'."
                )
            if self.config.use_gating:
                bert_init(self.gate)

    def pre_forward(
        self, h: torch.Tensor, residual_in: torch.Tensor, norm: Norm, pre_norm: PreNorm = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the adapter input ``x`` and the residual the adapter adds back. ``pre_norm``: ``(h + residual_in,
        norm(h + residual_in))`` if the model already computed them (post-LN sites), so they are not computed twice."""
        config = self.config
        if config.is_parallel:
            return residual_in, residual_in
        mode = config.residual_before_ln
        residual = h if mode is True else None
        x = h
        if config.original_ln_before:
            x = h + residual_in if pre_norm is None else pre_norm[0]
            if mode == "post_add":
                residual = x
            if norm is not None:
                x = norm(x) if pre_norm is None else pre_norm[1]
        if not mode:
            residual = x
        return x, (residual if residual is not None else h)

    def up_projection(self, x: torch.Tensor) -> torch.Tensor:
        """``s · W_up φ(W_down x)`` (the multiplication is skipped for the common fixed scaling 1.0)."""
        out = self.adapter_up(self.adapter_down(x))
        scaling = self.scaling
        return out if isinstance(scaling, float) and scaling == 1.0 else out * scaling

    def up_values(self, x: torch.Tensor) -> torch.Tensor:
        """The scaled up-projection in the adapter's dtype (AdapterFusion's values)."""
        return self.up_projection(x.to(floating_dtype(self) or x.dtype))

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        """The adapter's output from its input ``x`` and ``residual``; computed in the adapter's dtype, returned in
        ``x``'s (the site's), so float32 adapters on a bfloat16 model cast only at this boundary."""
        site_dtype = x.dtype
        own = floating_dtype(self) or site_dtype
        x, residual = x.to(own), residual.to(own)
        return self._forward(x, residual).to(site_dtype)

    def _forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        out = self.up_projection(x)
        if self.dropout.p > 0:
            out = self.dropout(out)
        if self.drop_path is not None:
            out = self.drop_path(out)
        if self.config.use_gating:
            gate = torch.sigmoid(self.gate(x)).mean(dim=1, keepdim=True)
            record_gate(self, gate)
            out = out * gate
        if self.config.is_parallel:
            return self.adapter_norm_after(out) if self.config.ln_after else out
        if self.config.adapter_residual_before_ln:
            out = out + residual
        if self.config.ln_after:
            out = self.adapter_norm_after(out)
        if not self.config.adapter_residual_before_ln:
            out = out + residual
        return out

    def post_forward(
        self, out: torch.Tensor, h: torch.Tensor, residual_in: torch.Tensor, norm: Norm, model_adds_residual: bool
    ) -> torch.Tensor:
        """Finish the sub-block. ``model_adds_residual``: the model adds ``residual_in`` itself afterwards."""
        if self.config.is_parallel:
            out = out + h
        if model_adds_residual:
            return out if self.config.original_ln_after else out - residual_in
        if self.config.original_ln_after:
            out = out + residual_in
            if norm is not None:
                out = norm(out)
        return out


class BottleneckLayer(nn.ModuleDict):
    """The adapters at one site of one layer (a ``ModuleDict`` by adapter name) and the hooks that run them.

    Three hooks cooperate within one layer call: a pre-hook captures the residual stream, a hook on the sub-block's
    output reads ``h`` (pre-LN families: rewrites it), and for post-LN families a hook on the LayerNorm replaces its
    output. What one hands to the next lives in the call's scratch (``runtime.current().scratch``), never on this
    module, so concurrent calls and the recompute of a checkpointed layer each see their own values.
    """

    def __init__(self, site: BottleneckSite, layer_index: int, layer: nn.Module, runtime: AdapterRuntime):
        super().__init__()
        self.location_key = site.location
        self.layer_idx = layer_index
        # scratch keys of this site (plain constants, so compiled code can use them)
        keys = tuple(f"bottleneck:{layer_index}:{site.location}:{part}" for part in ("residual", "h", "extra"))
        self.__dict__.update(_site=site, _layer=layer, _runtime=runtime, _handles=[], _keys=keys)

    # hook installation ---------------------------------------------------------------------------------------
    def install(self) -> None:
        site, layer, runtime = self.__dict__["_site"], self.__dict__["_layer"], self.__dict__["_runtime"]
        residual_module, _ = resolve_path(layer, site.residual)
        output_module, _ = resolve_path(layer, site.output)
        handles = self.__dict__["_handles"]
        handles.append(runtime.register_input_hook(self._capture_residual, HOOK_CONSUME, module=residual_module))
        handles.append(runtime.register_output_hook(output_module, self._on_output, HOOK_CONSUME))
        if site.norm is not None:
            norm_module, _ = resolve_path(layer, site.norm)
            handles.append(runtime.register_output_hook(norm_module, self._on_norm, HOOK_CONSUME))
        if site.residual_extra is not None:  # read after the other site's hook rewrote that output
            extra_module, _ = resolve_path(layer, site.residual_extra)
            handles.append(runtime.register_output_hook(extra_module, self._capture_extra, HOOK_CONSUME + 1))

    def uninstall(self) -> None:
        for handle in self.__dict__["_handles"]:
            self.__dict__["_runtime"].remove_hook(handle)
        self.__dict__["_handles"].clear()

    # hooks ---------------------------------------------------------------------------------------------------
    def _active(self):
        """``(call, setup)`` if an adapter of this site takes part in the call in progress, else ``(call, None)``."""
        call = self.__dict__["_runtime"].current()
        setup = None if call is None else call.setup_for(self.layer_idx)
        if setup is None or setup.flatten().isdisjoint(self._modules):
            return call, None
        return call, setup

    def _capture_residual(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        call, setup = self._active()
        if setup is None:
            return
        site = self.__dict__["_site"]
        residual = args[site.residual_arg] if len(args) > site.residual_arg else kwargs.get(site.residual_kwarg)
        call.scratch[self.__dict__["_keys"][0]] = residual

    def _capture_extra(self, module: nn.Module, args: tuple, output):
        call, setup = self._active()
        if setup is not None:
            call.scratch[self.__dict__["_keys"][2]] = output[0] if isinstance(output, tuple) else output

    def _on_output(self, module: nn.Module, args: tuple, output):
        call, setup = self._active()
        residual_key, h_key, extra_key = self.__dict__["_keys"]
        if setup is None or residual_key not in call.scratch:
            return None
        h = output[0] if isinstance(output, tuple) else output
        site, layer = self.__dict__["_site"], self.__dict__["_layer"]
        if site.norm is not None:
            call.scratch[h_key] = h
            return None
        scale = site_variants.scale_of(site, layer)
        h, residual = site_variants.adapter_inputs(
            site, h, call.scratch.pop(residual_key), call.scratch.pop(extra_key, None), scale
        )
        norm = site_variants.norm_of(site, layer)
        new_h = self.compose(setup, h, residual, norm, model_adds_residual=True, call=call)
        new_h = site_variants.unscale(new_h, scale)
        return (new_h, *output[1:]) if isinstance(output, tuple) else new_h

    def _on_norm(self, module: nn.Module, args: tuple, output):
        call, setup = self._active()
        residual_key, h_key, _ = self.__dict__["_keys"]
        if setup is None or h_key not in call.scratch or residual_key not in call.scratch:
            return None
        h, residual = call.scratch.pop(h_key), call.scratch.pop(residual_key)
        dropout_attr = self.__dict__["_site"].dropout_attr
        p = 0.0 if dropout_attr is None else float(getattr(self.__dict__["_layer"], dropout_attr))
        if p > 0 and self.__dict__["_layer"].training:  # the model's own dropout is functional: apply ours
            h = nn.functional.dropout(h, p=p, training=True)
            pre_norm = None
        else:  # the norm's input is h + residual and its output the normed sum: the adapters reuse both
            pre_norm = (args[0], output) if args and args[0].shape == h.shape else None
        norm = module.forward
        return self.compose(setup, h, residual, norm, model_adds_residual=False, call=call, pre_norm=pre_norm)

    # composition ---------------------------------------------------------------------------------------------
    def compose(
        self,
        setup: AdapterCompositionBlock,
        h: torch.Tensor,
        residual_in: torch.Tensor,
        norm: Norm,
        model_adds_residual: bool,
        call=None,
        pre_norm: PreNorm = None,
    ) -> torch.Tensor:
        """Run the active setup on sub-block output ``h`` and return the sub-block's new output (``pre_norm``: see
        :meth:`BottleneckAdapter.pre_forward`)."""
        return run_bottleneck_setup(self, setup, h, residual_in, norm, model_adds_residual, call, pre_norm)

    def fusion(self, name: str):
        """The AdapterFusion layer ``name`` at this site, or ``None``."""
        fusions = self.__dict__.get("_fusions")
        return None if fusions is None else fusions._modules.get(name)


class InvertibleAdapters(nn.ModuleDict):
    """Invertible adapters by name, applied to the input of the first layer (the embedding output)."""

    def __init__(self, runtime: AdapterRuntime):
        super().__init__()
        self.__dict__.update(_runtime=runtime, _handles=[])

    def install(self, first_layer: nn.Module) -> None:
        runtime = self.__dict__["_runtime"]
        self.__dict__["_handles"].append(runtime.register_input_hook(self._on_input, HOOK_CONSUME, module=first_layer))

    def uninstall(self) -> None:
        for handle in self.__dict__["_handles"]:
            self.__dict__["_runtime"].remove_hook(handle)
        self.__dict__["_handles"].clear()

    def active_adapter(self) -> nn.Module | None:
        """The invertible adapter of the first adapter of the call's setup, if it has one."""
        call = self.__dict__["_runtime"].current()
        setup = None if call is None else call.setup_for(None)
        if setup is None:
            return None
        return self._modules.get(setup.first())

    def transform(self, hidden: torch.Tensor, rev: bool = False, name: str | None = None) -> torch.Tensor:
        """Apply the active invertible adapter (or its inverse with ``rev=True``); identity if none is active. It
        computes in its own dtype and returns ``hidden``'s. ``name``: the invertible adapter of adapter ``name``
        instead (heads of routed rows)."""
        adapter = self.active_adapter() if name is None else self._modules.get(name)
        return hidden if adapter is None else _run_invertible(adapter, hidden, rev)

    def _on_input(self, module: nn.Module, args: tuple, kwargs: dict):
        call = self.__dict__["_runtime"].current()
        setup = None if call is None else call.setup_for(None)
        hidden = args[0] if args else kwargs.get("hidden_states")
        if isinstance(setup, MultiTask):  # routed rows: each group gets its own adapter's invertible adapter
            new = hidden
            for child, rows in routed_rows(setup, call, hidden.shape[0], hidden.device):
                name = None if child is None else child if isinstance(child, str) else child.first()
                adapter = None if name is None else self._modules.get(name)
                if adapter is not None:
                    new = new.index_copy(0, rows, _run_invertible(adapter, hidden[rows], False))
        else:
            new = self.transform(hidden)
        if new is hidden:
            return None
        if args:
            return (new, *args[1:]), kwargs
        return args, {**kwargs, "hidden_states": new}


def _run_invertible(adapter: nn.Module, hidden: torch.Tensor, rev: bool) -> torch.Tensor:
    return adapter(hidden.to(floating_dtype(adapter) or hidden.dtype), rev=rev).to(hidden.dtype)


# ----------------------------------------------------------------------------------------------------------------
# registration: add / delete / inspect
# ----------------------------------------------------------------------------------------------------------------


def _enabled_sites(runtime: AdapterRuntime, config: BnConfig):
    for ref in runtime.iter_layers():
        if ref.index in (config.leave_out or ()):
            continue
        for site in ref.group.sites:
            if getattr(config, site.location, False):
                yield ref, site


def _site_layer(runtime: AdapterRuntime, ref, site: BottleneckSite, create: bool) -> BottleneckLayer | None:
    if not create:
        try:
            module, _ = resolve_path(ref.module, site.store)
        except Exception:
            return None
        return module if isinstance(module, BottleneckLayer) else None

    def factory() -> BottleneckLayer:
        layer = BottleneckLayer(site, ref.index, ref.module, runtime)
        layer.install()
        return layer

    return runtime.ensure_module(ref.module, site.store, factory)


def _invertible_store(runtime: AdapterRuntime, create: bool) -> InvertibleAdapters | None:
    inv_site = runtime.spec.invertible
    if inv_site is None:
        return None
    parent, _ = resolve_path(runtime.base_model, inv_site.store)
    existing = getattr(parent, "invertible_adapters", None)
    if existing is not None or not create:
        return existing
    store = InvertibleAdapters(runtime)
    store.install(resolve_path(runtime.base_model, inv_site.first_layer)[0])
    parent.add_module("invertible_adapters", store)
    return store


def _hidden_size(runtime: AdapterRuntime) -> int:
    config = runtime.base_model.config
    return int(getattr(config.get_text_config(), "hidden_size", None) or config.hidden_size)


def check_support(runtime: AdapterRuntime, config: BnConfig) -> str | None:
    if config.inv_adapter and runtime.spec.invertible is None:
        return f"invertible adapters (inv_adapter={config.inv_adapter!r}) are not available for {runtime.spec.name}"
    if not any(True for _ in _enabled_sites(runtime, config)) and not config.inv_adapter:
        return (
            "the config enables no adapter location present in this model (check mh_adapter/output_adapter/leave_out)"
        )
    return None


def add(runtime: AdapterRuntime, name: str, config: BnConfig) -> None:
    """Build every module first, then attach them all, so a failure leaves the model untouched."""
    hidden = _hidden_size(runtime)
    base = runtime.base_model
    dtype = adapter_dtype(runtime, None, base)  # the model-level parts: shared PHM parameters, invertible adapter
    with seeded(config.init_weights_seed):
        shared = None
        if config.phm_layer:
            sizes = {bottleneck_size(config, hidden, ref.index) for ref, _ in _enabled_sites(runtime, config)}
            check_phm_sizes(config, (hidden, *sizes))
            if config.shared_W_phm or config.shared_phm_rule:
                shared = place_like(build_shared_phm_parameters(config, hidden, min(sizes or {hidden})), base, dtype)
        built = []
        for ref, site in _enabled_sites(runtime, config):
            with seeded(config.init_weights_seed):
                adapter = BottleneckAdapter(hidden, bottleneck_size(config, hidden, ref.index), config, shared)
            site_dtype = dtype if shared is not None else adapter_dtype(runtime, None, ref.module, base)
            built.append((ref, site, place_like(adapter, ref.module, site_dtype)))
        invertible = place_like(build_invertible_adapter(config, hidden), base, dtype) if config.inv_adapter else None
        if invertible is not None:
            invertible.apply(bert_init)
    for ref, site, adapter in built:
        _site_layer(runtime, ref, site, create=True)[name] = adapter
    if shared is not None:
        shared_parameters_store(runtime, create=True)[name] = shared
    if invertible is not None:
        _invertible_store(runtime, create=True)[name] = invertible


def delete(runtime: AdapterRuntime, name: str) -> None:
    for ref in runtime.iter_layers():
        for site in ref.group.sites:
            layer = _site_layer(runtime, ref, site, create=False)
            if layer is None or name not in layer:
                continue
            del layer[name]
            if len(layer) == 0:
                layer.uninstall()
                runtime.remove_module(ref.module, site.store)
    shared = shared_parameters_store(runtime, create=False)
    if shared is not None and name in shared:
        del shared[name]
        if len(shared) == 0:
            delattr(runtime.base_model, "shared_parameters")
    inv = _invertible_store(runtime, create=False)
    if inv is not None and name in inv:
        del inv[name]
        if len(inv) == 0:
            inv.uninstall()
            parent, _ = resolve_path(runtime.base_model, runtime.spec.invertible.store)
            delattr(parent, "invertible_adapters")


def modules(runtime: AdapterRuntime, name: str) -> dict[int, dict[str, nn.Module]]:
    found: dict[int, dict[str, nn.Module]] = {}
    for ref in runtime.iter_layers():
        for site in ref.group.sites:
            layer = _site_layer(runtime, ref, site, create=False)
            if layer is not None and name in layer:
                found.setdefault(ref.index, {})[site.location] = layer[name]
    inv = _invertible_store(runtime, create=False)
    if inv is not None and name in inv:
        found.setdefault(-1, {})["invertible"] = inv[name]
    shared = shared_parameters_store(runtime, create=False)
    if shared is not None and name in shared:
        found.setdefault(-1, {})["shared"] = shared[name]
    return found


def invertible_transform(
    runtime: AdapterRuntime, hidden: torch.Tensor, rev: bool = False, name: str | None = None
) -> torch.Tensor:
    """Apply the active invertible adapter (``rev=True``: its inverse), e.g. before an LM head; else identity.
    ``name``: adapter ``name``'s invertible adapter instead of the active one (``None`` rows of a routed call pass
    ``name=""``: identity)."""
    store = _invertible_store(runtime, create=False)
    return hidden if store is None else store.transform(hidden, rev=rev, name=name)


BOTTLENECK = register_method(
    AdapterMethod(
        name="bottleneck",
        architecture=None,
        containers=("adapters", "invertible_adapters", "shared_parameters"),
        add=add,
        delete=delete,
        modules=modules,
        check_support=check_support,
        supported_blocks=BottleneckComposer.supported_blocks,
        kinds=(("bottleneck", "seq_bn"), ("invertible", "seq_bn_inv")),
    )
)

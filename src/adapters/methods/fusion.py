"""AdapterFusion (Pfeiffer et al., 2021, https://arxiv.org/abs/2005.00247).

At every bottleneck site where all fused adapters sit, a fusion layer attends over the adapters' outputs::

    s_i = softmax_i((W_q q) · (W_k u_i) / T)        u_i: adapter i's up-projection, q: the sub-block output
    out = Σ_i s_i · W_v u_i + residual

``W_v`` starts at the identity (``value_initialized``); the value-regularisation loss ``0.01 ‖I − W_v‖²`` keeps it
close. Weights live under ``<site parent>.adapter_fusion_layer.<fusion name>`` as in the reference.

With ``temperature=True`` the softmax temperature ``T`` starts at 50 and every training forward lowers it by
``50/1000`` (down to 1), as in the reference. The layer counts its training forwards in an integer buffer (not saved;
kept exact whatever the model's dtype), so a compiled training step reads it as an input instead of re-compiling for
each value; the count a call uses is fixed in the call's record at its first use, so a gradient-checkpointing
recompute (or a second forward before ``backward``) uses the same ``T`` and the decay happens once per call.
"""

from __future__ import annotations

import torch
from torch import nn

from ..architectures.attach import AdapterRuntime, resolve_path
from ..errors import UnsupportedModelError
from ._common import bert_init, floating_dtype, place_like
from .bottleneck import BottleneckLayer

__all__ = ["AdapterFusionLayer", "add_fusion", "delete_fusion", "fusion_layers", "regularization_loss"]


class AdapterFusionLayer(nn.Module):
    """The fusion attention of one site (``query``, ``key``, ``value`` projections per the fusion config)."""

    def __init__(self, config, hidden_size: int, dropout_prob: float):
        super().__init__()
        self.config = config
        self.dropout = nn.Dropout(dropout_prob)
        if config.query:
            self.query = nn.Linear(hidden_size, hidden_size)
            bert_init(self.query)
        if config.key:
            self.key = nn.Linear(hidden_size, hidden_size)
            bert_init(self.key)
        if config.value:
            self.value = nn.Linear(hidden_size, hidden_size, bias=False)
            bert_init(self.value)
            if config.value_initialized:
                with torch.no_grad():
                    self.value.weight.copy_(torch.full((hidden_size, hidden_size), 1e-6).fill_diagonal_(1.0))
        self.initial_temperature = 50.0 if config.temperature else 1.0
        self.reduction = self.initial_temperature / 1000.0 if config.temperature else 0.0
        self.register_buffer("training_steps", torch.zeros((), dtype=torch.long), persistent=False)
        self.__dict__["_scratch_key"] = f"fusion-steps:{id(self)}"

    def temperature(self, steps: torch.Tensor | None = None) -> torch.Tensor:
        """``max(T0 - reduction · steps, 1)`` after ``steps`` training forwards (default: the count so far)."""
        steps = self.training_steps if steps is None else steps
        return torch.clamp(self.initial_temperature - self.reduction * steps.float(), min=1.0)

    def call_temperature(self, call) -> torch.Tensor:
        """The temperature of this call (its first use fixes it and, in training, counts one more forward)."""
        if call is None or not self.reduction:
            return self.temperature()
        key = self.__dict__["_scratch_key"]
        steps = call.scratch.get(key)
        if steps is None:
            steps = self.training_steps.clone()
            call.scratch[key] = steps
            if self.training:
                self.training_steps.add_(1)
        return self.temperature(steps)

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, residual: torch.Tensor, call=None):
        """``query`` (B, L, H); ``key``/``value`` (B, L, N, H); returns the fused output (in ``query``'s dtype; the
        layer computes in its own) and the (B, L, N) scores. ``call``: the call's record (fixes the temperature)."""
        site_dtype = query.dtype
        own = floating_dtype(self) or site_dtype
        query, key, value, residual = (t.to(own) for t in (query, key, value, residual))
        context, probs = self._fuse(query, key, value, residual, call)
        return context.to(site_dtype), probs

    def _fuse(self, query, key, value, residual, call):
        config = self.config
        if config.residual_before:
            value = value + residual[:, :, None, :]
        query = self.query(query) if config.query else query
        key = self.key(key) if config.key else key
        if config.value and config.value_before_softmax:
            value = self.value(value)
        scores = torch.matmul(query.unsqueeze(2), key.transpose(-2, -1)).squeeze(2)
        probs = torch.softmax(self.dropout(scores) / self.call_temperature(call).to(scores.dtype), dim=-1)
        context = torch.matmul(probs.unsqueeze(2), value).squeeze(2)
        if config.value and not config.value_before_softmax:
            context = self.value(context)
        if not config.residual_before:
            context = context + residual
        return context, probs


def _sites(runtime: AdapterRuntime, names: list[str]):
    """``(layer ref, site, bottleneck layer)`` for every site that holds all ``names``."""
    for ref in runtime.iter_layers():
        for site in ref.group.sites:
            try:
                layer, _ = resolve_path(ref.module, site.store)
            except UnsupportedModelError:  # no adapter at this site
                continue
            if isinstance(layer, BottleneckLayer) and all(n in layer for n in names):
                yield ref, site, layer


def _parent_path(store: str) -> str:
    return store.rsplit(".", 1)[0] if "." in store else ""


def add_fusion(runtime: AdapterRuntime, fusion_name: str, names: list[str], config) -> int:
    """Create fusion layers where all adapters sit; returns how many were created (0: nothing to fuse)."""
    base = runtime.base_model
    dropout = config.dropout_prob
    if dropout is None:
        dropout = float(getattr(base.config, "attention_probs_dropout_prob", 0.0) or 0.0)
    hidden = int(base.config.get_text_config().hidden_size)
    # a fusion layer takes the device and dtype of the first adapter it fuses at its site
    built = [
        (ref, site, layer, place_like(AdapterFusionLayer(config, hidden, dropout), layer[names[0]]))
        for ref, site, layer in _sites(runtime, names)
    ]
    for ref, site, layer, module in built:
        parent_path = _parent_path(site.store)
        path = f"{parent_path}.adapter_fusion_layer" if parent_path else "adapter_fusion_layer"
        store = runtime.ensure_module(ref.module, path, nn.ModuleDict)
        store[fusion_name] = module
        layer.__dict__["_fusions"] = store
    return len(built)


def delete_fusion(runtime: AdapterRuntime, fusion_name: str) -> None:
    for ref, site, layer in _sites(runtime, []):
        store = layer.__dict__.get("_fusions")
        if store is None or fusion_name not in store:
            continue
        del store[fusion_name]
        if len(store) == 0:
            parent_path = _parent_path(site.store)
            runtime.remove_module(
                ref.module, f"{parent_path}.adapter_fusion_layer" if parent_path else "adapter_fusion_layer"
            )
            del layer.__dict__["_fusions"]


def fusion_layers(runtime: AdapterRuntime, fusion_name: str | None = None):
    """All fusion layers (of ``fusion_name`` if given) as ``(layer index, location, module)``."""
    for ref, site, layer in _sites(runtime, []):
        store = layer.__dict__.get("_fusions")
        for name, module in store.items() if store is not None else []:
            if fusion_name is None or name == fusion_name:
                yield ref.index, site.location, module


def regularization_loss(runtime: AdapterRuntime) -> torch.Tensor | None:
    """``Σ 0.01 ‖I − W_value‖²`` over all fusion layers with a value projection (``None`` if there are none)."""
    loss = None
    for _, _, module in fusion_layers(runtime):
        if hasattr(module, "value"):
            weight = module.value.weight
            target = torch.eye(weight.shape[0], device=weight.device, dtype=weight.dtype)
            term = 0.01 * (target - weight).pow(2).sum()
            loss = term if loss is None else loss + term
    return loss

"""``AdapterModelInterface``: describe your own model to the library (the reference's plugin interface).

A user whose model type has no spec (and which the generic fallback cannot derive) names the model's parts by
attribute path; :meth:`AdapterModelInterface.to_spec` turns that into an :class:`ArchitectureSpec`. Adapters then sit
where the reference's interface puts them (``<layer>.attention_adapters.adapters.<name>``,
``<layer>.output_adapters.adapters.<name>``, LoRA on the named projections), so adapters saved by the reference for an
interface model load here. Unlike the reference, prefix tuning works too (when the attention module calls
transformers' attention interface) and ``original_ln_after=False`` is supported.

The interface is saved as ``adapter_interface.json`` next to the model (``{"model_type", "interface", "version"}``)
by ``save_pretrained`` and read back by :func:`adapters.load_model`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from ..errors import AdapterConfigError
from ..version import __version__
from .sites import ATTENTION_STORE, CROSS_STORE, OUTPUT_STORE, ffn
from .spec import ArchitectureSpec, AttentionSite, BottleneckSite, InvertibleSite, LayerGroup, LoRASite, PromptSite

__all__ = ["AdapterModelInterface", "InterfaceMethod", "INTERFACE_CONFIG_NAME", "load_interface"]

INTERFACE_CONFIG_NAME = "adapter_interface.json"


class InterfaceMethod:
    """The method names an interface can list in ``adapter_methods`` (the reference calls this ``AdapterMethod``;
    that name is our method registry's)."""

    bottleneck = "bottleneck"
    prefix_tuning = "prefix_tuning"
    lora = "lora"
    prompt_tuning = "prompt_tuning"
    reft = "reft"
    invertible = "invertible"

    ALL = ("bottleneck", "prefix_tuning", "lora", "prompt_tuning", "reft", "invertible")


# registry method names covered by each interface method name
_REGISTRY_NAMES = {
    "bottleneck": ("bottleneck",),
    "prefix_tuning": ("prefix_tuning",),
    "lora": ("lora", "mtl_lora"),
    "prompt_tuning": ("prompt_tuning",),
    "reft": ("reft",),
}


@dataclass(frozen=True)
class AdapterModelInterface:
    """Where adapter methods plug into a model, by attribute path (the reference's fields and meaning).

    Attributes:
        adapter_methods: the methods to enable, a subset of :attr:`InterfaceMethod.ALL`.
        model_embeddings: the token embedding module (relative to the base model).
        model_layers: the list of transformer layers (relative to the base model).
        layer_self_attn: the self-attention module (relative to a layer).
        layer_cross_attn: the cross-attention module, or ``None``.
        attn_o_proj: the attention output projection (relative to the attention module); its output is the
            attention adapter's ``h``.
        layer_intermediate_proj: the first feed-forward projection (relative to a layer; LoRA "intermediate").
        layer_output_proj: the last feed-forward projection (relative to a layer); its output is the output adapter's
            ``h`` (LoRA "output").
        attn_k_proj, attn_q_proj, attn_v_proj: the separate key/query/value projections (relative to the attention
            module), or
        attn_qkv_proj: one fused projection whose output is q|k|v (exactly one of the two forms).
        layer_pre_self_attn, layer_pre_cross_attn, layer_pre_ffn: modules whose input is the residual of the
            attention, cross-attention and feed-forward block (typically the pre-norms).
        layer_ln_1, layer_ln_2: norms after the attention / feed-forward block; the adapter's input is
            ``norm(h + residual)``.
        base_model: attribute of the base model below the top-level model (default: transformers'
            ``base_model``).
    """

    adapter_methods: tuple[str, ...]
    model_embeddings: str
    model_layers: str
    layer_self_attn: str
    layer_cross_attn: str | None
    attn_o_proj: str | None
    layer_intermediate_proj: str
    layer_output_proj: str
    attn_k_proj: str | None = None
    attn_q_proj: str | None = None
    attn_v_proj: str | None = None
    attn_qkv_proj: str | None = None
    layer_pre_self_attn: str | None = None
    layer_pre_cross_attn: str | None = None
    layer_pre_ffn: str | None = None
    layer_ln_1: str | None = None
    layer_ln_2: str | None = None
    base_model: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "adapter_methods", tuple(self.adapter_methods))
        unknown = [m for m in self.adapter_methods if m not in InterfaceMethod.ALL]
        if unknown:
            raise AdapterConfigError(f"Unknown adapter_methods {unknown}; allowed: {', '.join(InterfaceMethod.ALL)}.")
        separate = (self.attn_q_proj, self.attn_k_proj, self.attn_v_proj)
        has_separate, has_fused = all(p is not None for p in separate), self.attn_qkv_proj is not None
        if has_separate == has_fused:
            raise AdapterConfigError(
                "AdapterModelInterface needs either attn_q_proj, attn_k_proj and attn_v_proj, or attn_qkv_proj "
                f"(exactly one of the two); got q/k/v={separate}, qkv={self.attn_qkv_proj!r}."
            )

    # serialisation -----------------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        data = asdict(self)
        data["adapter_methods"] = list(self.adapter_methods)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> AdapterModelInterface:
        allowed = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise AdapterConfigError(f"Unknown AdapterModelInterface fields {unknown}; allowed: {sorted(allowed)}.")
        return cls(**data)

    def save(self, directory: str | Path, model_type: str) -> Path:
        """Write ``adapter_interface.json`` into ``directory`` (the reference's layout, keys sorted)."""
        path = Path(directory) / INTERFACE_CONFIG_NAME
        payload = {"model_type": model_type, "interface": self.to_dict(), "version": f"adapters.{__version__}"}
        path.write_text(json.dumps(payload, indent=2, sort_keys=True))
        return path

    # the spec ----------------------------------------------------------------------------------------------------
    def to_spec(self, model=None) -> ArchitectureSpec:
        """The :class:`ArchitectureSpec` these paths describe (``model`` gives the name in messages)."""
        attn = self.layer_self_attn
        projections = (
            (LoRASite("selfattn", f"{attn}.{self.attn_qkv_proj}", ("q", "k", "v")),)
            if self.attn_qkv_proj
            else tuple(
                LoRASite("selfattn", f"{attn}.{p}", (m,))
                for m, p in zip("qkv", (self.attn_q_proj, self.attn_k_proj, self.attn_v_proj))
            )
        )
        prefix = self._base_prefix(model)
        group = LayerGroup(
            path=f"{prefix}{self.model_layers}",
            sites=self._sites(),
            lora_sites=projections + ffn(self.layer_intermediate_proj, self.layer_output_proj),
            attention_sites=(AttentionSite(attn, "self_prefix"),),
        )
        model_type = getattr(getattr(model, "config", None), "model_type", None) or "custom"
        enabled = set(self.adapter_methods)
        unsupported = tuple(
            (name, f"not in the AdapterModelInterface's adapter_methods {list(self.adapter_methods)}")
            for method, names in _REGISTRY_NAMES.items()
            if method not in enabled
            for name in names
        )
        return ArchitectureSpec(
            name=f"{model_type} (AdapterModelInterface)",
            model_types=(model_type,),
            layer_groups=(group,),
            invertible=(
                InvertibleSite(store=prefix.rstrip("."), first_layer=f"{group.path}.0")
                if "invertible" in enabled
                else None
            ),
            prompt=PromptSite(f"{prefix}{self.model_embeddings}", mode="inputs_embeds"),
            titles=(f"{model_type} (interface)",),
            reference="plugin",
            unsupported=unsupported,
        )

    def _base_prefix(self, model) -> str:
        """``base_model`` as a path prefix, needed only when transformers' ``base_model`` of ``model`` is the model
        itself (a custom class without ``base_model_prefix``)."""
        if self.base_model is None or model is None or getattr(model, "base_model", model) is not model:
            return ""
        return f"{self.base_model}."

    def _sites(self) -> tuple[BottleneckSite, ...]:
        attn_out = f"{self.layer_self_attn}.{self.attn_o_proj}" if self.attn_o_proj else self.layer_self_attn
        sites = [_site("mh_adapter", ATTENTION_STORE, self.layer_pre_self_attn, attn_out, self.layer_ln_1)]
        if self.layer_cross_attn:
            sites.append(_site("cross_adapter", CROSS_STORE, self.layer_pre_cross_attn, self.layer_cross_attn, None))
        sites.append(
            _site("output_adapter", OUTPUT_STORE, self.layer_pre_ffn, self.layer_output_proj, self.layer_ln_2)
        )
        return tuple(sites)


def _site(location: str, store: str, residual: str | None, output: str, norm: str | None) -> BottleneckSite:
    """A site as the reference's interface hooks it: ``h`` is ``output``'s output; no residual module means the
    block has no residual of its own there."""
    return BottleneckSite(
        location, store, residual or output, output, inner_norm=norm, has_residual=residual is not None
    )


def load_interface(directory: str | Path) -> AdapterModelInterface | None:
    """The interface saved in ``directory`` (``adapter_interface.json``), or ``None`` if there is none."""
    path = Path(directory) / INTERFACE_CONFIG_NAME
    if not path.is_file():
        return None
    try:
        payload = json.loads(path.read_text())
        return AdapterModelInterface.from_dict(payload["interface"])
    except (ValueError, KeyError, TypeError) as error:
        raise AdapterConfigError(f"{path} is not a valid {INTERFACE_CONFIG_NAME}: {error}") from error

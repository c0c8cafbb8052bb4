"""Find the architecture spec of a live model.

In order: the user's :class:`~adapters.architectures.interface.AdapterModelInterface` given to ``adapters.init``
(or read from ``adapter_interface.json``); the table (:mod:`adapters.architectures.specs`), with the family's
cross-attention sites added when the config asks for cross-attention; an ``EncoderDecoderModel`` composed of the
specs of its encoder and decoder; and last the generic fallback (:mod:`adapters.architectures.derive`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import replace

from torch import nn

from ..errors import UnsupportedModelError
from .paths import resolve_path
from .spec import ArchitectureSpec, InvertibleSite, LayerGroup, PromptSite
from .specs import spec_for_model_type

__all__ = ["resolve_spec", "with_cross_attention", "encoder_decoder_spec", "present_parts"]

ENCODER_DECODER_PROMPT = (
    "prompt tuning needs an encoder that reads token embeddings (its model type has no prompt site)"
)


def resolve_spec(model: nn.Module) -> ArchitectureSpec:
    """The spec for ``model`` (see the module docstring for the order of lookups)."""
    interface = model.__dict__.get("_adapter_interface")
    if interface is not None:
        return interface.to_spec(model)
    config = getattr(model, "config", None)
    model_type = getattr(config, "model_type", None)
    spec = spec_for_model_type(model_type) if model_type else None
    if spec is not None:
        return present_parts(with_cross_attention(spec, config), model.base_model)
    if model_type == "encoder-decoder":
        return encoder_decoder_spec(model)
    from .derive import derive_spec

    return derive_spec(model)


def with_cross_attention(spec: ArchitectureSpec, config) -> ArchitectureSpec:
    """``spec`` with its cross-attention sites added to every layer group when ``config.add_cross_attention``."""
    if spec.cross is None or not getattr(config, "add_cross_attention", False):
        return spec
    cross = spec.cross
    groups = tuple(
        replace(
            group,
            sites=group.sites + cross.sites,
            lora_sites=group.lora_sites + cross.lora_sites,
            attention_sites=group.attention_sites + cross.attention_sites,
        )
        for group in spec.layer_groups
    )
    return replace(spec, layer_groups=groups)


def _prefixed(group: LayerGroup, prefix: str, encoder: bool) -> LayerGroup:
    attention = tuple(
        replace(site, location="encoder_prefix", config_flag="encoder_prefix")
        if encoder and site.location == "self_prefix"
        else site
        for site in group.attention_sites
    )
    inputs = f"{prefix}.{group.inputs}" if group.inputs else prefix
    return replace(group, path=f"{prefix}.{group.path}", attention_sites=attention, inputs=inputs)


def encoder_decoder_spec(model: nn.Module) -> ArchitectureSpec:
    """The spec of an ``EncoderDecoderModel``: its encoder's layers, then its decoder's (with cross-attention)."""
    parts = []
    for role in ("encoder", "decoder"):
        sub = getattr(model, role)
        sub_type = sub.config.model_type
        spec = spec_for_model_type(sub_type)
        if spec is None:
            raise UnsupportedModelError(
                f"EncoderDecoderModel: its {role} has model type {sub_type!r}, which has no architecture spec; "
                "an encoder-decoder model is supported when both of its models are."
            )
        base = sub.base_model
        prefix = role if base is sub else f"{role}.{_child_name(sub, base)}"
        parts.append((prefix, with_cross_attention(spec, sub.config)))
    (enc_prefix, enc), (dec_prefix, dec) = parts
    groups = tuple(_prefixed(g, enc_prefix, True) for g in enc.layer_groups)
    groups += tuple(_prefixed(g, dec_prefix, False) for g in dec.layer_groups)
    invertible = None
    if enc.invertible is not None:
        store = f"{enc_prefix}.{enc.invertible.store}".rstrip(".")
        invertible = InvertibleSite(store=store, first_layer=f"{enc_prefix}.{enc.invertible.first_layer}")
    prompt = _encoder_prompt(enc.prompt, enc_prefix)
    return ArchitectureSpec(
        name=f"encoder-decoder({enc.name}, {dec.name})",
        model_types=("encoder-decoder",),
        layer_groups=groups,
        invertible=invertible,
        prompt=prompt,
        titles=("Encoder-Decoder",),
        reference="native",
        unsupported=() if prompt is not None else (("prompt_tuning", ENCODER_DECODER_PROMPT),),
    )


def _encoder_prompt(site: PromptSite | None, prefix: str) -> PromptSite | None:
    """The encoder's prompt site, moved below ``prefix``: the prompt joins the encoder's input (the encoder counts
    it like in the encoder alone) and the decoder's cross-attention mask covers it, as for T5 and BART."""
    if site is None or site.cross is not None:
        return None
    inputs = f"{prefix}.{site.inputs}" if site.inputs else prefix
    return PromptSite(f"{prefix}.{site.embedding}", mode=site.mode, inputs=inputs, cross="decoder")


def _child_name(parent: nn.Module, child: nn.Module) -> str:
    return next(name for name, module in parent.named_children() if module is child)


def _has_path(root: nn.Module, path: str) -> bool:
    try:
        resolve_path(root, path)
    except (UnsupportedModelError, IndexError):
        return False
    return True


def present_parts(spec: ArchitectureSpec, base: nn.Module) -> ArchitectureSpec:
    """``spec`` without the layer groups (and invertible / prompt sites) that ``base`` lacks.

    transformers builds some classes of a family from part of the model: ``T5EncoderModel`` and
    ``T5ForTokenClassification`` have only the encoder, ``BartForCausalLM`` and ``MBartForCausalLM`` only the
    decoder. Their layers are numbered from 0, as in the reference.
    """
    groups = tuple(g for g in spec.layer_groups if _has_path(base, g.path) and _has_path(base, g.inputs))
    if not groups:
        paths = ", ".join(repr(g.path) for g in spec.layer_groups)
        raise UnsupportedModelError(
            f"{type(base).__name__} has none of the layer stacks of the {spec.name} family ({paths})."
        )
    invertible = spec.invertible
    if invertible is not None and not (_has_path(base, invertible.store) and _has_path(base, invertible.first_layer)):
        invertible = None
    prompt = spec.prompt
    paths = () if prompt is None else (prompt.embedding, prompt.inputs, prompt.cross)
    if prompt is not None and not all(_has_path(base, path) for path in paths):
        prompt = None  # e.g. T5EncoderModel: prompt tuning of T5 extends the decoder's cross-attention mask too
    if (groups, invertible, prompt) == (spec.layer_groups, spec.invertible, spec.prompt):
        return spec
    return dataclasses.replace(spec, layer_groups=groups, invertible=invertible, prompt=prompt)

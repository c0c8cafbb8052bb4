"""Building blocks for architecture specs: the site layouts that many families share, as data.

Specs in :mod:`adapters.architectures.specs` are written with these helpers so that a family that looks like one we
know (a BERT-style post-LN encoder, a Llama-style pre-LN decoder, a BART-style encoder-decoder) is a few lines.
Paths are relative to one transformer layer; see :mod:`adapters.architectures.spec` for what each field means.
"""

from __future__ import annotations

from .spec import AttentionSite, BottleneckSite, LayerGroup, LoRASite, PromptSite

__all__ = [
    "pre_ln",
    "post_ln",
    "qkv",
    "ffn",
    "plain_sites",
    "bert_sites",
    "bert_cross",
    "bart_sites",
    "pre_ln_seq2seq_sites",
    "t5_sites",
    "decoder_group",
    "ENCODER_PROMPT",
    "ATTENTION_STORE",
    "OUTPUT_STORE",
    "CROSS_STORE",
]

# where adapters live in families whose layers hold them directly (the reference's GPT-2, Llama, BART and plugin
# interface layout: ``<layer>.attention_adapters.adapters.<name>``)
ATTENTION_STORE = "attention_adapters.adapters"
OUTPUT_STORE = "output_adapters.adapters"
CROSS_STORE = "cross_attention_adapters.adapters"

# encoders insert the prompt after the embeddings (positions added), as the reference does
ENCODER_PROMPT = PromptSite("embeddings")


def pre_ln(location: str, store: str, pre_norm: str, sublayer: str, **extra) -> BottleneckSite:
    """A pre-LN site: ``pre_norm``'s input is the residual and ``sublayer``'s output is ``h``; the model adds them."""
    return BottleneckSite(location=location, store=store, residual=pre_norm, output=sublayer, **extra)


def post_ln(location: str, store: str, block: str, h: str, norm: str, **extra) -> BottleneckSite:
    """A post-LN site: ``block`` gets the residual as its input 0, ``h`` is ``h``'s output, ``norm`` is replaced."""
    return BottleneckSite(location=location, store=store, residual=block, output=h, norm=norm, **extra)


def qkv(prefix: str, q: str, k: str, v: str) -> tuple[LoRASite, ...]:
    """The three attention projections below ``prefix`` as ``selfattn`` LoRA sites."""
    return tuple(LoRASite("selfattn", f"{prefix}.{name}", (matrix,)) for matrix, name in zip("qkv", (q, k, v)))


def ffn(intermediate: str, output: str) -> tuple[LoRASite, ...]:
    """The feed-forward LoRA sites: ``intermediate`` (first projection) and ``output`` (second)."""
    return (LoRASite("intermediate", intermediate), LoRASite("output", output))


def plain_sites(pre_attn: str, attn: str, pre_ffn: str, mlp: str, **extra) -> tuple[BottleneckSite, ...]:
    """The usual pre-LN decoder layer (Llama, CLIP, ViT): ``x + attn(norm1(x))``, ``x + mlp(norm2(x))``."""
    return (
        pre_ln("mh_adapter", ATTENTION_STORE, pre_attn, attn, **extra),
        pre_ln("output_adapter", OUTPUT_STORE, pre_ffn, mlp, **extra),
    )


def _bert_style(location: str, block: str, **overrides) -> BottleneckSite:
    """A site inside a BERT ``*SelfOutput``/``*Output`` module: ``LN(dropout(dense(h)) + input_tensor)``."""
    fields = {
        "location": location,
        "store": f"{block}.adapters",
        "residual": block,
        "residual_arg": 1,
        "residual_kwarg": "input_tensor",
        "output": f"{block}.dropout",
        "norm": f"{block}.LayerNorm",
    }
    fields.update(overrides)
    return BottleneckSite(**fields)


def bert_sites(pre_ln_model: bool = False, output_h: str = "output.dropout") -> tuple[BottleneckSite, ...]:
    """BERT-style layers. ``pre_ln_model``: the ``*Output`` modules add the residual without a norm (XLM-R XL,
    RoBERTa-PreLayerNorm); ``output_h``: the module whose output is the FFN's ``h``."""
    if pre_ln_model:
        return (
            _bert_style("mh_adapter", "attention.output", norm=None),
            _bert_style("output_adapter", "output", norm=None, output=output_h),
        )
    return (_bert_style("mh_adapter", "attention.output"), _bert_style("output_adapter", "output", output=output_h))


def bert_cross() -> LayerGroup:
    """The cross-attention sites of a BERT-style layer built with ``add_cross_attention`` (EncoderDecoderModel)."""
    return LayerGroup(
        path="",
        sites=(_bert_style("cross_adapter", "crossattention.output"),),
        lora_sites=qkv("crossattention.self", "query", "key", "value"),
        attention_sites=(AttentionSite("crossattention.self", "cross_prefix", "cross_prefix"),),
    )


def bart_sites(cross: bool) -> tuple[BottleneckSite, ...]:
    """Post-LN BART layers (BART, PLBART): attention modules give both residual and ``h``; functional dropout."""

    def site(location: str, store: str, attention: str, norm: str) -> BottleneckSite:
        return BottleneckSite(location, store, attention, attention, norm=norm, dropout_attr="dropout")

    sites = [site("mh_adapter", ATTENTION_STORE, "self_attn", "self_attn_layer_norm")]
    if cross:
        sites.append(site("cross_adapter", CROSS_STORE, "encoder_attn", "encoder_attn_layer_norm"))
    ffn_site = BottleneckSite(
        "output_adapter", OUTPUT_STORE, "fc1", "fc2", norm="final_layer_norm", residual_kwarg="input",
        dropout_attr="dropout",
    )  # fmt: skip
    return (*sites, ffn_site)


def pre_ln_seq2seq_sites(cross: bool) -> tuple[BottleneckSite, ...]:
    """Pre-LN BART-style layers (mBART, Whisper)."""
    sites = [pre_ln("mh_adapter", ATTENTION_STORE, "self_attn_layer_norm", "self_attn")]
    if cross:
        sites.append(pre_ln("cross_adapter", CROSS_STORE, "encoder_attn_layer_norm", "encoder_attn"))
    return (*sites, pre_ln("output_adapter", OUTPUT_STORE, "final_layer_norm", "fc2"))


def t5_sites(cross: bool) -> tuple[BottleneckSite, ...]:
    """T5/mT5 blocks: ``layer.0`` self-attention, ``layer.1`` cross-attention (decoder), ``layer.-1`` FFN."""
    sites = [pre_ln("mh_adapter", "layer.0.adapters", "layer.0.layer_norm", "layer.0.dropout")]
    if cross:
        sites.append(pre_ln("cross_adapter", "layer.1.adapters", "layer.1.layer_norm", "layer.1.dropout"))
    return (*sites, pre_ln("output_adapter", "layer.-1.adapters", "layer.-1.layer_norm", "layer.-1.dropout"))


def decoder_group(path: str, sites, lora, attention, inputs: str = "") -> LayerGroup:
    """A layer group (shorthand for :class:`LayerGroup` with positional fields)."""
    return LayerGroup(path, tuple(sites), tuple(lora), tuple(attention), inputs)

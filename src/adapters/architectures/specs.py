"""The table of supported model families, as data.

Adding a family is one entry here (plus its tiny config in ``tests/conftest.py``). Layer paths are relative to the
base model (``model.base_model``); site paths are relative to one layer. See :mod:`adapters.architectures.spec`.
"""

from __future__ import annotations

from .spec import (
    ArchitectureSpec,
    AttentionSite,
    BottleneckSite,
    InvertibleSite,
    KeyRename,
    LayerGroup,
    LoRASite,
    PromptSite,
)

__all__ = ["SPECS", "spec_for_model_type", "supported_model_types"]


def _pre_ln(location: str, store: str, pre_norm: str, sublayer: str) -> BottleneckSite:
    """A pre-LN site: the pre-norm's input is the residual and ``sublayer``'s output is ``h``."""
    return BottleneckSite(location=location, store=store, residual=pre_norm, output=sublayer)


def _qkv(prefix: str, q: str, k: str, v: str) -> tuple[LoRASite, ...]:
    """The three attention projections below ``prefix`` as ``selfattn`` LoRA sites."""
    return tuple(LoRASite("selfattn", f"{prefix}.{name}", (matrix,)) for matrix, name in zip("qkv", (q, k, v)))


def _ffn(intermediate: str, output: str) -> tuple[LoRASite, ...]:
    """The feed-forward LoRA sites. Which projection is "intermediate" differs between families (see specs below)."""
    return (LoRASite("intermediate", intermediate), LoRASite("output", output))


_BERT_LAYER = (
    BottleneckSite(
        location="mh_adapter",
        store="attention.output.adapters",
        residual="attention.output",
        residual_arg=1,
        residual_kwarg="input_tensor",
        output="attention.output.dropout",
        norm="attention.output.LayerNorm",
    ),
    BottleneckSite(
        location="output_adapter",
        store="output.adapters",
        residual="output",
        residual_arg=1,
        residual_kwarg="input_tensor",
        output="output.dropout",
        norm="output.LayerNorm",
    ),
)

_DISTILBERT_LAYER = (
    BottleneckSite(
        location="mh_adapter",
        store="attention_adapters.adapters",
        residual="attention",
        output="attention",
        norm="sa_layer_norm",
    ),
    BottleneckSite(
        location="output_adapter",
        store="output_adapters.adapters",
        residual="ffn",
        residual_kwarg="input",
        output="ffn",
        norm="output_layer_norm",
    ),
)

_GPT2_LAYER = (
    _pre_ln("mh_adapter", "attention_adapters.adapters", "ln_1", "attn"),
    _pre_ln("output_adapter", "output_adapters.adapters", "ln_2", "mlp"),
)

_LLAMA_LAYER = (
    _pre_ln("mh_adapter", "attention_adapters.adapters", "input_layernorm", "self_attn"),
    _pre_ln("output_adapter", "output_adapters.adapters", "post_attention_layernorm", "mlp"),
)

_T5_SELF = _pre_ln("mh_adapter", "layer.0.adapters", "layer.0.layer_norm", "layer.0.dropout")
_T5_CROSS = _pre_ln("cross_adapter", "layer.1.adapters", "layer.1.layer_norm", "layer.1.dropout")
_T5_FF = _pre_ln("output_adapter", "layer.-1.adapters", "layer.-1.layer_norm", "layer.-1.dropout")


def _bart_site(location: str, store: str, attention: str | None, norm: str) -> BottleneckSite:
    """A post-LN BART site: ``attention`` gives both residual (input) and ``h`` (output); FFN uses fc1/fc2."""
    if attention is None:
        return BottleneckSite(
            location=location,
            store=store,
            residual="fc1",
            residual_kwarg="input",
            output="fc2",
            norm=norm,
            dropout_attr="dropout",
        )
    return BottleneckSite(
        location=location, store=store, residual=attention, output=attention, norm=norm, dropout_attr="dropout"
    )


_BART_MH = _bart_site("mh_adapter", "attention_adapters.adapters", "self_attn", "self_attn_layer_norm")
_BART_CROSS = _bart_site(
    "cross_adapter", "cross_attention_adapters.adapters", "encoder_attn", "encoder_attn_layer_norm"
)
_BART_FF = _bart_site("output_adapter", "output_adapters.adapters", None, "final_layer_norm")

_MBART_MH = _pre_ln("mh_adapter", "attention_adapters.adapters", "self_attn_layer_norm", "self_attn")
_MBART_CROSS = _pre_ln("cross_adapter", "cross_attention_adapters.adapters", "encoder_attn_layer_norm", "encoder_attn")
_MBART_FF = _pre_ln("output_adapter", "output_adapters.adapters", "final_layer_norm", "fc2")

_VIT_LAYER = (
    _pre_ln("mh_adapter", "attention_adapters.adapters", "layernorm_before", "attention"),
    _pre_ln("output_adapter", "output_adapters.adapters", "layernorm_after", "mlp"),
)

# LoRA sites, as the reference wraps them (its checkpoints use these paths). "intermediate" is the first FFN
# projection and "output" the second everywhere except the reference's hand-written Llama/Mistral classes, which map
# intermediate -> mlp.down_proj and output -> mlp.up_proj; its plugin interface for Qwen2 uses the usual order.
_BERT_LORA = _qkv("attention.self", "query", "key", "value") + _ffn("intermediate.dense", "output.dense")
_DISTILBERT_LORA = _qkv("attention", "q_lin", "k_lin", "v_lin") + _ffn("ffn.lin1", "ffn.lin2")
_GPT2_LORA = (LoRASite("selfattn", "attn.c_attn", ("q", "k", "v")),) + _ffn("mlp.c_fc", "mlp.c_proj")
_LLAMA_ATTN_LORA = _qkv("self_attn", "q_proj", "k_proj", "v_proj")
_LLAMA_LORA = _LLAMA_ATTN_LORA + _ffn("mlp.down_proj", "mlp.up_proj")
_QWEN2_LORA = _LLAMA_ATTN_LORA + _ffn("mlp.up_proj", "mlp.down_proj")
_T5_FF_LORA = _ffn("layer.-1.DenseReluDense.wi_1|layer.-1.DenseReluDense.wi", "layer.-1.DenseReluDense.wo")
_T5_ENCODER_LORA = _qkv("layer.0.SelfAttention", "q", "k", "v") + _T5_FF_LORA
_T5_DECODER_LORA = (
    _qkv("layer.0.SelfAttention", "q", "k", "v") + _qkv("layer.1.EncDecAttention", "q", "k", "v") + _T5_FF_LORA
)
_BART_ENCODER_LORA = _qkv("self_attn", "q_proj", "k_proj", "v_proj") + _ffn("fc1", "fc2")
_BART_DECODER_LORA = (
    _qkv("self_attn", "q_proj", "k_proj", "v_proj")
    + _qkv("encoder_attn", "q_proj", "k_proj", "v_proj")
    + _ffn("fc1", "fc2")
)
_VIT_LORA = _qkv("attention", "q_proj", "k_proj", "v_proj") + _ffn("mlp.fc1", "mlp.fc2")

# Attention modules (prefix tuning), with the reference's location keys. In encoder-decoder models the encoder's
# self-attention is "encoder_prefix" and the decoder's "self_prefix"; cross-attention is "cross_prefix".
_BERT_ATTN = (AttentionSite("attention.self", "self_prefix"),)
_DISTILBERT_ATTN = (AttentionSite("attention", "self"),)  # the reference's DistilBERT location key is "self"
_GPT2_ATTN = (AttentionSite("attn", "self_prefix"),)
_LLAMA_ATTN = (AttentionSite("self_attn", "self_prefix"),)
_T5_ENCODER_ATTN = (AttentionSite("layer.0.SelfAttention", "encoder_prefix", "encoder_prefix"),)
_T5_DECODER_ATTN = (
    AttentionSite("layer.0.SelfAttention", "self_prefix"),
    AttentionSite("layer.1.EncDecAttention", "cross_prefix", "cross_prefix"),
)
_BART_ENCODER_ATTN = (AttentionSite("self_attn", "encoder_prefix", "encoder_prefix", "encoder_attention_heads"),)
_BART_DECODER_ATTN = (
    AttentionSite("self_attn", "self_prefix", heads_attribute="decoder_attention_heads"),
    AttentionSite("encoder_attn", "cross_prefix", "cross_prefix", "decoder_attention_heads"),
)
_VIT_ATTN = (AttentionSite("attention", "self_prefix"),)

# Prompt tuning: encoders insert the prompt after the embeddings (positions added, as the reference); decoder-only
# models insert it into the token embeddings, so positions and the KV cache count it like tokens.
_ENCODER_PROMPT = PromptSite("embeddings")

# transformers 5 renamed ViT's modules; the reference's files use the 4.x names
_VIT_LORA_RENAMES = tuple(
    KeyRename(f"layers.{{i}}.{ours}.", f"encoder.layer.{{i}}.{theirs}.")
    for ours, theirs in (
        ("attention.q_proj", "attention.attention.query"),
        ("attention.k_proj", "attention.attention.key"),
        ("attention.v_proj", "attention.attention.value"),
        ("mlp.fc1", "intermediate.dense"),
        ("mlp.fc2", "output.dense"),
    )
)

SPECS: tuple[ArchitectureSpec, ...] = (
    ArchitectureSpec(
        name="bert",
        model_types=("bert", "roberta", "xlm-roberta", "electra"),
        layer_groups=(LayerGroup("encoder.layer", _BERT_LAYER, _BERT_LORA, _BERT_ATTN),),
        invertible=InvertibleSite(store="", first_layer="encoder.layer.0"),
        prompt=_ENCODER_PROMPT,
    ),
    ArchitectureSpec(
        name="distilbert",
        model_types=("distilbert",),
        layer_groups=(LayerGroup("transformer.layer", _DISTILBERT_LAYER, _DISTILBERT_LORA, _DISTILBERT_ATTN),),
        invertible=InvertibleSite(store="", first_layer="transformer.layer.0"),
        prompt=_ENCODER_PROMPT,
    ),
    ArchitectureSpec(
        name="gpt2",
        model_types=("gpt2",),
        layer_groups=(LayerGroup("h", _GPT2_LAYER, _GPT2_LORA, _GPT2_ATTN),),
        invertible=InvertibleSite(store="", first_layer="h.0"),
        prompt=PromptSite("wte", mode="inputs_embeds"),
    ),
    ArchitectureSpec(
        name="llama",
        model_types=("llama", "mistral"),
        layer_groups=(LayerGroup("layers", _LLAMA_LAYER, _LLAMA_LORA, _LLAMA_ATTN),),
        invertible=InvertibleSite(store="", first_layer="layers.0"),
        prompt=PromptSite("embed_tokens", mode="inputs_embeds"),
    ),
    ArchitectureSpec(
        name="qwen2",
        model_types=("qwen2",),
        layer_groups=(LayerGroup("layers", _LLAMA_LAYER, _QWEN2_LORA, _LLAMA_ATTN),),
        invertible=InvertibleSite(store="", first_layer="layers.0"),
        prompt=PromptSite("embed_tokens", mode="inputs_embeds"),
    ),
    ArchitectureSpec(
        name="t5",
        model_types=("t5",),
        layer_groups=(
            LayerGroup("encoder.block", (_T5_SELF, _T5_FF), _T5_ENCODER_LORA, _T5_ENCODER_ATTN, inputs="encoder"),
            LayerGroup(
                "decoder.block",
                (_T5_SELF, _T5_CROSS, _T5_FF),
                _T5_DECODER_LORA,
                _T5_DECODER_ATTN,
                inputs="decoder",
            ),
        ),
        invertible=InvertibleSite(store="encoder", first_layer="encoder.block.0"),
    ),
    ArchitectureSpec(
        name="bart",
        model_types=("bart",),
        layer_groups=(
            LayerGroup(
                "encoder.layers", (_BART_MH, _BART_FF), _BART_ENCODER_LORA, _BART_ENCODER_ATTN, inputs="encoder"
            ),
            LayerGroup(
                "decoder.layers",
                (_BART_MH, _BART_CROSS, _BART_FF),
                _BART_DECODER_LORA,
                _BART_DECODER_ATTN,
                inputs="decoder",
            ),
        ),
        invertible=InvertibleSite(store="encoder", first_layer="encoder.layers.0"),
    ),
    ArchitectureSpec(
        name="mbart",
        model_types=("mbart",),
        layer_groups=(
            LayerGroup(
                "encoder.layers", (_MBART_MH, _MBART_FF), _BART_ENCODER_LORA, _BART_ENCODER_ATTN, inputs="encoder"
            ),
            LayerGroup(
                "decoder.layers",
                (_MBART_MH, _MBART_CROSS, _MBART_FF),
                _BART_DECODER_LORA,
                _BART_DECODER_ATTN,
                inputs="decoder",
            ),
        ),
        invertible=InvertibleSite(store="encoder", first_layer="encoder.layers.0"),
    ),
    ArchitectureSpec(
        name="vit",
        model_types=("vit",),
        layer_groups=(LayerGroup("layers", _VIT_LAYER, _VIT_LORA, _VIT_ATTN),),
        invertible=InvertibleSite(store="", first_layer="layers.0"),
        prompt=_ENCODER_PROMPT,
        checkpoint_renames=(
            KeyRename("layers.{i}.attention_adapters.", "encoder.layer.{i}.attention_adapters."),
            KeyRename("layers.{i}.output_adapters.", "encoder.layer.{i}.output.output_adapters."),
            KeyRename("layers.{i}.attention.prefix_tuning.", "encoder.layer.{i}.attention.attention.prefix_tuning."),
            KeyRename("layers.{i}.reft_layer.", "encoder.layer.{i}.reft_layer."),
            *_VIT_LORA_RENAMES,
        ),
    ),
)

_BY_MODEL_TYPE = {model_type: spec for spec in SPECS for model_type in spec.model_types}


def supported_model_types() -> tuple[str, ...]:
    """All ``config.model_type`` values with a spec, sorted."""
    return tuple(sorted(_BY_MODEL_TYPE))


def spec_for_model_type(model_type: str) -> ArchitectureSpec | None:
    """The spec registered for ``model_type``, or ``None``."""
    return _BY_MODEL_TYPE.get(model_type)

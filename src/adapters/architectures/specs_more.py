"""Families the reference library does not support, chosen by what people fine-tune today.

Adapter keys follow the layout the reference uses for its plugin interface and its decoder families
(``<layer>.attention_adapters.adapters.<name>``, ``<layer>.output_adapters.adapters.<name>``; BERT-style encoders keep
BERT's ``attention.output.adapters``). See :mod:`adapters.architectures.specs` for the reference's families.
"""

from __future__ import annotations

from .sites import ATTENTION_STORE, ENCODER_PROMPT, OUTPUT_STORE, bert_sites, ffn, plain_sites, post_ln, qkv
from .spec import ArchitectureSpec, AttentionSite, BottleneckSite, InvertibleSite, LayerGroup, LoRASite, PromptSite
from .specs_reference import _SELF_ATTN, _UP_DOWN_LORA, GEMMA_LAYER, bert_like, clip_group, decoder, two_tower

__all__ = ["MORE_SPECS"]

# Mixture-of-experts blocks hold their routed experts as fused 3-D parameters (no nn.Linear per expert): LoRA adapts
# the attention projections, and Qwen2-MoE's shared expert (an MLP of nn.Linear layers, or the layer's dense MLP where
# the config makes a layer dense); bottleneck adapters sit on the MoE block's output.
_MOE_LORA = qkv("self_attn", "q_proj", "k_proj", "v_proj")
_SHARED_EXPERT_LORA = ffn("mlp.shared_expert.up_proj|mlp.up_proj", "mlp.shared_expert.down_proj|mlp.down_proj")


# OLMo 2 normalises the sub-block outputs (no pre-norm): the residual is the sub-block's own input and h is the
# output of the norm that follows it
_OLMO2_LAYER = (
    BottleneckSite("mh_adapter", ATTENTION_STORE, "self_attn", "post_attention_layernorm"),
    BottleneckSite("output_adapter", OUTPUT_STORE, "mlp", "post_feedforward_layernorm"),
)

_BERT_LORA = qkv("attention.self", "query", "key", "value") + ffn("intermediate.dense", "output.dense")
_BERT_ATTN = (AttentionSite("attention.self", "self_prefix"),)

MORE_SPECS: tuple[ArchitectureSpec, ...] = (
    decoder("qwen3_moe", ("qwen3_moe",), ("Qwen3-MoE",), None, lora=_MOE_LORA),
    decoder("qwen2_moe", ("qwen2_moe",), ("Qwen2-MoE",), None, lora=_MOE_LORA + _SHARED_EXPERT_LORA),
    decoder("mixtral", ("mixtral",), ("Mixtral",), None, lora=_MOE_LORA),
    decoder("olmo2", ("olmo2",), ("OLMo 2",), None, sites=_OLMO2_LAYER),
    decoder(
        "phi3",
        ("phi3",),
        ("Phi-3",),
        None,
        lora=(LoRASite("selfattn", "self_attn.qkv_proj", ("q", "k", "v")),) + ffn("mlp.gate_up_proj", "mlp.down_proj"),
    ),
    decoder(
        "granite",
        ("granite",),
        ("Granite",),
        None,
        sites=plain_sites(
            "input_layernorm", "self_attn", "post_attention_layernorm", "mlp", output_scale="residual_multiplier"
        ),
    ),
    decoder("smollm3", ("smollm3",), ("SmolLM3",), None),
    ArchitectureSpec(
        name="gemma3",
        model_types=("gemma3",),
        # the language model of Gemma 3 (image-text); the SigLIP vision tower stays frozen and unadapted
        layer_groups=(LayerGroup("language_model.layers", GEMMA_LAYER, _UP_DOWN_LORA, _SELF_ATTN),),
        invertible=InvertibleSite(store="language_model", first_layer="language_model.layers.0"),
        prompt=PromptSite("language_model.embed_tokens", mode="inputs_embeds"),
        titles=("Gemma 3",),
    ),
    bert_like("camembert", ("camembert", "data2vec-text"), ("CamemBERT", "Data2Vec-Text"), None),
    bert_like(
        "roberta-prelayernorm",
        ("roberta-prelayernorm",),
        ("RoBERTa-PreLayerNorm",),
        None,
        layer_groups=(LayerGroup("encoder.layer", bert_sites(pre_ln_model=True), _BERT_LORA, _BERT_ATTN),),
        cross=None,
    ),
    bert_like(
        "xlm-roberta-xl",
        ("xlm-roberta-xl",),
        ("XLM-RoBERTa-XL",),
        None,
        # its FFN output module has no dropout: h is the output of the projection
        layer_groups=(
            LayerGroup(
                "encoder.layer", bert_sites(pre_ln_model=True, output_h="output.dense"), _BERT_LORA, _BERT_ATTN
            ),
        ),
        cross=None,
    ),
    ArchitectureSpec(
        name="mpnet",
        model_types=("mpnet",),
        layer_groups=(
            LayerGroup(
                "encoder.layer",
                (
                    post_ln("mh_adapter", ATTENTION_STORE, "attention", "attention.dropout", "attention.LayerNorm"),
                    bert_sites()[1],
                ),
                qkv("attention.attn", "q", "k", "v") + ffn("intermediate.dense", "output.dense"),
                (AttentionSite("attention.attn", "self_prefix", legacy="mpnet"),),
            ),
        ),
        invertible=InvertibleSite(store="", first_layer="encoder.layer.0"),
        prompt=ENCODER_PROMPT,
        titles=("MPNet",),
    ),
    two_tower("siglip", ("siglip",), ("SigLIP",), None),
    ArchitectureSpec(
        name="siglip-vision",
        model_types=("siglip_vision_model",),  # the generic fallback probes with token ids, which this model lacks
        layer_groups=(clip_group("", "siglip_vision_model_self_prefix"),),
        invertible=InvertibleSite(store="", first_layer="encoder.layers.0"),
        prompt=ENCODER_PROMPT,
        titles=("SigLIP (vision model)",),
    ),
)

"""The specs of the families the reference library supports (natively or through its plugin interface), as data.

Layer paths are relative to the base model (``model.base_model``); site paths are relative to one layer. See
:mod:`adapters.architectures.spec` for the fields, :mod:`adapters.architectures.sites` for the shared layouts and
:mod:`adapters.architectures.specs` for the table that collects every family.
"""

from __future__ import annotations

from .sites import (
    ATTENTION_STORE,
    ENCODER_PROMPT,
    OUTPUT_STORE,
    bart_sites,
    bert_cross,
    bert_sites,
    ffn,
    plain_sites,
    pre_ln,
    pre_ln_seq2seq_sites,
    qkv,
    t5_sites,
)
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

__all__ = ["REFERENCE_SPECS"]

# Reasons shown where a family cannot run a method (also the crosses of docs/model_overview.md).
NO_TOKEN_PROMPT = "the encoder reads audio features, not token embeddings, so there is nothing to prepend a prompt to"
TWO_TOWERS_PROMPT = "two towers (text and vision) with separate inputs: a single soft prompt has no one place to go"
CLIP_TEXT_PROMPT = (
    "CLIP's pooled text output is read at the end token's position in input_ids, which a prompt would shift"
)
LEGACY_ATTENTION = (
    "its attention is hand-written (it does not call transformers' attention interface), so prefix keys and values "
    "cannot be inserted"
)

# --- BERT family -------------------------------------------------------------------------------------------------
_BERT_LORA = qkv("attention.self", "query", "key", "value") + ffn("intermediate.dense", "output.dense")
_BERT_ATTN = (AttentionSite("attention.self", "self_prefix"),)
_BERT_GROUP = LayerGroup("encoder.layer", bert_sites(), _BERT_LORA, _BERT_ATTN)
_BERT_INVERTIBLE = InvertibleSite(store="", first_layer="encoder.layer.0")
# DeBERTa's embedding module multiplies its output by the attention mask, so the prompt joins the token embeddings
# (before the mask is applied) instead of the embedding output
_DEBERTA_PROMPT = PromptSite("embeddings.word_embeddings", mode="inputs_embeds")


def bert_like(name: str, types: tuple[str, ...], titles: tuple[str, ...], reference: str | None, **extra):
    """A BERT-style encoder spec (post-LN, ``encoder.layer``); ``extra`` overrides fields."""
    fields = {
        "name": name,
        "model_types": types,
        "layer_groups": (_BERT_GROUP,),
        "invertible": _BERT_INVERTIBLE,
        "prompt": ENCODER_PROMPT,
        "titles": titles,
        "reference": reference,
        "cross": bert_cross(),
    }
    fields.update(extra)
    return ArchitectureSpec(**fields)


# --- decoder-only ------------------------------------------------------------------------------------------------
_LLAMA_LAYER = plain_sites("input_layernorm", "self_attn", "post_attention_layernorm", "mlp")
_LLAMA_QKV = qkv("self_attn", "q_proj", "k_proj", "v_proj")
# The reference's hand-written Llama/Mistral classes map intermediate -> mlp.down_proj and output -> mlp.up_proj
# (their checkpoints use these paths); its plugin interface (Qwen2, Qwen3, Gemma) and our new families use the usual
# order.
_LLAMA_LORA = _LLAMA_QKV + ffn("mlp.down_proj", "mlp.up_proj")
_UP_DOWN_LORA = _LLAMA_QKV + ffn("mlp.up_proj", "mlp.down_proj")
_SELF_ATTN = (AttentionSite("self_attn", "self_prefix"),)


def decoder(name, types, titles, reference, sites=_LLAMA_LAYER, lora=_UP_DOWN_LORA, attention=_SELF_ATTN, **extra):
    """A decoder-only spec with layers at ``layers`` and token embeddings at ``embed_tokens``."""
    fields = {
        "name": name,
        "model_types": types,
        "layer_groups": (LayerGroup("layers", tuple(sites), tuple(lora), tuple(attention)),),
        "invertible": InvertibleSite(store="", first_layer="layers.0"),
        "prompt": PromptSite("embed_tokens", mode="inputs_embeds"),
        "titles": titles,
        "reference": reference,
    }
    fields.update(extra)
    return ArchitectureSpec(**fields)


GEMMA_LAYER = (
    pre_ln("mh_adapter", ATTENTION_STORE, "input_layernorm", "self_attn", inner_norm="post_attention_layernorm"),
    pre_ln(
        "output_adapter", OUTPUT_STORE, "pre_feedforward_layernorm", "mlp", inner_norm="post_feedforward_layernorm"
    ),
)
# Phi runs attention and MLP in parallel on one normed input; as in the reference's interface the FFN adapter has no
# residual of its own
_PHI_LAYER = (
    pre_ln("mh_adapter", ATTENTION_STORE, "input_layernorm", "self_attn"),
    BottleneckSite("output_adapter", OUTPUT_STORE, "input_layernorm", "mlp", has_residual=False),
)
# ModernBERT as the reference's interface places it: residuals are the (normed) inputs of attn and mlp, and the
# attention adapter's input goes through mlp_norm (its layer_ln_1)
_MODERNBERT_LAYER = (
    BottleneckSite("mh_adapter", ATTENTION_STORE, "attn", "attn", inner_norm="mlp_norm"),
    BottleneckSite("output_adapter", OUTPUT_STORE, "mlp", "mlp"),
)
_GPTJ_LAYER = (
    pre_ln("mh_adapter", ATTENTION_STORE, "ln_1", "attn"),
    BottleneckSite("output_adapter", OUTPUT_STORE, "ln_1", "mlp", residual_extra="attn"),
)

# --- encoder-decoder -----------------------------------------------------------------------------------------------
_T5_FF_LORA = ffn("layer.-1.DenseReluDense.wi_1|layer.-1.DenseReluDense.wi", "layer.-1.DenseReluDense.wo")
_T5_SELF_LORA = qkv("layer.0.SelfAttention", "q", "k", "v")
_BART_SELF_LORA = qkv("self_attn", "q_proj", "k_proj", "v_proj")
_BART_CROSS_LORA = qkv("encoder_attn", "q_proj", "k_proj", "v_proj")


def _seq2seq_attention(heads_encoder: str, heads_decoder: str, self_path: str, cross_path: str):
    """Encoder self-attention is ``encoder_prefix``, decoder self-attention ``self_prefix``, cross ``cross_prefix``."""
    encoder = (AttentionSite(self_path, "encoder_prefix", "encoder_prefix", heads_encoder),)
    decoder = (
        AttentionSite(self_path, "self_prefix", heads_attribute=heads_decoder),
        AttentionSite(cross_path, "cross_prefix", "cross_prefix", heads_decoder),
    )
    return encoder, decoder


_T5_ATTN = _seq2seq_attention(
    "num_attention_heads", "num_attention_heads", "layer.0.SelfAttention", "layer.1.EncDecAttention"
)
_BART_LORA = (_BART_SELF_LORA + ffn("fc1", "fc2"), _BART_SELF_LORA + _BART_CROSS_LORA + ffn("fc1", "fc2"))
_BART_ATTN = _seq2seq_attention("encoder_attention_heads", "decoder_attention_heads", "self_attn", "encoder_attn")


def seq2seq(name, types, titles, reference, sites, layers=("layers", "layers"), lora=None, attention=None, **extra):
    """An encoder-decoder spec; ``layers``/``sites``/``lora``/``attention`` are (encoder, decoder) pairs (BART's
    LoRA and attention sites by default)."""
    lora = lora or _BART_LORA
    attention = attention or _BART_ATTN
    groups = tuple(
        LayerGroup(f"{part}.{layers[i]}", sites[i], lora[i], attention[i], inputs=part)
        for i, part in enumerate(("encoder", "decoder"))
    )
    fields = {
        "name": name,
        "model_types": types,
        "layer_groups": groups,
        "invertible": InvertibleSite(store="encoder", first_layer=f"encoder.{layers[0]}.0"),
        "titles": titles,
        "reference": reference,
    }
    fields.update(extra)
    return ArchitectureSpec(**fields)


# --- vision and two-tower ------------------------------------------------------------------------------------------
_VIT_GROUP = LayerGroup(
    "layers",
    plain_sites("layernorm_before", "attention", "layernorm_after", "mlp"),
    qkv("attention", "q_proj", "k_proj", "v_proj") + ffn("mlp.fc1", "mlp.fc2"),
    (AttentionSite("attention", "self_prefix"),),
)


def _vit_renames(output_adapters: str) -> tuple[KeyRename, ...]:
    """transformers 5 restructured ViT/BEiT (``encoder.layer`` -> ``layers``, q/k/v/o in one attention module)."""
    lora = tuple(
        KeyRename(f"layers.{{i}}.{ours}.", f"encoder.layer.{{i}}.{theirs}.")
        for ours, theirs in (
            ("attention.q_proj", "attention.attention.query"),
            ("attention.k_proj", "attention.attention.key"),
            ("attention.v_proj", "attention.attention.value"),
            ("mlp.fc1", "intermediate.dense"),
            ("mlp.fc2", "output.dense"),
        )
    )
    return (
        KeyRename("layers.{i}.attention_adapters.", "encoder.layer.{i}.attention_adapters."),
        KeyRename("layers.{i}.output_adapters.", f"encoder.layer.{{i}}.{output_adapters}."),
        KeyRename("layers.{i}.attention.prefix_tuning.", "encoder.layer.{i}.attention.attention.prefix_tuning."),
        KeyRename("layers.{i}.reft_layer.", "encoder.layer.{i}.reft_layer."),
        *lora,
    )


_CLIP_SITES = plain_sites("layer_norm1", "self_attn", "layer_norm2", "mlp")
_CLIP_LORA = qkv("self_attn", "q_proj", "k_proj", "v_proj") + ffn("mlp.fc1", "mlp.fc2")


def clip_group(tower: str, location: str) -> LayerGroup:
    """One CLIP/SigLIP tower (``text_model`` or ``vision_model``; ``""`` for a single-tower model). ``location``
    is the prefix-tuning location key: the reference names it after the tower's config
    (``clip_text_model_self_prefix``, ``clip_vision_model_self_prefix``), so the two towers get separate prefixes."""
    prefix = f"{tower}." if tower else ""
    attention = (AttentionSite("self_attn", location),)
    return LayerGroup(f"{prefix}encoder.layers", _CLIP_SITES, _CLIP_LORA, attention, inputs=tower)


def two_tower(name, types, titles, reference, **extra) -> ArchitectureSpec:
    text, vision = (
        clip_group(f"{tower}_model", f"{types[0]}_{tower}_model_self_prefix") for tower in ("text", "vision")
    )
    fields = {
        "name": name,
        "model_types": types,
        "layer_groups": (text, vision),
        "invertible": InvertibleSite(store="text_model", first_layer="text_model.encoder.layers.0"),
        "titles": titles,
        "reference": reference,
        "unsupported": (("prompt_tuning", TWO_TOWERS_PROMPT),),
    }
    fields.update(extra)
    return ArchitectureSpec(**fields)


REFERENCE_SPECS: tuple[ArchitectureSpec, ...] = (
    bert_like(
        "bert",
        ("bert", "roberta", "xlm-roberta", "electra"),
        ("BERT", "RoBERTa", "XLM-RoBERTa", "ELECTRA"),
        "native",
    ),
    bert_like("bert-generation", ("bert-generation",), ("BERT-Generation",), "native"),
    bert_like("xmod", ("xmod",), ("X-MOD",), "native"),
    bert_like(
        "deberta",
        ("deberta",),
        ("DeBERTa",),
        "native",
        layer_groups=(
            LayerGroup(
                "encoder.layer",
                bert_sites(),
                (LoRASite("selfattn", "attention.self.in_proj", ("q", "k", "v")),)
                + ffn("intermediate.dense", "output.dense"),
                _BERT_ATTN,
            ),
        ),
        cross=None,
        prompt=_DEBERTA_PROMPT,
        unsupported=(("prefix_tuning", LEGACY_ATTENTION),),
    ),
    bert_like(
        "deberta-v2",
        ("deberta-v2",),
        ("DeBERTa-v2",),
        "native",
        layer_groups=(
            LayerGroup(
                "encoder.layer",
                bert_sites(),
                qkv("attention.self", "query_proj", "key_proj", "value_proj")
                + ffn("intermediate.dense", "output.dense"),
                _BERT_ATTN,
            ),
        ),
        cross=None,
        prompt=_DEBERTA_PROMPT,
        unsupported=(("prefix_tuning", LEGACY_ATTENTION),),
    ),
    ArchitectureSpec(
        name="albert",
        model_types=("albert",),
        # one entry per *unique* layer (ALBERT shares layers; the reference indexes them the same way)
        layer_groups=(
            LayerGroup(
                "encoder.albert_layer_groups.0.albert_layers",
                (
                    BottleneckSite(
                        "mh_adapter",
                        "attention.attention_adapters.adapters",
                        "attention",
                        "attention.output_dropout",
                        norm="attention.LayerNorm",
                    ),
                    BottleneckSite(
                        "output_adapter",
                        OUTPUT_STORE,
                        "ffn",
                        "ffn_output",
                        norm="full_layer_layer_norm",
                        residual_kwarg="input",
                    ),
                ),  # fmt: skip
                qkv("attention", "query", "key", "value") + ffn("ffn", "ffn_output"),
                (AttentionSite("attention", "self_prefix"),),
            ),
        ),
        invertible=InvertibleSite(store="", first_layer="encoder.embedding_hidden_mapping_in"),
        prompt=ENCODER_PROMPT,
        titles=("ALBERT",),
        reference="native",
    ),
    ArchitectureSpec(
        name="distilbert",
        model_types=("distilbert",),
        layer_groups=(
            LayerGroup(
                "transformer.layer",
                (
                    BottleneckSite("mh_adapter", ATTENTION_STORE, "attention", "attention", norm="sa_layer_norm"),
                    BottleneckSite(
                        "output_adapter", OUTPUT_STORE, "ffn", "ffn", norm="output_layer_norm", residual_kwarg="input"
                    ),
                ),
                qkv("attention", "q_lin", "k_lin", "v_lin") + ffn("ffn.lin1", "ffn.lin2"),
                (AttentionSite("attention", "self"),),  # the reference's DistilBERT location key is "self"
            ),
        ),
        invertible=InvertibleSite(store="", first_layer="transformer.layer.0"),
        prompt=ENCODER_PROMPT,
        titles=("DistilBERT",),
        reference="native",
    ),
    ArchitectureSpec(
        name="gpt2",
        model_types=("gpt2",),
        layer_groups=(
            LayerGroup(
                "h",
                plain_sites("ln_1", "attn", "ln_2", "mlp"),
                (LoRASite("selfattn", "attn.c_attn", ("q", "k", "v")),) + ffn("mlp.c_fc", "mlp.c_proj"),
                (AttentionSite("attn", "self_prefix"),),
            ),
        ),
        invertible=InvertibleSite(store="", first_layer="h.0"),
        prompt=PromptSite("wte", mode="inputs_embeds"),
        titles=("GPT-2",),
        reference="native",
    ),
    ArchitectureSpec(
        name="gptj",
        model_types=("gptj",),
        layer_groups=(
            LayerGroup(
                "h",
                _GPTJ_LAYER,
                qkv("attn", "q_proj", "k_proj", "v_proj") + ffn("mlp.fc_in", "mlp.fc_out"),
                (AttentionSite("attn", "self_prefix"),),
            ),
        ),
        invertible=InvertibleSite(store="", first_layer="h.0"),
        prompt=PromptSite("wte", mode="inputs_embeds"),
        titles=("GPT-J",),
        reference="native",
        unsupported=(("prefix_tuning", LEGACY_ATTENTION),),
    ),
    decoder("llama", ("llama", "mistral"), ("Llama", "Mistral"), "native", lora=_LLAMA_LORA),
    decoder("qwen2", ("qwen2", "qwen3"), ("Qwen2", "Qwen3"), "plugin"),
    decoder("gemma2", ("gemma2", "gemma3_text"), ("Gemma 2", "Gemma 3 (text)"), "plugin", sites=GEMMA_LAYER),
    decoder(
        "phi",
        ("phi",),
        ("Phi-1/Phi-2",),
        "plugin",
        sites=_PHI_LAYER,
        lora=_LLAMA_QKV + ffn("mlp.fc1", "mlp.fc2"),
    ),
    decoder(
        "modernbert",
        ("modernbert",),
        ("ModernBERT",),
        "plugin",
        sites=_MODERNBERT_LAYER,
        lora=(LoRASite("selfattn", "attn.Wqkv", ("q", "k", "v")),) + ffn("mlp.Wi", "mlp.Wo"),
        attention=(AttentionSite("attn", "self_prefix"),),
        prompt=PromptSite("embeddings.tok_embeddings", mode="inputs_embeds"),
    ),
    seq2seq(
        "t5",
        ("t5", "mt5"),
        ("T5", "MT5"),
        "native",
        layers=("block", "block"),
        sites=(t5_sites(False), t5_sites(True)),
        lora=(
            _T5_SELF_LORA + _T5_FF_LORA,
            _T5_SELF_LORA + qkv("layer.1.EncDecAttention", "q", "k", "v") + _T5_FF_LORA,
        ),
        attention=_T5_ATTN,
    ),
    seq2seq(
        "bart",
        ("bart", "plbart"),
        ("BART", "PLBart"),
        "native",
        sites=(bart_sites(False), bart_sites(True)),
    ),
    seq2seq(
        "mbart",
        ("mbart",),
        ("mBART",),
        "native",
        sites=(pre_ln_seq2seq_sites(False), pre_ln_seq2seq_sites(True)),
    ),
    seq2seq(
        "whisper",
        ("whisper",),
        ("Whisper",),
        "native",
        sites=(pre_ln_seq2seq_sites(False), pre_ln_seq2seq_sites(True)),
        unsupported=(("prompt_tuning", NO_TOKEN_PROMPT),),
    ),
    ArchitectureSpec(
        name="vit",
        model_types=("vit",),
        layer_groups=(_VIT_GROUP,),
        invertible=InvertibleSite(store="", first_layer="layers.0"),
        prompt=ENCODER_PROMPT,
        checkpoint_renames=_vit_renames("output.output_adapters"),
        titles=("ViT",),
        reference="native",
    ),
    ArchitectureSpec(
        name="beit",
        model_types=("beit",),
        layer_groups=(
            LayerGroup(
                "layers",
                (  # the model scales h by the learned lambda_1 / lambda_2 before adding the residual
                    pre_ln("mh_adapter", ATTENTION_STORE, "layernorm_before", "attention", output_scale="lambda_1"),
                    pre_ln("output_adapter", OUTPUT_STORE, "layernorm_after", "mlp", output_scale="lambda_2"),
                ),
                _VIT_GROUP.lora_sites,
                _VIT_GROUP.attention_sites,
            ),
        ),
        invertible=InvertibleSite(store="", first_layer="layers.0"),
        prompt=ENCODER_PROMPT,
        checkpoint_renames=_vit_renames("output_adapters"),
        titles=("BEiT",),
        reference="native",
    ),
    two_tower("clip", ("clip",), ("CLIP",), "native"),
    ArchitectureSpec(
        name="clip-text",
        model_types=("clip_text_model",),
        layer_groups=(clip_group("", "clip_text_model_self_prefix"),),
        invertible=InvertibleSite(store="", first_layer="encoder.layers.0"),
        titles=("CLIP (text model)",),
        reference="native",
        unsupported=(("prompt_tuning", CLIP_TEXT_PROMPT),),
    ),
    ArchitectureSpec(
        name="clip-vision",
        model_types=("clip_vision_model",),
        layer_groups=(clip_group("", "clip_vision_model_self_prefix"),),
        prompt=ENCODER_PROMPT,
        titles=("CLIP (vision model)",),
        reference="native",
    ),
)

"""Tiny, randomly initialised models of every supported model type, built from configs (no downloads).

``build(family)`` returns a base model (``AutoModel.from_config``) with fixed weights for a given seed, and
``inputs(family)`` a fixed batch: 2 rows, 7 tokens, the second row padded at the end (2 tokens) where the family
takes an attention mask. A family here is a ``config.model_type``. Adding a family to the library is one spec entry
plus one line in ``_CONFIGS`` (and, if its inputs are not token ids, its kind in ``_KINDS``).

Every config uses hidden size 32, 2 layers (encoder-decoder: 2 + 2), 4 attention heads (2 key/value heads where the
family has grouped-query attention), FFN size 37 and a vocabulary of 99.
"""

from __future__ import annotations

import torch
import transformers as tf

VOCAB = 99
_COMMON = {
    "vocab_size": VOCAB,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 37,
}
_ENCODER = dict(_COMMON, max_position_embeddings=64)
_ROBERTA = dict(_ENCODER, pad_token_id=1, bos_token_id=0, eos_token_id=2)
_DECODER = dict(_ENCODER, num_key_value_heads=2, pad_token_id=0, bos_token_id=1, eos_token_id=2)
_SEQ2SEQ = {
    "vocab_size": VOCAB, "d_model": 32, "encoder_layers": 2, "decoder_layers": 2, "encoder_attention_heads": 4,
    "decoder_attention_heads": 4, "encoder_ffn_dim": 37, "decoder_ffn_dim": 37, "max_position_embeddings": 64,
}  # fmt: skip
_TOWER = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 37}
_TEXT_TOWER = dict(_TOWER, vocab_size=VOCAB, max_position_embeddings=64)
_VISION_TOWER = dict(_TOWER, image_size=32, patch_size=8)
_T5 = {"vocab_size": VOCAB, "d_model": 32, "num_layers": 2, "num_decoder_layers": 2, "num_heads": 4, "d_kv": 8}
_T5.update(d_ff=37, decoder_start_token_id=0)
_MOE = dict(_DECODER, num_experts_per_tok=2, intermediate_size=40)  # grouped matmuls need 16-byte strides

_CONFIGS = {
    # the reference's families
    "bert": lambda: tf.BertConfig(**_ENCODER),
    "roberta": lambda: tf.RobertaConfig(**_ROBERTA),
    "xlm-roberta": lambda: tf.XLMRobertaConfig(**_ROBERTA),
    "electra": lambda: tf.ElectraConfig(**_ENCODER, embedding_size=32),
    "bert-generation": lambda: tf.BertGenerationConfig(**_ENCODER, pad_token_id=0, bos_token_id=1, eos_token_id=2),
    "xmod": lambda: tf.XmodConfig(**_ROBERTA, languages=("en_XX",), default_language="en_XX"),
    "deberta": lambda: tf.DebertaConfig(**_ENCODER, pad_token_id=0),
    "deberta-v2": lambda: tf.DebertaV2Config(**_ENCODER, pad_token_id=0),
    "albert": lambda: tf.AlbertConfig(**_ENCODER, embedding_size=32, inner_group_num=2, pad_token_id=0),
    "distilbert": lambda: tf.DistilBertConfig(
        vocab_size=VOCAB, dim=32, n_layers=2, n_heads=4, hidden_dim=37, max_position_embeddings=64
    ),
    "gpt2": lambda: tf.GPT2Config(
        vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=4, n_positions=64, bos_token_id=0, eos_token_id=0
    ),
    "gptj": lambda: tf.GPTJConfig(
        vocab_size=VOCAB,
        n_embd=32,
        n_layer=2,
        n_head=4,
        n_inner=37,
        n_positions=64,
        rotary_dim=4,
        bos_token_id=0,
        eos_token_id=0,
    ),  # fmt: skip
    "llama": lambda: tf.LlamaConfig(**_DECODER),
    "mistral": lambda: tf.MistralConfig(**_DECODER),
    "qwen2": lambda: tf.Qwen2Config(**_DECODER),
    "qwen3": lambda: tf.Qwen3Config(**_DECODER, head_dim=8),
    "gemma2": lambda: tf.Gemma2Config(**_DECODER, head_dim=8),
    "gemma3_text": lambda: tf.Gemma3TextConfig(**_DECODER, head_dim=8, sliding_window_pattern=2),
    "phi": lambda: tf.PhiConfig(**_DECODER),
    "modernbert": lambda: tf.ModernBertConfig(
        **_ENCODER,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        cls_token_id=1,
        sep_token_id=2,
        global_attn_every_n_layers=2,
        local_attention=4,
    ),  # fmt: skip
    "t5": lambda: tf.T5Config(**_T5),
    "mt5": lambda: tf.MT5Config(**_T5),
    "bart": lambda: tf.BartConfig(**_SEQ2SEQ),
    "plbart": lambda: tf.PLBartConfig(**_SEQ2SEQ),
    "mbart": lambda: tf.MBartConfig(**_SEQ2SEQ),
    "whisper": lambda: tf.WhisperConfig(
        **{k: v for k, v in _SEQ2SEQ.items() if k != "max_position_embeddings"},
        max_source_positions=8,
        max_target_positions=64,
        num_mel_bins=8,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=1,
        begin_suppress_tokens=None,
        suppress_tokens=None,
    ),  # fmt: skip
    "vit": lambda: tf.ViTConfig(**_VISION_TOWER, num_channels=3),
    "beit": lambda: tf.BeitConfig(**_VISION_TOWER, num_channels=3, use_mask_token=False),
    "clip": lambda: tf.CLIPConfig(text_config=_TEXT_TOWER, vision_config=_VISION_TOWER, projection_dim=16),
    "clip_text_model": lambda: tf.CLIPTextConfig(**_TEXT_TOWER),
    "clip_vision_model": lambda: tf.CLIPVisionConfig(**_VISION_TOWER),
    # an EncoderDecoderModel of two BERTs (its spec is composed of its parts' specs)
    "encoder-decoder": lambda: tf.EncoderDecoderConfig.from_encoder_decoder_configs(
        tf.BertConfig(**_ENCODER), tf.BertConfig(**_ENCODER, is_decoder=True, add_cross_attention=True)
    ),
    # families the reference lacks
    "qwen3_moe": lambda: tf.Qwen3MoeConfig(**_MOE, head_dim=8, num_experts=4, moe_intermediate_size=16),
    "qwen2_moe": lambda: tf.Qwen2MoeConfig(
        **_MOE, num_experts=4, moe_intermediate_size=16, shared_expert_intermediate_size=16
    ),
    "mixtral": lambda: tf.MixtralConfig(**_MOE, num_local_experts=4),
    "olmo2": lambda: tf.Olmo2Config(**_DECODER),
    "phi3": lambda: tf.Phi3Config(**dict(_DECODER, num_key_value_heads=4)),
    "granite": lambda: tf.GraniteConfig(**_DECODER, residual_multiplier=0.5, embedding_multiplier=2.0),
    "smollm3": lambda: tf.SmolLM3Config(**_DECODER),
    "gemma3": lambda: tf.Gemma3Config(
        text_config=dict(_DECODER, head_dim=8, sliding_window_pattern=2),
        vision_config=dict(_TOWER, num_hidden_layers=1, image_size=28, patch_size=14),
        mm_tokens_per_image=4,
        image_token_index=98,
        boi_token_index=97,
        eoi_token_index=96,
    ),  # fmt: skip
    "camembert": lambda: tf.CamembertConfig(**_ROBERTA),
    "data2vec-text": lambda: tf.Data2VecTextConfig(**_ROBERTA),
    "roberta-prelayernorm": lambda: tf.RobertaPreLayerNormConfig(**_ROBERTA),
    "xlm-roberta-xl": lambda: tf.XLMRobertaXLConfig(**_ROBERTA),
    "mpnet": lambda: tf.MPNetConfig(**_ROBERTA),
    "siglip": lambda: tf.SiglipConfig(text_config=_TEXT_TOWER, vision_config=_VISION_TOWER),
    "siglip_vision_model": lambda: tf.SiglipVisionConfig(**_VISION_TOWER),
}

# model types kept out of the spec table: the generic fallback derives their specs (tests/architectures/test_derive.py,
# and rows of docs/model_overview.md)
FALLBACK_FAMILIES = {
    "gemma": lambda: tf.GemmaConfig(**_DECODER, head_dim=8),
    "olmo": lambda: tf.OlmoConfig(**_DECODER),
    "starcoder2": lambda: tf.Starcoder2Config(**_DECODER),
    "helium": lambda: tf.HeliumConfig(**_DECODER, head_dim=8),
    "stablelm": lambda: tf.StableLmConfig(**_DECODER),
    "ernie": lambda: tf.ErnieConfig(**_ENCODER, pad_token_id=0),
}

# how a family is fed: "text" (input_ids + attention_mask), "seq2seq" (+ decoder_input_ids), "vision"
# (pixel_values), "audio" (input_features + decoder_input_ids), "two_tower" (input_ids, attention_mask, pixel_values)
_KINDS = {
    "t5": "seq2seq", "mt5": "seq2seq", "bart": "seq2seq", "plbart": "seq2seq", "mbart": "seq2seq",
    "whisper": "audio", "vit": "vision", "beit": "vision", "clip_vision_model": "vision",
    "siglip_vision_model": "vision",
    "clip": "two_tower", "siglip": "two_tower", "encoder-decoder": "seq2seq",
}  # fmt: skip
# families transformers' AutoModel does not build (an EncoderDecoderModel is only a sequence-to-sequence LM)
_AUTO_CLASSES = {"encoder-decoder": tf.AutoModelForSeq2SeqLM}

ALL_FAMILIES: tuple[str, ...] = tuple(_CONFIGS)
ALL_ENCODER_DECODER = tuple(f for f in ALL_FAMILIES if _KINDS.get(f) in ("seq2seq", "audio"))
# the families the method and composition tests sweep (one of each layer structure, where the methods were built)
FAMILIES = ("bert", "roberta", "xlm-roberta", "electra", "distilbert", "gpt2", "llama", "mistral", "qwen2", "t5",
            "bart", "mbart", "vit")  # fmt: skip
ENCODER_DECODER = ("t5", "bart", "mbart")
# decoder-only families (causal language models)
DECODERS = (
    "gpt2", "gptj", "llama", "mistral", "qwen2", "qwen3", "gemma2", "gemma3_text", "phi", "qwen3_moe", "qwen2_moe",
    "mixtral", "olmo2", "phi3", "granite", "smollm3", "gemma3",
)  # fmt: skip


def kind(family: str) -> str:
    return _KINDS.get(family, "text")


def config(family: str):
    return _CONFIGS[family]() if family in _CONFIGS else FALLBACK_FAMILIES[family]()


def build(family: str, seed: int = 0) -> torch.nn.Module:
    """A tiny base model of ``family`` in eval mode, with weights fixed by ``seed``."""
    torch.manual_seed(seed)
    model = _AUTO_CLASSES.get(family, tf.AutoModel).from_config(config(family))
    return model.eval()


def inputs(family: str, seed: int = 1) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    family_kind = kind(family)
    if family_kind == "vision":
        return {"pixel_values": torch.randn(2, 3, 32, 32, generator=generator)}
    if family_kind == "audio":
        return {
            "input_features": torch.randn(2, 8, 16, generator=generator),
            "decoder_input_ids": torch.randint(3, VOCAB, (2, 5), generator=generator),
        }
    ids = torch.randint(3, 90, (2, 7), generator=generator)
    mask = torch.ones(2, 7, dtype=torch.long)
    mask[1, -2:] = 0
    batch = {"input_ids": ids, "attention_mask": mask}
    if family_kind == "seq2seq":
        batch["decoder_input_ids"] = torch.randint(3, VOCAB, (2, 5), generator=generator)
    if family_kind == "two_tower":
        batch["pixel_values"] = torch.randn(2, 3, 32, 32, generator=generator)
    return batch


def hidden(out) -> torch.Tensor:
    """The last hidden state of a model output (decoder's for encoder-decoder models; two-tower models: the text
    tower's tokens followed by the vision tower's patches; an EncoderDecoderModel: its decoder's logits)."""
    if getattr(out, "last_hidden_state", None) is not None:
        return out.last_hidden_state
    if getattr(out, "logits", None) is not None:
        return out.logits
    text, vision = out.text_model_output.last_hidden_state, out.vision_model_output.last_hidden_state
    return torch.cat([text, vision], dim=1)


def output(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The last hidden state (see :func:`hidden`), without gradients."""
    with torch.no_grad():
        return hidden(model(**batch))

"""Tiny, randomly initialised models of every supported family, built from configs (no downloads).

``build(family)`` returns a base model (``AutoModel.from_config``) with fixed weights for a given seed, and
``inputs(family)`` a fixed batch: 2 rows, 7 tokens, the second row padded at the end (2 tokens) where the family
takes an attention mask.
"""

from __future__ import annotations

import torch
import transformers as tf

VOCAB = 99

_CONFIGS = {
    "bert": lambda: tf.BertConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        max_position_embeddings=64,
    ),
    "roberta": lambda: tf.RobertaConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        max_position_embeddings=64,
        pad_token_id=1,
    ),
    "xlm-roberta": lambda: tf.XLMRobertaConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        max_position_embeddings=64,
        pad_token_id=1,
    ),
    "electra": lambda: tf.ElectraConfig(
        vocab_size=VOCAB,
        embedding_size=32,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        max_position_embeddings=64,
    ),
    "distilbert": lambda: tf.DistilBertConfig(
        vocab_size=VOCAB, dim=32, n_layers=2, n_heads=4, hidden_dim=37, max_position_embeddings=64
    ),
    "gpt2": lambda: tf.GPT2Config(
        vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=4, n_positions=64, bos_token_id=0, eos_token_id=0
    ),
    "llama": lambda: tf.LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=37,
        max_position_embeddings=64,
    ),
    "mistral": lambda: tf.MistralConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=37,
        max_position_embeddings=64,
    ),
    "qwen2": lambda: tf.Qwen2Config(
        vocab_size=VOCAB,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=37,
        max_position_embeddings=64,
    ),
    "t5": lambda: tf.T5Config(
        vocab_size=VOCAB,
        d_model=32,
        num_layers=2,
        num_decoder_layers=2,
        num_heads=4,
        d_kv=8,
        d_ff=37,
        decoder_start_token_id=0,
    ),
    "bart": lambda: tf.BartConfig(
        vocab_size=VOCAB,
        d_model=32,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=37,
        decoder_ffn_dim=37,
        max_position_embeddings=64,
    ),
    "mbart": lambda: tf.MBartConfig(
        vocab_size=VOCAB,
        d_model=32,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=37,
        decoder_ffn_dim=37,
        max_position_embeddings=64,
    ),
    "vit": lambda: tf.ViTConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        image_size=32,
        patch_size=8,
        num_channels=3,
    ),
}

FAMILIES: tuple[str, ...] = tuple(_CONFIGS)
ENCODER_DECODER = ("t5", "bart", "mbart")


def config(family: str):
    return _CONFIGS[family]()


def build(family: str, seed: int = 0) -> torch.nn.Module:
    """A tiny base model of ``family`` in eval mode, with weights fixed by ``seed``."""
    torch.manual_seed(seed)
    model = tf.AutoModel.from_config(config(family))
    return model.eval()


def inputs(family: str, seed: int = 1) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    if family == "vit":
        return {"pixel_values": torch.randn(2, 3, 32, 32, generator=generator)}
    ids = torch.randint(3, VOCAB, (2, 7), generator=generator)
    mask = torch.ones(2, 7, dtype=torch.long)
    mask[1, -2:] = 0
    batch = {"input_ids": ids, "attention_mask": mask}
    if family in ENCODER_DECODER:
        batch["decoder_input_ids"] = torch.randint(3, VOCAB, (2, 5), generator=generator)
    return batch


def output(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The last hidden state (decoder's for encoder-decoder models)."""
    with torch.no_grad():
        return model(**batch).last_hidden_state

"""Fixtures of the docs tests: tiny checkpoints saved to a temporary folder, named in every page's namespace.

Pages load models from these names (documented in docs/contributing.md), so every example runs offline and fast:

* ``bert_path``: a tiny random BERT (``BertModel``) with a tokenizer,
* ``gpt2_path``: a tiny random GPT-2 (``GPT2LMHeadModel``) with the same tokenizer,
* ``t5_path``: a tiny random T5 (``T5ForConditionalGeneration``) with the same tokenizer.

The tokenizer is a WordPiece tokenizer over single characters (lower case), so it encodes any English text.
"""

from __future__ import annotations

import string
import sys
from pathlib import Path

import pytest
import torch
import transformers as tf

sys.path.insert(0, str(Path(__file__).parent))

_SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
_SYMBOLS = list(string.ascii_lowercase + string.digits + string.punctuation)


_VOCAB = {token: index for index, token in enumerate(_SPECIAL + _SYMBOLS + [f"##{s}" for s in _SYMBOLS])}


def _save_tokenizer(folder: Path) -> None:
    tf.BertTokenizer(vocab=dict(_VOCAB)).save_pretrained(folder)


def _checkpoints(root: Path) -> dict[str, str]:
    """Save the three tiny checkpoints below ``root``; returns the namespace entries naming them."""
    size = {"hidden": 128, "layers": 2, "heads": 4, "ffn": 256}  # hidden 128: every preset config fits (Compacter)
    vocab_size = len(_VOCAB)
    models = {
        "bert_path": tf.BertModel(
            tf.BertConfig(
                vocab_size=vocab_size,
                hidden_size=size["hidden"],
                num_hidden_layers=size["layers"],
                num_attention_heads=size["heads"],
                intermediate_size=size["ffn"],
                max_position_embeddings=128,
            )
        ),
        "gpt2_path": tf.GPT2LMHeadModel(
            tf.GPT2Config(
                vocab_size=vocab_size,
                n_embd=size["hidden"],
                n_layer=size["layers"],
                n_head=size["heads"],
                n_positions=128,
                bos_token_id=2,
                eos_token_id=3,
                pad_token_id=0,
            )
        ),
        "t5_path": tf.T5ForConditionalGeneration(
            tf.T5Config(
                vocab_size=vocab_size,
                d_model=size["hidden"],
                num_layers=size["layers"],
                num_heads=size["heads"],
                d_kv=32,
                d_ff=size["ffn"],
                decoder_start_token_id=0,
                eos_token_id=3,
                pad_token_id=0,
            )
        ),
    }
    paths = {}
    for name, model in models.items():
        folder = root / name.removesuffix("_path")
        _save_tokenizer(folder)
        model.save_pretrained(folder)
        paths[name] = str(folder)
    return paths


@pytest.fixture(scope="session")
def docs_namespace(tmp_path_factory) -> dict[str, str]:
    """The names every page's namespace starts with (paths of the tiny checkpoints)."""
    torch.manual_seed(0)
    return _checkpoints(tmp_path_factory.mktemp("docs-checkpoints"))

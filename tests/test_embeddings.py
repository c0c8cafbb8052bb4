"""Adapter embeddings (add/set/delete/save/load, training) against the reference's behaviour and file format.

The golden fixture (tests/fixtures/reference/embeddings, made by make_embedding_fixture.py with adapters 1.3.0)
holds an embedding the reference built with ``reference_embedding="default"`` and saved with ``save_embeddings``.
"""

from __future__ import annotations

import json
import zipfile

import pytest
import torch
import transformers as tf
from safetensors.torch import load_file
from tokenizers import Tokenizer, models, pre_tokenizers

import adapters
from adapters import AutoAdapterModel
from adapters.errors import AdapterExistsError, ArgumentError, EmbeddingNotFoundError
from reference_helpers import REFERENCE_ROOT

FIXTURE = REFERENCE_ROOT / "embeddings"
EXPECTED = json.loads((FIXTURE / "expected.json").read_text())


def word_tokenizer(vocab: dict[str, int]) -> tf.PreTrainedTokenizerFast:
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    return tf.PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]")


REFERENCE_TOKENIZER = word_tokenizer(EXPECTED["reference_vocab"])
NEW_TOKENIZER = word_tokenizer(EXPECTED["new_vocab"])
SHARED = sorted(set(EXPECTED["reference_vocab"]) & set(EXPECTED["new_vocab"]))


def tiny_model(flexible: bool = True):
    """The fixture's model shape, with the reference's default embedding."""
    config = tf.BertConfig(
        vocab_size=len(EXPECTED["reference_vocab"]),
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
        max_position_embeddings=16,
    )
    torch.manual_seed(0)
    if flexible:
        model = AutoAdapterModel.from_config(config)
    else:
        model = adapters.init(tf.BertModel(config))
    with torch.no_grad():
        model.get_input_embeddings().weight.copy_(load_file(FIXTURE / "default.safetensors")["weight"])
    return model.eval()


def rows(weight: torch.Tensor, vocab: dict[str, int], tokens: list[str]) -> torch.Tensor:
    return weight[[vocab[t] for t in tokens]]


def test_loads_the_reference_file_and_tokenizer():
    model = tiny_model()
    tokenizer = model.load_embeddings(str(FIXTURE / "saved"), "new")
    assert tokenizer.get_vocab() == EXPECTED["new_vocab"]
    assert model.active_embeddings == "new" and model.config.vocab_size == EXPECTED["vocab_size_after_add"]
    weight = model.get_input_embeddings().weight
    assert list(weight.shape) == EXPECTED["shape"] and not weight.requires_grad
    assert torch.equal(weight, torch.load(FIXTURE / "saved" / "embedding.pt", weights_only=True))
    default = load_file(FIXTURE / "default.safetensors")["weight"]  # the reference copied the shared tokens' rows
    assert torch.equal(rows(weight, EXPECTED["new_vocab"], SHARED), rows(default, EXPECTED["reference_vocab"], SHARED))


def test_add_embeddings_copies_shared_rows_as_the_reference_did():
    model = tiny_model()
    model.add_embeddings("new", NEW_TOKENIZER, reference_embedding="default", reference_tokenizer=REFERENCE_TOKENIZER)
    weight = model.get_input_embeddings().weight
    reference = torch.load(FIXTURE / "saved" / "embedding.pt", weights_only=True)
    assert weight.shape == reference.shape and model.active_embeddings == "new"
    assert torch.equal(rows(weight, EXPECTED["new_vocab"], SHARED), rows(reference, EXPECTED["new_vocab"], SHARED))
    others = [t for t in EXPECTED["new_vocab"] if t not in SHARED]
    assert 0.0 < rows(weight, EXPECTED["new_vocab"], others).std() < 0.1  # fresh N(0, 0.02) rows
    assert model.config.vocab_size == len(NEW_TOKENIZER) and not weight.requires_grad


def test_save_writes_the_reference_format_and_reloads(tmp_path):
    model = tiny_model()
    model.add_embeddings("new", NEW_TOKENIZER, reference_embedding="default", reference_tokenizer=REFERENCE_TOKENIZER)
    model.save_embeddings(str(tmp_path / "emb"), "new", tokenizer=NEW_TOKENIZER)
    saved = torch.load(tmp_path / "emb" / "embedding.pt", weights_only=True)
    assert isinstance(saved, torch.nn.Parameter) and not saved.requires_grad  # as the reference wrote it
    assert zipfile.ZipFile(tmp_path / "emb" / "embedding.pt").namelist()[0].startswith("embedding/")
    other = tiny_model(flexible=False)
    tokenizer = other.load_embeddings(str(tmp_path / "emb"), "loaded")
    assert tokenizer.get_vocab() == NEW_TOKENIZER.get_vocab()
    ids = torch.tensor([[2, 3, 4, 8]])
    with torch.no_grad():
        assert torch.allclose(model(ids).last_hidden_state, other(ids).last_hidden_state, atol=1e-6)


def test_switching_and_deleting():
    model = tiny_model()
    default = model.get_input_embeddings()
    model.add_embeddings("new", NEW_TOKENIZER)
    new = model.get_input_embeddings()
    assert new is not default and model.base_model.active_embeddings == "new"
    model.set_active_embeddings("default")
    assert model.get_input_embeddings() is default and model.config.vocab_size == default.num_embeddings
    model.set_active_embeddings("new")
    model.delete_embeddings("new")  # the active one: falls back to "default"
    assert model.active_embeddings == "default" and model.get_input_embeddings() is default
    assert list(model.loaded_embeddings) == ["default"]


def test_errors_leave_the_model_unchanged(tmp_path):
    model = tiny_model()
    model.add_embeddings("new", NEW_TOKENIZER)
    before = (model.active_embeddings, model.get_input_embeddings(), dict(model.loaded_embeddings))
    with pytest.raises(EmbeddingNotFoundError) as missing:
        model.set_active_embeddings("nope")
    assert isinstance(missing.value, KeyError) and isinstance(missing.value, ValueError)  # the reference raised both
    with pytest.raises(EmbeddingNotFoundError):
        model.delete_embeddings("nope")
    with pytest.raises(AdapterExistsError):
        model.add_embeddings("new", NEW_TOKENIZER)
    with pytest.raises(ArgumentError) as pair:
        model.add_embeddings("half", NEW_TOKENIZER, reference_embedding="default")
    assert isinstance(pair.value, KeyError)
    with pytest.raises(FileNotFoundError):
        model.load_embeddings(str(tmp_path), "absent")
    assert (model.active_embeddings, model.get_input_embeddings(), dict(model.loaded_embeddings)) == before


def test_train_adapter_trains_the_active_embedding_only_when_asked():
    model = tiny_model()
    model.add_embeddings("new", NEW_TOKENIZER)
    model.add_adapter("a")
    model.train_adapter("a", train_embeddings=True)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad and ".adapters." not in n}
    assert trainable == {"bert.embeddings.word_embeddings.weight"}
    before = model.get_input_embeddings().weight.detach().clone()
    model(torch.tensor([[2, 3, 8]])).last_hidden_state.pow(2).sum().backward()
    torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1.0).step()
    changed = (model.get_input_embeddings().weight != before).any(-1).nonzero().flatten().tolist()
    assert changed == [2, 3, 8]
    model.train_adapter("a")
    assert not model.get_input_embeddings().weight.requires_grad


def test_save_adapter_does_not_save_embeddings_as_in_the_reference(tmp_path):
    model = tiny_model()
    model.add_embeddings("new", NEW_TOKENIZER)
    model.add_adapter("a")
    model.save_all_adapters(str(tmp_path))
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["adapter.safetensors", "adapter_config.json"]


def test_embedding_dim_and_base_model_share_the_embeddings():
    model = tiny_model(flexible=True)
    model.base_model.add_embeddings("wide", NEW_TOKENIZER, embedding_dim=12)
    assert model.active_embeddings == "wide" and tuple(model.get_input_embeddings().weight.shape) == (9, 12)
    assert set(model.loaded_embeddings) == {"default", "wide"}

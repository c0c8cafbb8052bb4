"""Head behaviours code written for the reference relies on (item 4 of issue 10)."""

from __future__ import annotations

import json

import pytest
import torch
import transformers as tf

import adapters
from adapters import AutoAdapterModel, Fuse, Parallel, PredictionHead
from adapters.errors import AdapterNotFoundError, CompositionError, UnsupportedMethodError
from tiny_models import config, inputs


def flex(family: str, seed: int = 0):
    torch.manual_seed(seed)
    return AutoAdapterModel.from_config(config(family)).eval()


def randomize(model, name: str) -> None:
    with torch.no_grad():
        for key, param in model.named_parameters():
            if f".{name}." in key:
                param.normal_(0, 0.1)


# ------------------------------------------------------------------------------------------- static-head models
def test_static_head_model_saves_and_loads_its_head(tmp_path):
    torch.manual_seed(0)
    model = adapters.init(tf.BertForSequenceClassification(config("bert"))).eval()
    model.save_head(str(tmp_path))
    saved = json.loads((tmp_path / "head_config.json").read_text())
    assert saved["config"] is None and saved["model_class"] == "BertForSequenceClassification"
    torch.manual_seed(1)
    other = adapters.init(tf.BertForSequenceClassification(config("bert"))).eval()
    assert not torch.equal(other.classifier.weight, model.classifier.weight)
    assert other.load_head(str(tmp_path), id2label={0: "neg", 1: "pos"}) is None
    assert torch.equal(other.classifier.weight, model.classifier.weight)
    assert other.config.id2label == {0: "neg", 1: "pos"}
    token_model = adapters.init(tf.BertForTokenClassification(config("bert")))
    with pytest.raises(UnsupportedMethodError):  # another class's head
        token_model.load_head(str(tmp_path))
    with pytest.raises(AdapterNotFoundError):  # a base model has no head
        adapters.init(tf.BertModel(config("bert"))).save_head(str(tmp_path / "none"))
    assert not (tmp_path / "none").exists()


# ------------------------------------------------------------------------------------------- T5 v1.1 (untied)
def t5_config(tie: bool) -> tf.T5Config:
    return tf.T5Config(
        vocab_size=99, d_model=32, num_layers=2, num_heads=4, d_kv=8, d_ff=37, decoder_start_token_id=0,
        tie_word_embeddings=tie,
    )  # fmt: skip


def test_untied_t5_static_head_and_adapter_give_the_same_logits_in_a_flexible_model(tmp_path):
    torch.manual_seed(0)
    static = tf.T5ForConditionalGeneration(t5_config(tie=False))
    static.lm_head.weight = torch.nn.Parameter(torch.randn_like(static.lm_head.weight))  # T5 v1.1: own lm_head
    static.save_pretrained(tmp_path / "static")
    static = tf.T5ForConditionalGeneration.from_pretrained(tmp_path / "static").eval()
    assert static.lm_head.weight is not static.shared.weight
    adapters.init(static)
    static.add_adapter("a")
    randomize(static, "a")
    static.set_active_adapters("a")
    static.save_adapter(str(tmp_path / "a"), "a")
    tf.T5Model.from_pretrained(tmp_path / "static").save_pretrained(tmp_path / "base")
    flexible = AutoAdapterModel.from_pretrained(tmp_path / "base").eval()
    flexible.load_adapter(str(tmp_path / "a"), set_active=True)
    batch = inputs("t5")
    with torch.no_grad():
        assert torch.allclose(flexible(**batch).logits, static(**batch).logits, atol=1e-5)
    assert torch.equal(flexible.get_input_embeddings().weight, static.shared.weight)  # base embedding untouched
    assert flexible.heads["a"][0].weight is not flexible.get_input_embeddings().weight


@pytest.mark.parametrize("tie", [True, False])
def test_new_t5_lm_heads_follow_the_configs_tying(tie):
    model = AutoAdapterModel.from_config(t5_config(tie=tie))
    model.add_seq2seq_lm_head("lm")
    assert (model.heads["lm"][0].weight is model.get_input_embeddings().weight) is tie


# ------------------------------------------------------------------------------------------- generation, training
def test_distilbert_with_a_causal_lm_head_generates_greedily():
    model = flex("distilbert")
    model.add_causal_lm_head("lm")
    prompt = torch.tensor([[5, 6, 7]])
    generated = model.generate(prompt, max_new_tokens=4, do_sample=False)
    expected = prompt
    with torch.no_grad():
        for _ in range(4):
            expected = torch.cat([expected, model(expected).logits[:, -1:].argmax(-1)], dim=-1)
    assert torch.equal(generated, expected)


@pytest.mark.parametrize("family", ["bert", "llama"])
def test_train_adapter_freezes_the_lm_heads_output_embedding(family):
    model = flex(family)
    model.add_adapter("a")
    model.add_causal_lm_head("a")
    last = len(model.heads["a"]) - 1
    model.train_adapter("a")
    frozen = {n for n, p in model.heads["a"].named_parameters() if not p.requires_grad}
    assert frozen == {f"{last}.weight", f"{last}.bias"}
    model.train_adapter("a", train_embeddings=True)
    assert all(p.requires_grad for p in model.heads["a"].parameters())


def test_static_lm_heads_output_embedding_is_frozen_too():
    model = adapters.init(tf.BertForMaskedLM(config("bert")))
    model.add_adapter("a")
    model.train_adapter("a")
    trainable = {n for n, p in model.named_parameters() if p.requires_grad and ".adapters." not in n}
    assert "cls.predictions.decoder.bias" not in trainable and "cls.predictions.transform.dense.weight" in trainable


# ------------------------------------------------------------------------------------------- custom heads
class RankHead(PredictionHead):
    def __init__(self, model, head_name, num_labels=3, **kwargs):
        super().__init__(head_name)
        self.config = {"head_type": "rank", "layers": 2, "num_labels": num_labels, "activation_function": "tanh"}
        self.build(model)

    def forward(self, outputs, cls_output=None, attention_mask=None, return_dict=False, **kwargs):
        return super().forward(outputs[0][:, 0])  # the reference's default: run the layers on one tensor


def test_custom_head_calling_super_forward_runs_its_layers():
    model = flex("bert")
    model.register_custom_head("rank", RankHead)
    model.add_custom_head("rank", "r")
    batch = inputs("bert")
    with torch.no_grad():
        logits = model(**batch)
        hidden = model.base_model(**batch).last_hidden_state[:, 0]
        expected = model.heads["r"][4](model.heads["r"][2](model.heads["r"][1](hidden)))
    assert logits.shape == (2, 3) and torch.allclose(logits, expected)
    with pytest.raises(TypeError, match="super\\(\\).forward"):
        PredictionHead.forward(model.heads["r"], hidden, None)


# ------------------------------------------------------------------------------------------- fusion with heads
def fused_model():
    model = flex("bert")
    for name in ("a", "b"):
        model.add_adapter(name)
        randomize(model, name)
    model.add_adapter_fusion(["a", "b"])
    randomize(model, "a,b")
    model.add_classification_head("a,b", num_labels=3)
    model.add_classification_head("other", num_labels=4)
    return model


def test_save_adapter_fusion_with_head_then_load_restores_the_head(tmp_path):
    model = fused_model()
    for name in ("a", "b"):
        model.save_adapter(str(tmp_path / name), name, with_head=False)
    model.save_adapter_fusion(str(tmp_path / "fusion"), "a,b", with_head=True)
    model.save_adapter_fusion(str(tmp_path / "other"), "a,b", with_head="other")
    loaded = flex("bert")
    for name in ("a", "b"):
        loaded.load_adapter(str(tmp_path / name))
    assert loaded.load_adapter_fusion(str(tmp_path / "fusion"), set_active=True) == "a,b"
    assert list(loaded.heads) == ["a,b"]
    model.set_active_adapters(Fuse("a", "b"))
    batch = inputs("bert")
    with torch.no_grad():
        assert torch.allclose(loaded(**batch, head="a,b").logits, model(**batch, head="a,b").logits, atol=1e-6)
    loaded.load_adapter_fusion(str(tmp_path / "other"))
    assert "other" in loaded.heads  # a head saved under its own name keeps it


def test_save_adapter_fusion_with_a_missing_head_raises_and_writes_nothing(tmp_path):
    model = fused_model()
    with pytest.raises(AdapterNotFoundError, match="nope"):
        model.save_adapter_fusion(str(tmp_path / "f"), "a,b", with_head="nope")
    assert not (tmp_path / "f").exists()


# ------------------------------------------------------------------------------------------- Parallel and heads
def test_parallel_with_fewer_heads_than_channels_raises():
    model = flex("bert")
    for name in ("a", "b"):
        model.add_adapter(name)
    model.add_classification_head("a")
    model.set_active_adapters(Parallel("a", "b"))
    assert model.active_head == "a"  # not both heads exist, so the setup did not change the head
    with pytest.raises(CompositionError, match="2 channels but 1 heads"):
        model(**inputs("bert"))
    model.add_classification_head("b")
    model.active_head = ["a", "b"]
    assert len(model(**inputs("bert"))) == 2

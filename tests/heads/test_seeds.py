"""The documentation's examples (seeds 000-002: prediction heads), run as written on a local checkpoint.

``"bert-base-uncased"`` is replaced by a tiny BERT saved to a temporary folder (tests run offline); everything else
is the documented code.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn
from transformers import AutoModelForSequenceClassification, BertModel

import adapters
from adapters import AutoAdapterModel, PredictionHead
from heads.head_inputs import batch_for
from tiny_models import config


@pytest.fixture
def bert_base_uncased(tmp_path):
    torch.manual_seed(0)
    BertModel(config("bert")).save_pretrained(tmp_path / "bert-base-uncased")
    return str(tmp_path / "bert-base-uncased")


def test_flexible_heads_walkthrough(bert_base_uncased, tmp_path):
    model = AutoAdapterModel.from_pretrained(bert_base_uncased)
    model.add_classification_head("mrpc", num_labels=2)
    model.add_adapter("mrpc", config="pfeiffer")
    model.set_active_adapters("mrpc")
    model.save_adapter(str(tmp_path / "dir"), "mrpc", with_head=True)
    assert sorted(p.name for p in (tmp_path / "dir").iterdir()) == [
        "adapter.safetensors", "adapter_config.json", "head_config.json", "model_head.safetensors",
    ]  # fmt: skip
    # save
    model.save_head(str(tmp_path / "dir"), "mrpc")
    # load
    model.load_head(str(tmp_path / "dir"))
    model.delete_head("mrpc")
    assert "mrpc" not in model.heads

    other = AutoAdapterModel.from_pretrained(bert_base_uncased)
    other.load_adapter(str(tmp_path / "dir"))
    assert "mrpc" in other.adapters_config and "mrpc" in other.heads


def test_legacy_with_heads_names(bert_base_uncased):
    with pytest.warns(FutureWarning, match="BertModelWithHeads is deprecated"):
        from adapters import BertModelWithHeads
    assert BertModelWithHeads is adapters.BertAdapterModel
    model = BertModelWithHeads.from_pretrained(bert_base_uncased)
    model.add_classification_head("mrpc", num_labels=2)
    model.add_adapter("mrpc", config="pfeiffer")
    model.set_active_adapters("mrpc")
    with pytest.warns(FutureWarning):
        assert adapters.AutoModelWithHeads is AutoAdapterModel
    with pytest.raises(AttributeError):
        _ = adapters.GPTNeoXModelWithHeads


def test_automatic_conversion(bert_base_uncased, tmp_path):
    temp_dir = str(tmp_path / "test")
    static_head_model = AutoModelForSequenceClassification.from_pretrained(bert_base_uncased)
    adapters.init(static_head_model)
    static_head_model.add_adapter("test")
    static_head_model.save_adapter(temp_dir, "test")

    flex_head_model = AutoAdapterModel.from_pretrained(bert_base_uncased)
    flex_head_model.load_adapter(temp_dir)

    assert "test" in flex_head_model.config.adapters
    assert "test" in flex_head_model.heads


class CustomHead(PredictionHead):
    """The seed's template, filled in: a two-layer head with a residual to the CLS vector."""

    def __init__(self, model, head_name, num_labels=2, **kwargs):
        # innitialization of the custom head
        super().__init__(head_name)
        self.config = {"num_labels": num_labels}
        hidden = model.config.hidden_size
        self.add_module("0", nn.Linear(hidden, hidden))
        self.add_module("1", nn.Linear(hidden, num_labels))

    def forward(self, outputs, cls_output=None, attention_mask=None, return_dict=False, **kwargs):
        # implementation of the forward pass
        cls = outputs[0][:, 0]
        logits = self[1](torch.tanh(self[0](cls)) + cls)
        return {"logits": logits}


def test_custom_head(bert_base_uncased, tmp_path):
    model = AutoAdapterModel.from_pretrained(bert_base_uncased).eval()
    model.register_custom_head("my_custom_head", CustomHead)
    model.add_custom_head(head_type="my_custom_head", head_name="custom_head", num_labels=4)
    batch = batch_for("bert", "classification")
    logits = model(input_ids=batch["input_ids"])["logits"]
    assert logits.shape == (2, 4)
    model.save_head(str(tmp_path / "head"), "custom_head")

    fresh = AutoAdapterModel.from_pretrained(bert_base_uncased).eval()
    with pytest.raises(adapters.UnsupportedMethodError, match=r"register_custom_head\('my_custom_head'"):
        fresh.load_head(str(tmp_path / "head"))
    assert len(fresh.heads) == 0
    fresh.register_custom_head("my_custom_head", CustomHead)
    assert fresh.load_head(str(tmp_path / "head")) == "custom_head"
    torch.testing.assert_close(fresh(input_ids=batch["input_ids"])["logits"], logits, atol=0, rtol=0)


def test_no_spurious_warnings_when_activating(bert_base_uncased):
    model = AutoAdapterModel.from_pretrained(bert_base_uncased)
    model.add_adapter("a")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.set_active_adapters("a")

"""Behaviours code written for the reference relies on (item 7 of issue 10)."""

from __future__ import annotations

import json

import pytest
import torch
import transformers as tf

import adapters
from adapters import AutoAdapterModel
from adapters.errors import AdapterNotFoundError, CompositionError
from tiny_models import config as tiny_config


def bert():
    torch.manual_seed(0)
    return adapters.init(tf.BertModel(tiny_config("bert")))


def test_get_adapter_of_an_unknown_or_deleted_adapter_is_empty_as_in_the_reference():
    model = bert()
    assert model.get_adapter("never_added") == {}
    model.add_adapter("a")
    assert set(model.get_adapter("a")) == {0, 1}
    model.delete_adapter("a")
    assert model.get_adapter("a") == {}
    with pytest.raises(AdapterNotFoundError):  # operations that need the adapter still say it is missing
        model.adapter_to("a", dtype=torch.float64)


def test_fusing_adapters_at_different_locations_raises_and_changes_nothing():
    model = bert()
    model.add_adapter("seq", config="seq_bn")  # output adapter only
    model.add_adapter("dbl", config="double_seq_bn")  # attention and output adapters
    before = set(model.state_dict())
    with pytest.raises(CompositionError, match="mh_adapter") as info:
        model.add_adapter_fusion(["seq", "dbl"])
    assert isinstance(info.value, ValueError)  # the reference raised ValueError
    assert not model.adapters_config.fusions and set(model.state_dict()) == before
    model.add_adapter("seq2", config="seq_bn")
    assert model.add_adapter_fusion(["seq", "seq2"]) == "seq,seq2"


def test_share_parameters_on_plain_lora_raises_type_error():
    model = bert()
    model.add_adapter("l1", config="lora")
    model.add_adapter("l2", config="lora")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(TypeError, match="MTLLoRAConfig"):
        model.share_parameters(["l1", "l2"])
    after = model.state_dict()
    assert set(after) == set(before) and all(torch.equal(before[k], after[k]) for k in before)


def test_adapter_models_built_from_one_config_object_are_independent(tmp_path):
    shared = tiny_config("bert")
    first = AutoAdapterModel.from_config(shared)
    first.add_adapter("a")
    first.add_classification_head("a")
    second = AutoAdapterModel.from_config(shared)
    second.add_adapter("b")
    assert list(first.adapters_config.adapters) == ["a"] and list(second.adapters_config.adapters) == ["b"]
    assert list(first.config.adapters.adapters) == ["a"] and list(second.config.adapters.adapters) == ["b"]
    second.add_classification_head("other")
    assert "other" not in first.config.prediction_heads
    first.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert list(saved["adapters"]["adapters"]) == ["a"] and list(saved["prediction_heads"]) == ["a"]
    reloaded = AutoAdapterModel.from_pretrained(tmp_path)
    assert list(reloaded.adapters_config.adapters) == ["a"]


def test_init_on_two_models_sharing_a_config_keeps_them_independent():
    shared = tiny_config("bert")
    first = adapters.init(tf.BertForSequenceClassification(shared))
    first.add_adapter("a")
    second = adapters.init(tf.BertForSequenceClassification(shared))
    assert not second.has_adapters() and list(first.config.adapters.adapters) == ["a"]
    assert second.bert.config is second.config  # the submodules follow the model's own config
    second.add_adapter("b")
    assert list(first.adapters_config.adapters) == ["a"] and list(first.config.adapters.adapters) == ["a"]

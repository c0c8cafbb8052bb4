"""The base model of a head model is adapter-enabled and works on the same adapters (item 3 of issue 10)."""

from __future__ import annotations

import pytest
import torch
import transformers as tf

import adapters
from adapters import AutoAdapterModel, Fuse, ModelAdaptersMixin
from adapters.methods import method_kinds
from tiny_models import build, config, inputs

METHOD_KINDS = tuple(method_kinds())  # the registry's kinds (bottleneck, invertible, lora, ...)


def flex(family: str = "bert"):
    torch.manual_seed(0)
    return AutoAdapterModel.from_config(config(family)).eval()


def test_base_model_add_adapter_reaches_our_api_not_transformers_peft():
    model = flex()
    base = model.base_model
    assert isinstance(base, ModelAdaptersMixin) and adapters.init(base) is base
    base.add_adapter("x", config="seq_bn")  # transformers' own add_adapter would ask for peft here
    assert "x" in model.adapters_config and base.adapters_config is model.adapters_config
    base.set_active_adapters("x")
    assert model.active_adapters == base.active_adapters
    with torch.no_grad():
        for p in model.get_adapter("x")[0]["output_adapter"].parameters():
            p.normal_(0, 0.1)
        batch = inputs("bert")
        adapted = model(**batch).last_hidden_state
        assert torch.equal(adapted, base(**batch).last_hidden_state)
        base.set_active_adapters(None)
        assert not torch.allclose(adapted, base(**batch).last_hidden_state, atol=1e-3)
    model.delete_adapter("x")
    assert "x" not in base.adapters_config and base.get_adapter("x") == {}


@pytest.mark.parametrize("family", ["bert", "t5"])
def test_supports_adapter_answers_method_kinds_on_model_and_base(family):
    model = flex(family)
    expected = {kind: model.supports_adapter(kind) for kind in METHOD_KINDS}
    assert expected == {kind: model.base_model.supports_adapter(kind) for kind in METHOD_KINDS}
    assert expected["invertible"] and expected["bottleneck"] and expected["lora"]
    assert expected["prompt_tuning"]  # T5: the prompt joins the encoder input
    with pytest.raises(ValueError):
        model.supports_adapter("not_a_method")


def test_get_invertible_adapter_and_fusion_loss_on_the_base_model():
    model = flex()
    base = model.base_model
    assert base.get_invertible_adapter() is None and base.get_fusion_regularization_loss() is None
    model.add_adapter("inv", config="seq_bn_inv")
    model.add_adapter("plain", config="seq_bn")
    model.set_active_adapters("inv")
    assert base.get_invertible_adapter() is model.get_adapter("inv")[-1]["invertible"]
    model.set_active_adapters("plain")
    assert base.get_invertible_adapter() is None
    base.add_adapter_fusion(Fuse("inv", "plain"))
    assert torch.equal(base.get_fusion_regularization_loss(), model.get_fusion_regularization_loss())


def test_train_adapter_on_the_base_model_trains_only_the_base_model():
    model = flex()
    model.add_classification_head("h")
    model.base_model.add_adapter("x")
    model.base_model.train_adapter("x")
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert {n for n in trainable if not n.startswith("heads.")} == {
        n for n, _ in model.named_parameters() if ".adapters.x." in n
    }
    assert any(n.startswith("heads.h.") for n in trainable)  # the head is outside the base model


def test_base_model_saves_base_relative_keys_that_load_into_the_head_model(tmp_path):
    model = flex()
    model.add_adapter("x")
    model.base_model.save_adapter(str(tmp_path), "x")
    other = flex()
    other.load_adapter(str(tmp_path))
    assert set(model.get_adapter("x")) == set(other.get_adapter("x"))


def test_static_head_model_base_is_adapter_enabled_too():
    model = adapters.init(tf.BertForSequenceClassification(config("bert")))
    model.bert.add_adapter("x")
    assert "x" in model.adapters_config and model.bert.adapters_config is model.adapters_config
    plain = adapters.init(build("bert"))
    assert plain.base_model is plain  # a base model is its own owner

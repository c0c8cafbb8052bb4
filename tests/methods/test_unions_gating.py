"""Method unions (ConfigUnion, MAM, UniPELT) and ``output_adapter_gating_scores``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import transformers

import adapters
from adapters import ConfigUnion, LoRAConfig, LoReftConfig, MAMConfig, PromptTuningConfig, UniPELTConfig
from contract.helpers import adapter_model, randomize_adapter
from heads.head_inputs import head_config
from tiny_models import inputs


def test_mam_is_prefix_tuning_plus_a_parallel_adapter():
    model = adapter_model("bert")
    model.add_adapter("a", config="mam", set_active=True)
    assert isinstance(model.adapters_config.get("a"), MAMConfig)
    layers = model.get_adapter("a")
    assert set(layers[0]) == {"self_prefix", "output_adapter"} and set(layers[1]) == {"output_adapter"}
    prefix = model.base_model.prefix_tuning.prefix_tunings["a"]["self_prefix"]
    assert prefix.control_trans[0].out_features == 800 and prefix.prefix_length == 30
    assert model.encoder.layer[0].output.adapters["a"].config.is_parallel


def test_unipelt_gates_all_three_methods():
    model = adapter_model("llama")
    model.add_adapter("a", config="unipelt", set_active=True)
    config = model.adapters_config.get("a")
    assert isinstance(config, UniPELTConfig) and all(m.use_gating for m in config.configs)
    keys = [k for k in model.state_dict() if ".a." in k]
    assert any("prefix_gates.a." in k for k in keys)
    assert any(".loras.a.gate." in k for k in keys)
    assert any(".adapters.a.gate." in k for k in keys)


def test_a_config_union_of_other_methods_on_one_name():
    model = adapter_model("gpt2")
    union = ConfigUnion(LoRAConfig(r=2), LoReftConfig(), PromptTuningConfig(prompt_length=2))
    model.add_adapter("a", config=union, set_active=True)
    randomize_adapter(model, "a")
    with torch.no_grad():
        out = model(**inputs("gpt2")).last_hidden_state
    assert out.shape[1] == 9
    model.delete_adapter("a")
    assert not [k for k in model.state_dict() if ".a." in k]


def _check_scores(scores: dict, layers: list[int], batch: int = 2):
    assert set(scores) == {"a"}
    assert sorted(scores["a"]) == layers
    for by_location in scores["a"].values():
        for value in by_location.values():
            assert isinstance(value, np.ndarray) and value.shape[0] == batch
            assert ((value > 0) & (value < 1)).all()


def test_gating_scores_of_a_plain_model():
    model = adapter_model("bert")
    model.add_adapter("a", config="unipelt", set_active=True)
    randomize_adapter(model, "a")
    with torch.no_grad():
        out = model(**inputs("bert"), output_adapter_gating_scores=True)
        plain = model(**inputs("bert"))
    _check_scores(out.adapter_gating_scores, [0, 1])
    assert set(out.adapter_gating_scores["a"][0]) == {"self_prefix", "selfattn_lora", "output_adapter"}
    assert out.adapter_gating_scores["a"][0]["selfattn_lora"].shape == (2, 2)  # q and v
    assert "adapter_gating_scores" not in plain
    torch.testing.assert_close(out.last_hidden_state, plain.last_hidden_state)


def test_gating_scores_without_gated_adapters_are_empty():
    model = adapter_model("bert")
    model.add_adapter("a", config="seq_bn", set_active=True)
    with torch.no_grad():
        assert model(**inputs("bert"), output_adapter_gating_scores=True).adapter_gating_scores == {}


def test_gating_scores_of_static_head_and_adapter_models():
    torch.manual_seed(0)
    static = transformers.BertForSequenceClassification(head_config("bert")).eval()
    adapters.init(static)
    static.add_adapter("a", config="unipelt", set_active=True)
    with torch.no_grad():
        out = static(**inputs("bert"), output_adapter_gating_scores=True)
    _check_scores(out.adapter_gating_scores, [0, 1])
    torch.manual_seed(0)
    model = adapters.AutoAdapterModel.from_config(head_config("t5")).eval()
    model.add_adapter("a", config="unipelt")
    model.add_seq2seq_lm_head("a")
    model.set_active_adapters("a")
    with torch.no_grad():
        out = model(**inputs("t5"), output_adapter_gating_scores=True)
    _check_scores(out.adapter_gating_scores, [0, 1, 2, 3])
    decoder = out.adapter_gating_scores["a"][2]
    assert set(decoder) == {"self_prefix", "cross_prefix", "selfattn_lora", "output_adapter"}
    assert decoder["selfattn_lora"].shape == (2, 4)  # self q, v and cross q, v


@pytest.mark.parametrize("spec", ["prefix_tuning[use_gating=True, prefix_length=2]", "lora[use_gating=True]"])
def test_gating_scores_for_single_gated_methods(spec):
    model = adapter_model("distilbert")
    model.add_adapter("a", config=spec, set_active=True)
    with torch.no_grad():
        out = model(**inputs("distilbert"), output_adapter_gating_scores=True)
    _check_scores(out.adapter_gating_scores, [0, 1])

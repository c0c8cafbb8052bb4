"""Configs users extend (item 5 of issue 10): their own ``@dataclass`` subclasses, and per-layer reduction factors."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

import pytest
import torch
import transformers as tf

import adapters
from adapters import AdapterConfig, LoRAConfig, SeqBnConfig
from adapters.errors import ConfigKeyError
from tiny_models import config as tiny_config


@dataclass
class TaggedSeqBnConfig(SeqBnConfig):
    """What a reference user writes: a plain ``@dataclass`` subclass with extra fields."""

    task_tag: str = "none"
    extra_scale: float = 1.0


@dataclass(eq=False)
class RankedLoRAConfig(LoRAConfig):
    rank_schedule: list[int] = dataclasses.field(default_factory=lambda: [4, 2])


def test_user_subclass_with_extra_fields_builds_and_stays_immutable():
    config = TaggedSeqBnConfig(task_tag="ner", reduction_factor=8)
    assert (config.task_tag, config.extra_scale, config.reduction_factor, config["task_tag"]) == ("ner", 1.0, 8, "ner")
    assert config.replace(task_tag="pos").task_tag == "pos" and config.task_tag == "ner"
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.task_tag = "other"


@pytest.mark.parametrize(
    "config", [TaggedSeqBnConfig(task_tag="ner", extra_scale=2.0), TaggedSeqBnConfig(), RankedLoRAConfig(r=4)]
)
def test_user_subclass_round_trips_through_to_dict_and_load(config, tmp_path):
    data = config.to_dict()
    assert all(f.name in data for f in dataclasses.fields(config))
    for loaded in (AdapterConfig.load(data), type(config).load(data), AdapterConfig.from_dict(data)):
        assert type(loaded) is type(config) and loaded == config
    path = tmp_path / "adapter_config.json"
    path.write_text(json.dumps({"config": data, "version": "adapters.1.3.0"}))
    assert type(AdapterConfig.load(str(path))) is type(config)


def test_user_subclass_is_saved_and_reloaded_with_the_model(tmp_path):
    torch.manual_seed(0)
    model = adapters.init(tf.BertModel(tiny_config("bert")))
    model.add_adapter("tagged", config=TaggedSeqBnConfig(task_tag="ner"))
    model.save_adapter(str(tmp_path), "tagged")
    other = adapters.init(tf.BertModel(tiny_config("bert")))
    other.load_adapter(str(tmp_path))
    loaded = other.adapters_config.get("tagged")
    assert isinstance(loaded, TaggedSeqBnConfig) and loaded.task_tag == "ner"
    assert "task_tag" in json.loads((tmp_path / "adapter_config.json").read_text())["config"]


def test_plain_configs_still_reload_as_the_library_class():
    assert type(AdapterConfig.load(SeqBnConfig().to_dict())) is SeqBnConfig


def test_reduction_factor_mapping_without_default_works_when_every_layer_has_an_entry():
    model = adapters.init(tf.BertModel(tiny_config("bert")))  # 2 layers, hidden 32
    model.add_adapter("a", config=SeqBnConfig(reduction_factor={"0": 8, "1": 4}))
    sizes = {i: m["output_adapter"].adapter_up.in_features for i, m in model.get_adapter("a").items()}
    assert sizes == {0: 4, 1: 8}


def test_reduction_factor_mapping_without_an_entry_fails_at_add_adapter_and_changes_nothing():
    config = SeqBnConfig(reduction_factor={"0": 8})  # valid on its own, as in the reference
    model = adapters.init(tf.BertModel(tiny_config("bert")))
    before = set(model.state_dict())
    with pytest.raises(ConfigKeyError) as info:
        model.add_adapter("a", config=config)
    assert isinstance(info.value, KeyError)  # the reference raised KeyError
    assert "layer 1" in str(info.value) and "'default'" in str(info.value)
    assert "a" not in model.adapters_config and set(model.state_dict()) == before
    model.add_adapter("a", config=config.replace(leave_out=[1]))  # the layer without an entry gets no adapter
    assert sorted(model.get_adapter("a")) == [0]

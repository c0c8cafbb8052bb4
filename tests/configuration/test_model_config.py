"""ModelAdaptersConfig: registry of a model's adapters and fusions, and its config.json form."""

import json

import pytest

from adapters.configuration import (
    AdapterConfig,
    BnConfig,
    ConfigUnion,
    DiReftConfig,
    DynamicAdapterFusionConfig,
    IA3Config,
    LoRAConfig,
    LoReftConfig,
    MAMConfig,
    ModelAdaptersConfig,
    NoReftConfig,
    ParBnConfig,
    PrefixTuningConfig,
    SeqBnConfig,
    StaticAdapterFusionConfig,
    UniPELTConfig,
)
from adapters.errors import AdapterConfigError, AdapterExistsError, AdapterNotFoundError


def test_add_get_contains_iter_remove():
    registry = ModelAdaptersConfig()
    assert registry.add("a", SeqBnConfig()) == "9076f36a74755ac4"
    assert registry.add("b", "lora") == "lora"
    assert registry.add("c") == "seq_bn"
    assert registry.add("d", {"architecture": "lora", "r": 1, "alpha": 1, "composition_mode": "scale"}) != "lora"
    assert registry.adapters["a"] == "9076f36a74755ac4"
    assert registry.config_map["9076f36a74755ac4"] == SeqBnConfig()
    assert list(registry) == ["a", "b", "c", "d"] and len(registry) == 4
    assert "a" in registry and "z" not in registry
    assert registry.get("b") == LoRAConfig() and registry.get("c") == SeqBnConfig()
    assert type(registry.get("d")) is IA3Config
    assert registry.get("z") is None
    with pytest.raises(AdapterExistsError, match="'a'"):
        registry.add("a", "lora")
    registry.remove("a")
    assert "a" not in registry and "9076f36a74755ac4" not in registry.config_map
    with pytest.raises(AdapterNotFoundError):
        registry.remove("a")


def test_shared_config_entry_kept_while_used():
    registry = ModelAdaptersConfig()
    registry.add("a", LoRAConfig(r=2))
    registry.add("b", LoRAConfig(r=2))
    assert registry.adapters["a"] == registry.adapters["b"] and len(registry.config_map) == 1
    registry.remove("a")
    assert registry.get("b") == LoRAConfig(r=2)


def test_hash_collisions_get_distinct_keys():
    registry = ModelAdaptersConfig()
    key_no = registry.add("no", NoReftConfig())
    key_di = registry.add("di", DiReftConfig())
    assert key_no == "df69f184fdb72464" and key_di == "df69f184fdb72464-1"
    assert type(registry.get("no")) is NoReftConfig and type(registry.get("di")) is DiReftConfig
    again = ModelAdaptersConfig.from_dict(json.loads(json.dumps(registry.to_dict())))
    assert type(again.get("di")) is DiReftConfig and again.get("no").subtract_projection is True


def test_match_type_layer_and_location():
    registry = ModelAdaptersConfig()
    registry.add("bn", SeqBnConfig(leave_out=[1]))
    registry.add("lora", LoRAConfig())
    assert registry.match("bn", BnConfig) == SeqBnConfig(leave_out=[1])
    assert registry.match("bn", LoRAConfig) is None
    assert registry.match("bn", BnConfig, layer_idx=0, location_key="output_adapter") is not None
    assert registry.match("bn", BnConfig, layer_idx=1, location_key="output_adapter") is None
    assert registry.match("bn", BnConfig, layer_idx=0, location_key="mh_adapter") is None
    assert registry.match("lora", LoRAConfig, location_key="selfattn_lora") == LoRAConfig()
    assert registry.match("lora", LoRAConfig, location_key="output_lora") is None
    assert registry.match("lora", (BnConfig, LoRAConfig)) == LoRAConfig()
    assert registry.match("missing", LoRAConfig) is None


def test_match_union_members():
    registry = ModelAdaptersConfig()
    registry.add("mam", "mam")
    registry.add("unipelt", UniPELTConfig())
    assert registry.match("mam", PrefixTuningConfig) == PrefixTuningConfig(bottleneck_size=800)
    assert registry.match("mam", BnConfig, layer_idx=3, location_key="output_adapter") == ParBnConfig()
    assert registry.match("mam", LoRAConfig) is None
    assert isinstance(registry.match("mam", ConfigUnion), MAMConfig)
    assert registry.match("unipelt", LoRAConfig).alpha == 2


def test_match_union_conflict_at_same_place():
    registry = ModelAdaptersConfig()
    registry.add("two", ConfigUnion(LoRAConfig(leave_out=[0]), IA3Config()))
    assert registry.match("two", LoRAConfig, layer_idx=0) == IA3Config()
    with pytest.raises(AdapterConfigError, match="Several parts"):
        registry.match("two", LoRAConfig, layer_idx=1)


def test_match_reft_layers():
    registry = ModelAdaptersConfig()
    registry.add("r", LoReftConfig(layers=[0, 2]))
    assert registry.match("r", LoReftConfig, layer_idx=2) is not None
    assert registry.match("r", LoReftConfig, layer_idx=1) is None


def test_common_config_value():
    registry = ModelAdaptersConfig()
    registry.add("a", "seq_bn")
    registry.add("b", SeqBnConfig(reduction_factor=2))
    registry.add("c", "double_seq_bn")
    assert registry.common_config_value(["a", "b"], "output_adapter") is True
    assert registry.common_config_value(["a", "b"], "mh_adapter") is False
    with pytest.raises(AdapterConfigError, match="mh_adapter"):
        registry.common_config_value(["a", "c"], "mh_adapter")
    with pytest.raises(AdapterNotFoundError):
        registry.common_config_value(["a", "zzz"], "mh_adapter")


def test_fusions():
    registry = ModelAdaptersConfig()
    assert registry.add_fusion(["a", "b"]) == "a,b"
    assert registry.add_fusion(["a", "c"], StaticAdapterFusionConfig(temperature=True), fusion_name="f") == "f"
    assert registry.get_fusion("a,b") == (DynamicAdapterFusionConfig(), ["a", "b"])
    config, names = registry.get_fusion("f")
    assert type(config) is StaticAdapterFusionConfig and config.temperature is True and names == ["a", "c"]
    assert registry.get_fusion("zzz") == (None, None)
    with pytest.raises(AdapterExistsError):
        registry.add_fusion(["a", "b"])
    registry.remove_fusion("f")
    assert "f" not in registry.fusions and registry.fusion_config_map == {}
    with pytest.raises(AdapterNotFoundError):
        registry.remove_fusion("f")


def test_to_dict_format_and_round_trip():
    registry = ModelAdaptersConfig()
    registry.add("a", SeqBnConfig())
    registry.add("b", "lora")
    registry.add("m", MAMConfig())
    registry.add_fusion(["a", "b"], dict(StaticAdapterFusionConfig().to_dict(), temperature=True))
    data = json.loads(json.dumps(registry.to_dict()))
    assert list(data) == ["adapters", "config_map", "fusions", "fusion_config_map", "fusion_name_map"]
    assert data["adapters"] == {"a": "9076f36a74755ac4", "b": "lora", "m": "97453c0dbc2dbc97"}
    assert data["config_map"]["9076f36a74755ac4"] == SeqBnConfig().to_dict()
    assert data["fusion_name_map"] == {"a,b": ["a", "b"]}
    fusion_key = data["fusions"]["a,b"]
    assert data["fusion_config_map"][fusion_key]["temperature"] is True
    again = ModelAdaptersConfig.from_dict(data)
    assert again == registry
    assert again.to_dict() == data
    assert type(again.get("m")) is MAMConfig
    assert type(again.get_fusion("a,b")[0]) is StaticAdapterFusionConfig
    assert ModelAdaptersConfig(**data) == registry
    assert ModelAdaptersConfig.from_dict(None) == ModelAdaptersConfig()


def test_reference_model_config_json_format():
    # "adapters" entry of a config.json written by the reference (dict form of the configs, hash keys).
    saved = {
        "adapters": {"a": "625403edad0bf919"},
        "config_map": {"625403edad0bf919": LoRAConfig().to_dict()},
        "fusions": {"a,b": "dynamic"},
        "fusion_config_map": {},
        "fusion_name_map": {"a,b": ["a", "b"]},
    }
    registry = ModelAdaptersConfig.from_dict(saved)
    assert registry.get("a") == LoRAConfig()
    assert registry.get_fusion("a,b") == (DynamicAdapterFusionConfig(), ["a", "b"])
    assert registry.to_dict() == saved


def test_legacy_keys():
    saved = {
        "adapters": {"old": ["text_task", "pfeiffer"], "older": ["text_lang", None], "new": "houlsby"},
        "config_map": {},
        "adapter_fusion_models": ["old,new", ["x", "y"]],
        "adapter_fusion": StaticAdapterFusionConfig().to_dict(),
    }
    registry = ModelAdaptersConfig.from_dict(saved)
    assert registry.adapters == {"old": "pfeiffer", "older": "text_lang", "new": "houlsby"}
    assert registry.get("old") == SeqBnConfig()
    assert registry.get("older") is None  # not a config identifier
    assert registry.fusion_name_map == {"old,new": ["old", "new"], "x,y": ["x", "y"]}
    assert registry.get_fusion("x,y")[0] == StaticAdapterFusionConfig()
    assert "adapter_fusion_models" not in registry.to_dict()


def test_config_map_string_values_resolve_through_identifiers():
    registry = ModelAdaptersConfig.from_dict({"adapters": {"a": "k"}, "config_map": {"k": "par_bn"}})
    assert registry.get("a") == ParBnConfig()
    assert isinstance(registry.config_map["k"], AdapterConfig)

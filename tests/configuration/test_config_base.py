"""AdapterConfig base behaviour: immutability, mapping access, equality, replace, from_dict, load, validation."""

import dataclasses
import json
import logging

import pytest

from adapters.configuration import (
    AdapterConfig,
    AdapterFusionConfig,
    BnConfig,
    ConfigTypeError,
    DynamicAdapterFusionConfig,
    IA3Config,
    LoRAConfig,
    MultiTaskConfig,
    PrefixTuningConfig,
    PromptTuningConfig,
    ReftConfig,
    SeqBnConfig,
    StaticAdapterFusionConfig,
)
from adapters.errors import AdapterConfigError, ConfigFieldError

# ---------------------------------------------------------------------------------------------------- immutability


@pytest.mark.parametrize("config", [SeqBnConfig(), LoRAConfig(), PrefixTuningConfig(), DynamicAdapterFusionConfig()])
def test_assigning_or_deleting_any_attribute_raises(config):
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.leave_out = []
    with pytest.raises(dataclasses.FrozenInstanceError):
        delattr(config, "dropout" if hasattr(config, "dropout") else "key")
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.brand_new_attribute = 1
    assert not hasattr(config, "brand_new_attribute")


def test_lists_are_copied_so_caller_mutation_does_not_leak():
    leave_out = [1, 2]
    config = SeqBnConfig(leave_out=leave_out)
    leave_out.append(3)
    assert config.leave_out == [1, 2]
    config.to_dict()["leave_out"].append(9)
    assert config.leave_out == [1, 2]


def test_tuples_are_stored_as_lists():
    config = LoRAConfig(attn_matrices=("q", "k"), leave_out=(0,))
    assert config.attn_matrices == ["q", "k"]
    assert config.to_dict()["leave_out"] == [0]
    assert config == LoRAConfig(attn_matrices=["q", "k"], leave_out=[0])


def test_abstract_bases_cannot_be_instantiated():
    with pytest.raises(TypeError, match="abstract"):
        AdapterConfig()
    with pytest.raises(TypeError, match="abstract"):
        MultiTaskConfig()


# ---------------------------------------------------------------------------------------------------- Mapping


def test_mapping_access_over_fields():
    config = LoRAConfig(r=4)
    assert config["r"] == 4
    assert config["architecture"] == "lora"
    assert config.get("alpha") == 8
    assert config.get("no_such_key", "fallback") == "fallback"
    assert "r" in config and "no_such_key" not in config
    assert list(config)[:3] == ["architecture", "selfattn_lora", "intermediate_lora"]
    assert len(config) == 18  # was 17 before dora_unscaled_bias
    assert dict(config)["attn_matrices"] == ["q", "v"]
    with pytest.raises(KeyError):
        config["no_such_key"]


def test_bottleneck_has_no_architecture_key():
    config = SeqBnConfig()
    assert config.architecture is None
    assert "architecture" not in config
    assert "architecture" not in config.to_dict()
    assert config.get("architecture") is None
    assert len(config) == 33


def test_equality_compares_to_dict_not_class():
    assert SeqBnConfig() == BnConfig(
        mh_adapter=False, output_adapter=True, reduction_factor=16, non_linearity="relu", original_ln_before=True
    )
    assert SeqBnConfig() != SeqBnConfig(reduction_factor=2)
    assert LoRAConfig() != IA3Config()
    assert (SeqBnConfig() == {"a": 1}) is False


def test_configs_are_not_hashable():
    with pytest.raises(TypeError):
        hash(LoRAConfig())


# ---------------------------------------------------------------------------------------------------- replace


def test_replace_returns_new_config_of_same_class():
    config = IA3Config()
    changed = config.replace(dropout=0.1, leave_out=[0])
    assert type(changed) is IA3Config
    assert (changed.dropout, changed.leave_out, changed.r) == (0.1, [0], 1)
    assert config.dropout == 0.0


def test_replace_unknown_key_names_key_and_lists_fields():
    with pytest.raises(ConfigFieldError) as info:
        LoRAConfig().replace(rank=3)
    assert isinstance(info.value, TypeError) and isinstance(info.value, ValueError)
    message = str(info.value)
    assert "'rank'" in message and "Valid fields:" in message and "alpha" in message


def test_replace_validates_new_values():
    with pytest.raises(AdapterConfigError, match="composition_mode"):
        LoRAConfig().replace(composition_mode="multiply")


def test_replace_accepts_own_architecture_but_not_another():
    assert LoRAConfig().replace(architecture="lora", r=2).r == 2
    with pytest.raises(ConfigFieldError):
        LoRAConfig().replace(architecture="prefix_tuning")


# ---------------------------------------------------------------------------------------------------- validation


def test_all_problems_reported_together():
    with pytest.raises(AdapterConfigError) as info:
        LoRAConfig(r=0, composition_mode="mul", attn_matrices=["q", "o"], dropout=2.0, use_gating="yes")
    message = str(info.value)
    assert "Invalid LoRAConfig (5 problems)" in message
    for fragment in ["r: expected a value >= 1, got 0", "'o'", "composition_mode", "dropout", "use_gating"]:
        assert fragment in message


def test_bottleneck_validation_messages():
    with pytest.raises(AdapterConfigError) as info:
        SeqBnConfig(reduction_factor={"1": -8}, residual_before_ln="pre", init_weights="xavier", scaling="big")
    message = str(info.value)
    assert "4 problems" in message
    assert "values must be positive" in message and "{'1': -8}" in message
    assert "residual_before_ln: expected a bool or one of 'post_add', got 'pre'" in message
    assert "init_weights: expected one of 'bert', 'mam_adapter', 'houlsby', got 'xavier'" in message
    assert "scaling: expected a number or one of 'learned', 'channel', got 'big'" in message


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"reduction_factor": {1: 8, "default": 16}}, "reduction_factor"),
        ({"reduction_factor": {"x": 8, "default": 16}}, "invalid key"),
        ({"reduction_factor": 0}, "reduction_factor"),
        ({"reduction_factor": True}, "reduction_factor"),
        ({"inv_adapter": "real_nvp"}, "inv_adapter"),
        ({"inv_adapter": "nice"}, "inv_adapter_reduction_factor"),
        ({"leave_out": "0"}, "leave_out"),
        ({"leave_out": [0.5]}, "leave_out"),
        ({"mh_adapter": 1}, "mh_adapter"),
    ],
)
def test_bottleneck_bad_values(kwargs, fragment):
    with pytest.raises(AdapterConfigError, match=fragment):
        SeqBnConfig(**kwargs)


def test_valid_edge_values_are_accepted():
    assert SeqBnConfig(reduction_factor=0.5).reduction_factor == 0.5  # up-projection
    assert SeqBnConfig(reduction_factor={"default": 16, "0": 2}).reduction_factor == {"default": 16, "0": 2}
    assert SeqBnConfig(residual_before_ln="post_add", scaling="channel").scaling == "channel"
    assert SeqBnConfig(non_linearity=None).non_linearity is None
    assert SeqBnConfig(non_linearity="any-name-is-accepted").non_linearity == "any-name-is-accepted"


@pytest.mark.parametrize(
    "factory, fragment",
    [
        (lambda: PromptTuningConfig(prompt_init="zeros"), "prompt_init"),
        (lambda: PromptTuningConfig(combine="suffix"), "combine"),
        (lambda: PromptTuningConfig(prompt_init="from_string"), "prompt_init_text"),
        (lambda: PromptTuningConfig(random_uniform_scale=-1.0), "random_uniform_scale"),
        (lambda: PrefixTuningConfig(prefix_length=0), "prefix_length"),
        (lambda: IA3Config(r=4), "needs r == 1"),
        (lambda: ReftConfig(layers="some", prefix_positions=1, suffix_positions=0, r=1, orthogonality=True), "layers"),
        (lambda: ReftConfig(layers=[-1], prefix_positions=1, suffix_positions=0, r=1, orthogonality=True), "layers"),
        (
            lambda: ReftConfig(layers="all", prefix_positions=0, suffix_positions=0, r=1, orthogonality=True),
            "positive",
        ),
        (lambda: StaticAdapterFusionConfig(temperature="yes"), "temperature"),
    ],
)
def test_other_bad_values(factory, fragment):
    with pytest.raises(AdapterConfigError, match=fragment):
        factory()


# ---------------------------------------------------------------------------------------------------- from_dict


def test_from_dict_on_concrete_class_builds_that_class():
    config = LoRAConfig.from_dict({"architecture": "lora", "r": 4, "use_dora": True})
    assert type(config) is LoRAConfig and config.r == 4 and config.use_dora is True


def test_from_dict_on_base_picks_class():
    assert type(AdapterConfig.from_dict(IA3Config().to_dict())) is IA3Config


def test_from_dict_rejects_other_architecture_on_concrete_class():
    with pytest.raises(AdapterConfigError, match="architecture"):
        LoRAConfig.from_dict(PrefixTuningConfig().to_dict())


def test_from_dict_unknown_architecture():
    with pytest.raises(AdapterConfigError, match="Unknown adapter architecture 'magic'"):
        AdapterConfig.from_dict({"architecture": "magic"})


def test_from_dict_missing_required_field():
    with pytest.raises(ConfigTypeError, match="mh_adapter"):
        BnConfig.from_dict({"output_adapter": True, "reduction_factor": 16, "non_linearity": "relu"})


def test_from_dict_not_a_mapping():
    with pytest.raises(ConfigTypeError):
        AdapterConfig.from_dict(["lora"])


def test_unknown_keys_are_kept_as_attributes_and_warned(caplog):
    data = dict(LoRAConfig(r=4).to_dict(), future_option=3, custom_tag="x")
    with caplog.at_level(logging.WARNING, logger="adapters.configuration.base"):
        config = AdapterConfig.from_dict(data)
    assert "'future_option'" in caplog.text and "'custom_tag'" in caplog.text
    assert config.future_option == 3 and config["custom_tag"] == "x"
    assert config.extra_keys == ("future_option", "custom_tag")
    assert "future_option" not in config.to_dict()
    assert "future_option" not in list(config)
    assert config == LoRAConfig(r=4)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.future_option = 4
    assert config.replace(r=2).future_option == 3


def test_unknown_keys_clashing_with_methods_are_dropped(caplog):
    data = dict(LoRAConfig().to_dict(), to_dict="oops", keys=1)
    with caplog.at_level(logging.WARNING):
        config = AdapterConfig.from_dict(data)
    assert config.to_dict()["r"] == 8
    assert config.extra_keys == ()
    assert "clashes" in caplog.text


# ---------------------------------------------------------------------------------------------------- load


def test_load_none_and_empty():
    assert AdapterConfig.load(None) is None
    assert AdapterConfig.load("") is None
    assert AdapterConfig.load({}) is None


def test_load_instance_returns_it_or_replaced_copy():
    config = LoRAConfig()
    assert AdapterConfig.load(config) is config
    assert AdapterConfig.load(config, r=2, alpha=None) == LoRAConfig(r=2)


def test_load_identifier_with_overrides():
    config = AdapterConfig.load("seq_bn", reduction_factor=4, leave_out=None)
    assert type(config) is SeqBnConfig and config.reduction_factor == 4 and config.leave_out == []


def test_load_override_unknown_key():
    with pytest.raises(ConfigFieldError, match="'bottleneck_size'"):
        AdapterConfig.load("lora", bottleneck_size=3)


def test_load_dict():
    config = AdapterConfig.load({"architecture": "prefix_tuning", "prefix_length": 5})
    assert config == PrefixTuningConfig(prefix_length=5)


def test_load_json_file_plain_and_wrapped(tmp_path):
    plain_file = tmp_path / "plain.json"
    plain_file.write_text(json.dumps(IA3Config(dropout=0.1).to_dict()))
    assert AdapterConfig.load(str(plain_file)) == IA3Config(dropout=0.1)
    assert type(AdapterConfig.load(plain_file)) is IA3Config  # os.PathLike

    wrapped = tmp_path / "adapter_config.json"
    wrapped.write_text(json.dumps({"config": LoRAConfig(r=4, alpha=16).to_dict(), "version": "adapters.1.3.0"}))
    assert AdapterConfig.load(str(wrapped), r=2) == LoRAConfig(r=2, alpha=16)


def test_load_wrapped_file_applies_migrations(tmp_path):
    wrapped = tmp_path / "adapter_config.json"
    wrapped.write_text(json.dumps({"config": LoRAConfig(r=4, alpha=16).to_dict(), "version": "adapters.1.0.0"}))
    assert AdapterConfig.load(str(wrapped)).alpha == 4


def test_load_unreadable_file(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(AdapterConfigError, match="Cannot read config file"):
        AdapterConfig.load(str(broken))


def test_load_unsupported_type():
    with pytest.raises(ConfigTypeError):
        AdapterConfig.load(42)


def test_identifier_beats_file_of_same_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lora").write_text(json.dumps(PrefixTuningConfig().to_dict()))
    assert type(AdapterConfig.load("lora")) is LoRAConfig


def test_fusion_load():
    assert type(AdapterFusionConfig.load("dynamic")) is DynamicAdapterFusionConfig
    assert AdapterFusionConfig.load("static[temperature=True]").temperature is True
    loaded = AdapterFusionConfig.load(StaticAdapterFusionConfig().to_dict())
    assert type(loaded) is StaticAdapterFusionConfig
    assert type(AdapterFusionConfig.load(dict(DynamicAdapterFusionConfig().to_dict(), temperature=True))) is (
        DynamicAdapterFusionConfig
    )
    with pytest.raises(AdapterConfigError, match="Known identifiers: static, dynamic"):
        AdapterFusionConfig.load("seq_bn")
    with pytest.raises(AdapterConfigError, match="only one is allowed"):
        AdapterFusionConfig.load("static|dynamic")


def test_fusion_to_dict_has_no_architecture():
    assert DynamicAdapterFusionConfig().to_dict() == {
        "key": True,
        "query": True,
        "value": True,
        "query_before_ln": False,
        "regularization": True,
        "residual_before": False,
        "temperature": False,
        "value_before_softmax": True,
        "value_initialized": True,
        "dropout_prob": None,
    }


@pytest.mark.parametrize("config", [LoRAConfig(r=2), DynamicAdapterFusionConfig(), SeqBnConfig(leave_out=[1])])
def test_pickle_and_deepcopy(config):
    import copy
    import pickle

    assert pickle.loads(pickle.dumps(config)) == config
    clone = copy.deepcopy(config)
    assert clone == config and type(clone) is type(config)

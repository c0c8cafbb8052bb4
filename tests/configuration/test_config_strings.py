"""The config-string grammar ``name[key=value, ...]|name2``: examples of the reference test suite, and errors."""

import pytest

from adapters.configuration import (
    AdapterConfig,
    ConfigUnion,
    LoRAConfig,
    ParBnConfig,
    PrefixTuningConfig,
    PromptTuningConfig,
    SeqBnConfig,
    parse_config_string,
)
from adapters.configuration.strings import split_config_string
from adapters.errors import AdapterConfigError, ConfigFieldError


def test_single_chunk_with_list():
    assert AdapterConfig.load("seq_bn[reduction_factor=2, leave_out=[11]]") == SeqBnConfig(
        reduction_factor=2, leave_out=[11]
    )


def test_reduction_factor_mapping():
    config = AdapterConfig.load("par_bn[reduction_factor={'0': 8, '1': 8, 'default': 16}]")
    assert type(config) is ParBnConfig
    assert config.reduction_factor == {"0": 8, "1": 8, "default": 16}


def test_lora_values():
    config = AdapterConfig.load("lora[r=200,alpha=8]")
    assert (type(config), config.r, config.alpha) == (LoRAConfig, 200, 8)
    assert AdapterConfig.load("lora[attn_matrices=['k', 'v']]").attn_matrices == ["k", "v"]


def test_union_of_two():
    config = AdapterConfig.load("prefix_tuning|par_bn")
    assert isinstance(config, ConfigUnion)
    assert config.configs == (PrefixTuningConfig(), ParBnConfig())


def test_union_of_three_with_gating():
    config = AdapterConfig.load("lora[use_gating=True]|prefix_tuning[use_gating=True]|seq_bn[use_gating=True]")
    assert [type(c) for c in config.configs] == [LoRAConfig, PrefixTuningConfig, SeqBnConfig]
    assert all(c.use_gating for c in config.configs)


def test_deprecated_identifier():
    assert AdapterConfig.load("pfeiffer[reduction_factor=2]") == SeqBnConfig(reduction_factor=2)


def test_whitespace_empty_brackets_and_literals():
    assert AdapterConfig.load(" lora [ ] | prefix_tuning ") == ConfigUnion(LoRAConfig(), PrefixTuningConfig())
    config = AdapterConfig.load("lora[dropout=1e-1, init_weights_seed=None, dtype='float16', use_dora=True]")
    assert (config.dropout, config.init_weights_seed, config.dtype, config.use_dora) == (0.1, None, "float16", True)


def test_quoted_values_may_contain_separators():
    config = AdapterConfig.load("prompt_tuning[prompt_init='from_string', prompt_init_text='a|b], c=d']")
    assert config == PromptTuningConfig(prompt_init="from_string", prompt_init_text="a|b], c=d")
    assert split_config_string("a[x='|']|b") == ["a[x='|']", "b"]


def test_explicit_map():
    config_map = {"small": LoRAConfig(r=2)}
    assert parse_config_string("small[alpha=4]", config_map) == LoRAConfig(r=2, alpha=4)


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("prefix_tuning[flat=True", "Malformed config string chunk"),
        ("seq_bn]", "Malformed config string chunk"),
        ("seq_bn[reduction_factor=dict(default=1)]", "not a Python literal"),
        ("seq_bn[reduction_factor=__import__('os')]", "not a Python literal"),
        ("seq_bn[1]", "Malformed parameters"),
        ("seq_bn[a=1)(b=2]", "Malformed parameters"),
        ("seq_bn[r=1, r=2]", "Malformed parameters"),
        ("seq_bn[**{'r': 1}]", "'**' is not allowed"),
        ("seq_bn[reduction_factor=]", "Malformed parameters"),
        ("foo", "Unknown config name 'foo'"),
        ("lora|bar[x=1]", "Unknown config name 'bar'"),
    ],
)
def test_malformed_or_unknown(text, fragment):
    with pytest.raises(AdapterConfigError) as info:
        AdapterConfig.load(text)
    assert fragment in str(info.value)
    assert not isinstance(info.value, ConfigFieldError)
    if "Unknown config name" in fragment or "Malformed config string chunk" in fragment:
        assert "seq_bn, double_seq_bn" in str(info.value)  # lists the known identifiers


def test_unknown_key_is_a_field_error_naming_the_key():
    with pytest.raises(ConfigFieldError) as info:
        AdapterConfig.load("lora[rank=2]")
    assert isinstance(info.value, TypeError)
    assert "'rank'" in str(info.value) and "lora[rank=2]" in str(info.value)


def test_union_replace_broadcasts_so_member_specific_keys_fail():
    with pytest.raises(ConfigFieldError, match="ParBnConfig"):
        AdapterConfig.load("mam[bottleneck_size=100]")
    config = AdapterConfig.load("mam[leave_out=[0]]")
    assert [c.leave_out for c in config.configs] == [[0], [0]]


def test_invalid_values_in_string():
    with pytest.raises(AdapterConfigError, match="composition_mode"):
        AdapterConfig.load("lora[composition_mode='mul']")


def test_union_conflicts_and_nesting_in_strings():
    with pytest.raises(AdapterConfigError, match="cannot be combined"):
        AdapterConfig.load("lora|lora")
    with pytest.raises(TypeError, match="cannot be nested"):
        AdapterConfig.load("mam|lora")

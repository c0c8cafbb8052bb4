"""ConfigUnion validation, indexing and replace; MAM and UniPELT presets."""

import pytest

from adapters.configuration import (
    AdapterConfig,
    BnConfig,
    ConfigTypeError,
    ConfigUnion,
    DoubleSeqBnConfig,
    DynamicAdapterFusionConfig,
    IA3Config,
    LoRAConfig,
    MAMConfig,
    ParBnConfig,
    PrefixTuningConfig,
    PromptTuningConfig,
    SeqBnConfig,
    UniPELTConfig,
)
from adapters.errors import AdapterConfigError, ConfigFieldError


@pytest.mark.parametrize(
    "members",
    [(LoRAConfig(), "lora"), (LoRAConfig(), {"r": 1}), (MAMConfig(), LoRAConfig()), (DynamicAdapterFusionConfig(),)],
)
def test_members_must_be_non_union_adapter_configs(members):
    with pytest.raises(ConfigTypeError) as info:
        ConfigUnion(*members)
    assert isinstance(info.value, TypeError)


def test_empty_union_rejected():
    with pytest.raises(TypeError, match="at least one"):
        ConfigUnion()


def test_same_architecture_conflicts():
    with pytest.raises(AdapterConfigError) as info:
        ConfigUnion(LoRAConfig(), IA3Config(), PrefixTuningConfig(), PrefixTuningConfig(flat=True))
    assert isinstance(info.value, ValueError) and not isinstance(info.value, TypeError)
    message = str(info.value)
    assert "2 problems" in message  # all conflicts reported together
    assert "members 0 (LoRAConfig) and 1 (IA3Config)" in message
    assert "members 2 (PrefixTuningConfig) and 3 (PrefixTuningConfig)" in message


def test_leave_out_allows_same_architecture():
    union = ConfigUnion(LoRAConfig(leave_out=[0]), IA3Config())
    assert len(union.configs) == 2


def test_bottleneck_pairs_must_differ_in_both_locations():
    mh_only = BnConfig(mh_adapter=True, output_adapter=False, reduction_factor=16, non_linearity="relu")
    assert ConfigUnion(mh_only, SeqBnConfig()).configs[0] is mh_only
    with pytest.raises(AdapterConfigError, match="same location"):
        ConfigUnion(SeqBnConfig(), ParBnConfig())
    with pytest.raises(AdapterConfigError, match="same location"):
        ConfigUnion(DoubleSeqBnConfig(), mh_only)


def test_to_dict_and_indexing():
    union = ConfigUnion(LoRAConfig(r=4), SeqBnConfig(reduction_factor=2))
    assert union.to_dict() == {
        "architecture": "union",
        "configs": [LoRAConfig(r=4).to_dict(), SeqBnConfig(reduction_factor=2).to_dict()],
    }
    assert union[0] == LoRAConfig(r=4)
    assert union["0.r"] == 4
    assert union["1.reduction_factor"] == 2
    assert union["architecture"] == "union"
    assert list(union)[:2] == ["0.architecture", "0.selfattn_lora"]
    assert "1.mh_adapter" in list(union)
    assert len(union) == 18 + 33
    with pytest.raises(KeyError):
        union["2.r"]
    with pytest.raises(IndexError):
        union[5]


def test_union_is_frozen():
    import dataclasses

    union = ConfigUnion(LoRAConfig())
    with pytest.raises(dataclasses.FrozenInstanceError):
        union.configs = ()
    assert isinstance(union.configs, tuple)


def test_replace_applies_to_every_member():
    union = ConfigUnion(LoRAConfig(), PrefixTuningConfig()).replace(leave_out=[1], dropout=0.1)
    assert [(c.leave_out, c.dropout) for c in union.configs] == [([1], 0.1), ([1], 0.1)]
    with pytest.raises(ConfigFieldError, match="PrefixTuningConfig"):
        ConfigUnion(LoRAConfig(), PrefixTuningConfig()).replace(r=2)


def test_union_round_trip():
    union = ConfigUnion(IA3Config(), PromptTuningConfig(prompt_length=3))
    loaded = AdapterConfig.load(union.to_dict())
    assert loaded == union and type(loaded) is ConfigUnion
    assert type(ConfigUnion.from_dict(union.to_dict())) is ConfigUnion
    with pytest.raises(ConfigFieldError, match="extra"):
        ConfigUnion.from_dict(dict(union.to_dict(), extra=1))
    with pytest.raises(TypeError):
        ConfigUnion.from_dict({"architecture": "union", "configs": "lora"})


def test_mam_defaults_and_members():
    mam = MAMConfig()
    assert mam.prefix_tuning == PrefixTuningConfig(bottleneck_size=800)
    assert mam.adapter == ParBnConfig()
    assert mam.configs == (mam.prefix_tuning, mam.adapter)
    custom = MAMConfig(adapter=ParBnConfig(reduction_factor=8))
    assert custom.adapter.reduction_factor == 8
    with pytest.raises(TypeError, match="adapter"):
        MAMConfig(adapter=LoRAConfig())


def test_mam_replace_keeps_class():
    changed = MAMConfig().replace(leave_out=[0])
    assert type(changed) is MAMConfig and changed.prefix_tuning.leave_out == [0]


def test_unipelt_defaults_force_gating():
    unipelt = UniPELTConfig()
    assert unipelt.prefix_tuning == PrefixTuningConfig(prefix_length=10, use_gating=True)
    assert unipelt.adapter == SeqBnConfig(reduction_factor=16, use_gating=True)
    assert unipelt.lora == LoRAConfig(r=8, alpha=2, use_gating=True)
    custom = UniPELTConfig(lora=LoRAConfig(r=2))
    assert custom.lora == LoRAConfig(r=2, use_gating=True)
    with pytest.raises(TypeError, match="lora"):
        UniPELTConfig(lora=PrefixTuningConfig())

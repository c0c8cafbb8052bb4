"""get_adapter_config_hash: values equal to the reference library's."""

import pytest

from adapters.configuration import (
    ADAPTER_CONFIG_MAP,
    AdapterPlusConfig,
    ConfigUnion,
    DiReftConfig,
    DoRAConfig,
    DoubleSeqBnConfig,
    LoRAConfig,
    NoReftConfig,
    PromptTuningConfig,
    SeqBnConfig,
    get_adapter_config_hash,
)

# Computed by adapters 1.3.0 (tests/fixtures/reference/manifest.json, "config_map_hashes").
REFERENCE_HASHES = {
    "seq_bn": "9076f36a74755ac4",
    "double_seq_bn": "b1017368d7a97b11",
    "par_bn": "211b85d66ae909db",
    "scaled_par_bn": "4197b24ec21c92f8",
    "seq_bn_inv": "9ed5b5a29de19b71",
    "double_seq_bn_inv": "bcdbfdc759d7abf1",
    "compacter++": "cfa13994accfb5f4",
    "compacter": "934efc0c1022a56f",
    "prefix_tuning": "648bf22f5afeaaa6",
    "prefix_tuning_flat": "d61d9a6e9c3974ea",
    "prompt_tuning": "8e35d5049bb12364",
    "mtl_lora": "b37172df6259ff89",
    "lora": "625403edad0bf919",
    "ia3": "1ebb5af107e576c0",
    "vera": "2be4e8738bf1b672",
    "dora": "045575c920686296",
    "dvora": "54bac59257d09af0",
    "loreft": "141e29e6c21f7261",
    "noreft": "df69f184fdb72464",
    "direft": "df69f184fdb72464",
    "mam": "97453c0dbc2dbc97",
    "unipelt": "67ac4937c601ad56",
}


def test_three_documented_hashes():
    assert get_adapter_config_hash(SeqBnConfig()) == "9076f36a74755ac4"
    assert get_adapter_config_hash(DoubleSeqBnConfig()) == "b1017368d7a97b11"
    assert get_adapter_config_hash(LoRAConfig()) == "625403edad0bf919"


@pytest.mark.parametrize("identifier", list(REFERENCE_HASHES))
def test_preset_hashes_equal_reference(identifier):
    assert get_adapter_config_hash(ADAPTER_CONFIG_MAP[identifier]) == REFERENCE_HASHES[identifier]


def test_adapter_plus_hashes():
    assert get_adapter_config_hash(AdapterPlusConfig()) == "fd517df084609354"
    assert get_adapter_config_hash(AdapterPlusConfig(stochastic_depth=0.0)) == "5ac854c2fe963567"


def test_dict_and_instance_give_same_hash():
    for config in (SeqBnConfig(reduction_factor={"default": 8, "1": 2}), ADAPTER_CONFIG_MAP["mam"], LoRAConfig(r=2)):
        assert get_adapter_config_hash(config.to_dict()) == get_adapter_config_hash(config)


def test_length_and_ignore_params():
    assert get_adapter_config_hash(LoRAConfig(), length=8) == "625403ed"
    assert get_adapter_config_hash(LoRAConfig(dropout=0.3), ignore_params=["dropout"]) == "625403edad0bf919"
    union = ConfigUnion(LoRAConfig(dropout=0.3), SeqBnConfig())
    assert get_adapter_config_hash(union, ignore_params=["dropout"]) == get_adapter_config_hash(
        ConfigUnion(LoRAConfig(), SeqBnConfig())
    )


def test_changed_values_change_hash():
    assert get_adapter_config_hash(SeqBnConfig(reduction_factor=2)) != get_adapter_config_hash(SeqBnConfig())
    assert get_adapter_config_hash(PromptTuningConfig(random_uniform_scale=0.1)) != REFERENCE_HASHES["prompt_tuning"]
    assert get_adapter_config_hash(SeqBnConfig(reduction_factor=16.0)) != get_adapter_config_hash(SeqBnConfig())


def test_new_fields_at_default_do_not_change_hash():
    assert get_adapter_config_hash(PromptTuningConfig()) == REFERENCE_HASHES["prompt_tuning"]
    union = ConfigUnion(PromptTuningConfig(), LoRAConfig())
    reference_style = {"architecture": "union", "configs": [PromptTuningConfig().to_dict(), LoRAConfig().to_dict()]}
    del reference_style["configs"][0]["random_uniform_scale"]
    assert get_adapter_config_hash(union) == get_adapter_config_hash(reference_style)
    # DiReFT's subtract_projection=False is falsy and dropped, as in the reference where it was not a field.
    assert get_adapter_config_hash(DiReftConfig()) == get_adapter_config_hash(NoReftConfig())


def test_dora_unscaled_bias_hashes_only_when_set():
    """``dora_unscaled_bias`` is new: at its default every LoRA-family hash equals the reference's; True differs."""
    for identifier in ("lora", "dora", "dvora", "ia3", "vera", "mtl_lora", "unipelt"):  # dict form, field present
        data = ADAPTER_CONFIG_MAP[identifier].to_dict()
        assert get_adapter_config_hash(data) == REFERENCE_HASHES[identifier]
    without = {k: v for k, v in DoRAConfig().to_dict().items() if k != "dora_unscaled_bias"}
    assert get_adapter_config_hash(without) == get_adapter_config_hash(DoRAConfig())
    unscaled = DoRAConfig(dora_unscaled_bias=True)
    assert get_adapter_config_hash(unscaled) != get_adapter_config_hash(DoRAConfig())
    assert get_adapter_config_hash(ConfigUnion(unscaled, SeqBnConfig())) != get_adapter_config_hash(
        ConfigUnion(DoRAConfig(), SeqBnConfig())
    )

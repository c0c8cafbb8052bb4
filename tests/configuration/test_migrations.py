"""Migrations of configs saved by older versions."""

import pytest

from adapters.configuration import AdapterConfig, LoRAConfig, SeqBnConfig, UniPELTConfig, migrate_saved_config
from adapters.configuration.migrations import (
    MIGRATIONS,
    fix_lora_alpha_before_1_1,
    map_v1_invertible_adapter,
    rename_legacy_non_linearity,
)


def test_migration_order():
    expected = (map_v1_invertible_adapter, rename_legacy_non_linearity, fix_lora_alpha_before_1_1)
    assert expected == MIGRATIONS


def test_input_is_not_modified():
    saved = {"non_linearity": "gelu", "invertible_adapter": {"block_type": "nice", "reduction_factor": 2}}
    migrated = migrate_saved_config(saved, None)
    assert saved == {"non_linearity": "gelu", "invertible_adapter": {"block_type": "nice", "reduction_factor": 2}}
    assert migrated == {"non_linearity": "gelu_new", "inv_adapter": "nice", "inv_adapter_reduction_factor": 2}


@pytest.mark.parametrize(
    "version, before, after",
    [
        (None, "gelu", "gelu_new"),
        (None, "gelu_orig", "gelu"),
        (None, "relu", "relu"),
        ("3.2.1", "gelu", "gelu"),
        ("adapters.1.3.0", "gelu", "gelu"),
    ],
)
def test_legacy_non_linearity(version, before, after):
    assert migrate_saved_config({"non_linearity": before}, version)["non_linearity"] == after


@pytest.mark.parametrize(
    "version, expected_alpha",
    [
        ("adapters.0.1.0", 4),
        ("adapters.1.0.1", 4),
        ("adapters.1.1.0", 16),
        ("adapters.1.3.0", 16),
        ("3.2.1", 16),  # adapter-transformers: not affected
        (None, 16),
        ("adapters.not-a-version", 16),
    ],
)
def test_lora_alpha_fix(version, expected_alpha):
    saved = LoRAConfig(r=4, alpha=16).to_dict()
    assert migrate_saved_config(saved, version)["alpha"] == expected_alpha


def test_lora_alpha_fix_applies_to_union_members_and_not_to_others():
    saved = UniPELTConfig().to_dict()
    migrated = migrate_saved_config(saved, "adapters.1.0.0")
    assert migrated["configs"][2]["alpha"] == 8 and saved["configs"][2]["alpha"] == 2
    assert migrated["configs"][:2] == saved["configs"][:2]
    prefix = {"architecture": "prefix_tuning", "r": 4, "alpha": 2}  # not LoRA: untouched
    assert migrate_saved_config(prefix, "adapters.1.0.0") == prefix


def test_v1_file_loads():
    saved = {k: v for k, v in SeqBnConfig(non_linearity="gelu_new").to_dict().items() if not k.startswith("inv_")}
    saved["non_linearity"] = "gelu"
    saved["invertible_adapter"] = {"block_type": "glow", "non_linearity": "relu", "reduction_factor": 4}
    config = AdapterConfig.load(migrate_saved_config(saved, None))
    assert (config.non_linearity, config.inv_adapter, config.inv_adapter_reduction_factor) == ("gelu_new", "glow", 4)

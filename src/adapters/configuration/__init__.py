"""Adapter configurations: one immutable dataclass per method, preset identifiers, config strings and hashing.

Typical use::

    from adapters.configuration import AdapterConfig, LoRAConfig

    config = AdapterConfig.load("lora[r=4, alpha=16]")      # identifier, config string, dict or JSON file
    assert config == LoRAConfig(r=4, alpha=16)
    smaller = config.replace(r=2)                          # configs are immutable
"""

from .base import AdapterConfig, ConfigTypeError
from .bottleneck import (
    AdapterPlusConfig,
    BnConfig,
    CompacterConfig,
    CompacterPlusPlusConfig,
    DoubleSeqBnConfig,
    DoubleSeqBnInvConfig,
    ParBnConfig,
    SeqBnConfig,
    SeqBnInvConfig,
)
from .fusion import (
    ADAPTERFUSION_CONFIG_MAP,
    DEFAULT_ADAPTERFUSION_CONFIG,
    AdapterFusionConfig,
    DynamicAdapterFusionConfig,
    StaticAdapterFusionConfig,
)
from .hashing import get_adapter_config_hash
from .lora import DoRAConfig, DvoRAConfig, IA3Config, LoRAConfig, MTLLoRAConfig, MultiTaskConfig, VeraConfig
from .maps import ADAPTER_CONFIG_MAP, DEFAULT_ADAPTER_CONFIG
from .migrations import migrate_saved_config
from .model_config import ModelAdaptersConfig
from .prefix import PrefixTuningConfig, PromptTuningConfig
from .reft import DiReftConfig, LoReftConfig, NoReftConfig, ReftConfig
from .strings import parse_config_string
from .union import ConfigUnion, MAMConfig, UniPELTConfig

__all__ = [
    "ADAPTER_CONFIG_MAP",
    "ADAPTERFUSION_CONFIG_MAP",
    "DEFAULT_ADAPTER_CONFIG",
    "DEFAULT_ADAPTERFUSION_CONFIG",
    "AdapterConfig",
    "AdapterFusionConfig",
    "AdapterPlusConfig",
    "BnConfig",
    "CompacterConfig",
    "CompacterPlusPlusConfig",
    "ConfigTypeError",
    "ConfigUnion",
    "DiReftConfig",
    "DoRAConfig",
    "DoubleSeqBnConfig",
    "DoubleSeqBnInvConfig",
    "DvoRAConfig",
    "DynamicAdapterFusionConfig",
    "IA3Config",
    "LoRAConfig",
    "LoReftConfig",
    "MAMConfig",
    "ModelAdaptersConfig",
    "MTLLoRAConfig",
    "MultiTaskConfig",
    "NoReftConfig",
    "ParBnConfig",
    "PrefixTuningConfig",
    "PromptTuningConfig",
    "ReftConfig",
    "SeqBnConfig",
    "SeqBnInvConfig",
    "StaticAdapterFusionConfig",
    "UniPELTConfig",
    "VeraConfig",
    "get_adapter_config_hash",
    "migrate_saved_config",
    "parse_config_string",
]

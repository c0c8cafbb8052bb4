"""The reference's ``adapters.configuration.adapter_config`` import path (re-exports; see the modules per method)."""

from __future__ import annotations

from .base import AdapterConfig
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
from .lora import DoRAConfig, DvoRAConfig, IA3Config, LoRAConfig, MTLLoRAConfig, MultiTaskConfig, VeraConfig
from .maps import ADAPTER_CONFIG_MAP, DEFAULT_ADAPTER_CONFIG
from .prefix import PrefixTuningConfig, PromptTuningConfig
from .reft import DiReftConfig, LoReftConfig, NoReftConfig, ReftConfig
from .union import ConfigUnion, MAMConfig, UniPELTConfig

__all__ = [
    "AdapterConfig",
    "BnConfig",
    "SeqBnConfig",
    "CompacterPlusPlusConfig",
    "SeqBnInvConfig",
    "DoubleSeqBnConfig",
    "CompacterConfig",
    "DoubleSeqBnInvConfig",
    "ParBnConfig",
    "AdapterPlusConfig",
    "PrefixTuningConfig",
    "PromptTuningConfig",
    "LoRAConfig",
    "IA3Config",
    "VeraConfig",
    "DoRAConfig",
    "DvoRAConfig",
    "MultiTaskConfig",
    "MTLLoRAConfig",
    "ReftConfig",
    "LoReftConfig",
    "NoReftConfig",
    "DiReftConfig",
    "ConfigUnion",
    "MAMConfig",
    "UniPELTConfig",
    "ADAPTER_CONFIG_MAP",
    "DEFAULT_ADAPTER_CONFIG",
]

"""String identifiers of the preset adapter configs (``"seq_bn"``, ``"lora"``, ...), in the reference's order."""

from __future__ import annotations

from .base import AdapterConfig, register_config_map
from .bottleneck import (
    CompacterConfig,
    CompacterPlusPlusConfig,
    DoubleSeqBnConfig,
    DoubleSeqBnInvConfig,
    ParBnConfig,
    SeqBnConfig,
    SeqBnInvConfig,
)
from .lora import DoRAConfig, DvoRAConfig, IA3Config, LoRAConfig, MTLLoRAConfig, VeraConfig
from .prefix import PrefixTuningConfig, PromptTuningConfig
from .reft import DiReftConfig, LoReftConfig, NoReftConfig
from .union import MAMConfig, UniPELTConfig

__all__ = ["ADAPTER_CONFIG_MAP", "DEFAULT_ADAPTER_CONFIG"]

ADAPTER_CONFIG_MAP: dict[str, AdapterConfig] = {
    # deprecated names, kept for configs and code written for adapter-transformers
    "pfeiffer": SeqBnConfig(),
    "houlsby": DoubleSeqBnConfig(),
    "parallel": ParBnConfig(),
    "scaled_parallel": ParBnConfig(scaling="learned"),
    "pfeiffer+inv": SeqBnInvConfig(),
    "houlsby+inv": DoubleSeqBnInvConfig(),
    # current names
    "seq_bn": SeqBnConfig(),
    "double_seq_bn": DoubleSeqBnConfig(),
    "par_bn": ParBnConfig(),
    "scaled_par_bn": ParBnConfig(scaling="learned"),
    "seq_bn_inv": SeqBnInvConfig(),
    "double_seq_bn_inv": DoubleSeqBnInvConfig(),
    "compacter++": CompacterPlusPlusConfig(),
    "compacter": CompacterConfig(),
    "prefix_tuning": PrefixTuningConfig(),
    "prefix_tuning_flat": PrefixTuningConfig(flat=True),
    "prompt_tuning": PromptTuningConfig(),
    "mtl_lora": MTLLoRAConfig(),
    "lora": LoRAConfig(),
    "ia3": IA3Config(),
    "vera": VeraConfig(),
    "dora": DoRAConfig(),
    "dvora": DvoRAConfig(),
    "loreft": LoReftConfig(),
    "noreft": NoReftConfig(),
    "direft": DiReftConfig(),
    "mam": MAMConfig(),
    "unipelt": UniPELTConfig(),
}

DEFAULT_ADAPTER_CONFIG = "seq_bn"

register_config_map(AdapterConfig._registry_root, ADAPTER_CONFIG_MAP)

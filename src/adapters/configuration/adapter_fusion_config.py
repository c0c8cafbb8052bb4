"""The reference's ``adapters.configuration.adapter_fusion_config`` import path (re-exports of :mod:`.fusion`)."""

from __future__ import annotations

from .fusion import (
    ADAPTERFUSION_CONFIG_MAP,
    DEFAULT_ADAPTERFUSION_CONFIG,
    AdapterFusionConfig,
    DynamicAdapterFusionConfig,
    StaticAdapterFusionConfig,
)

__all__ = [
    "AdapterFusionConfig",
    "StaticAdapterFusionConfig",
    "DynamicAdapterFusionConfig",
    "ADAPTERFUSION_CONFIG_MAP",
    "DEFAULT_ADAPTERFUSION_CONFIG",
]

"""On-disk formats, compatible with the reference ``adapters`` library."""

from __future__ import annotations

from .format import (
    ADAPTER_CONFIG_NAME,
    ADAPTER_SAFE_WEIGHTS_NAME,
    ADAPTER_WEIGHTS_NAME,
    HEAD_CONFIG_NAME,
    HEAD_SAFE_WEIGHTS_NAME,
    HEAD_WEIGHTS_NAME,
)

__all__ = [
    "ADAPTER_CONFIG_NAME",
    "ADAPTER_WEIGHTS_NAME",
    "ADAPTER_SAFE_WEIGHTS_NAME",
    "HEAD_CONFIG_NAME",
    "HEAD_WEIGHTS_NAME",
    "HEAD_SAFE_WEIGHTS_NAME",
]

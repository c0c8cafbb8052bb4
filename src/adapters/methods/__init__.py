"""Adapter methods. Importing this package registers every method (one module each) in the registry."""

from __future__ import annotations

from . import bottleneck, lora, prefix_tuning, prompt_tuning, reft  # noqa: F401  (register the methods)
from .registry import (
    AdapterMethod,
    adapter_key_pattern,
    method_for_config,
    method_kinds,
    register_method,
    registered_methods,
)

__all__ = [
    "AdapterMethod",
    "adapter_key_pattern",
    "method_for_config",
    "method_kinds",
    "register_method",
    "registered_methods",
]

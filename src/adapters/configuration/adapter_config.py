"""The reference's ``adapters.configuration.adapter_config`` import path: every adapter config class, the config map
and the default (re-exported from the modules per method)."""

from __future__ import annotations

from . import bottleneck, lora, maps, prefix, reft, union
from .base import AdapterConfig
from .bottleneck import *  # noqa: F403
from .lora import *  # noqa: F403
from .maps import *  # noqa: F403
from .prefix import *  # noqa: F403
from .reft import *  # noqa: F403
from .union import *  # noqa: F403

__all__ = [
    "AdapterConfig",
    *bottleneck.__all__,
    *lora.__all__,
    *prefix.__all__,
    *reft.__all__,
    *union.__all__,
    *maps.__all__,
]

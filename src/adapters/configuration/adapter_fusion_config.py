"""The reference's ``adapters.configuration.adapter_fusion_config`` import path (re-exports of :mod:`.fusion`)."""

from __future__ import annotations

from . import fusion
from .fusion import *  # noqa: F403

__all__ = list(fusion.__all__)

"""The reference's ``adapters.configuration.model_adapters_config`` import path (re-export of :mod:`.model_config`)."""

from __future__ import annotations

from .model_config import ModelAdaptersConfig

__all__ = ["ModelAdaptersConfig"]

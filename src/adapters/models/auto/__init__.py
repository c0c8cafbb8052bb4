"""The reference's ``adapters.models.auto`` import path (re-exports of :mod:`adapters.auto`)."""

from __future__ import annotations

from ...auto import ADAPTER_MODEL_MAPPING, AutoAdapterModel

__all__ = ["ADAPTER_MODEL_MAPPING", "AutoAdapterModel"]

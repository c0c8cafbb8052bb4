"""Training utilities."""

from __future__ import annotations

from .adapter_drop import AdapterDropTrainerCallback

__all__ = ["AdapterDropTrainerCallback"]

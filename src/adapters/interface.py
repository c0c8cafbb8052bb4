"""The reference's ``adapters.interface`` import path: the plugin interface for your own models.

Re-exports :mod:`adapters.architectures.interface`; nothing is defined here.
"""

from __future__ import annotations

from .architectures.interface import AdapterMethod, AdapterModelInterface

__all__ = ["AdapterMethod", "AdapterModelInterface"]

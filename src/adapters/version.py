"""The library version (written into saved files as ``adapters.<version>``)."""

__version__ = "2.0.0.dev0"

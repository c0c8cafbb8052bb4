"""``adapters configs``: list the adapter config identifiers."""

from __future__ import annotations

import argparse

__all__ = ["HELP", "add_arguments", "run"]

HELP = "list the adapter config identifiers"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    return None


def run(args: argparse.Namespace) -> int:
    from ..configuration import ADAPTER_CONFIG_MAP

    for name, config in ADAPTER_CONFIG_MAP.items():
        print(f"{name:<22}{type(config).__name__}")
    return 0

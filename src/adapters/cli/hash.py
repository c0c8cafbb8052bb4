"""``adapters hash CONFIG``: print the config hash of an identifier or config string."""

from __future__ import annotations

import argparse

__all__ = ["HELP", "add_arguments", "run"]

HELP = "print the config hash of an identifier or config string"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="a config identifier such as seq_bn, or a config string")


def run(args: argparse.Namespace) -> int:
    from ..configuration import AdapterConfig, get_adapter_config_hash

    print(get_adapter_config_hash(AdapterConfig.load(args.config)))
    return 0

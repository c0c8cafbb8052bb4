"""The ``adapters`` command: ``adapters demo``, ``adapters configs``, ``adapters hash CONFIG``."""

from __future__ import annotations

import argparse
import sys

from .version import __version__

__all__ = ["main"]


def _demo(args: argparse.Namespace) -> int:
    from .demo import train_sentiment_adapter

    result = train_sentiment_adapter(steps=args.steps, examples=args.examples)
    return 0 if result.last_loss < result.first_loss else 1


def _configs(args: argparse.Namespace) -> int:
    from .configuration import ADAPTER_CONFIG_MAP

    for name, config in ADAPTER_CONFIG_MAP.items():
        print(f"{name:<22}{type(config).__name__}")
    return 0


def _hash(args: argparse.Namespace) -> int:
    from .configuration import AdapterConfig, get_adapter_config_hash

    print(get_adapter_config_hash(AdapterConfig.load(args.config)))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="adapters", description="adapters for transformers 5")
    parser.add_argument("--version", action="version", version=f"adapters {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="train a seq_bn adapter on MiniLM + Rotten Tomatoes (offline)")
    demo.add_argument("--steps", type=int, default=30)
    demo.add_argument("--examples", type=int, default=256)
    demo.set_defaults(run=_demo)
    configs = commands.add_parser("configs", help="list the adapter config identifiers")
    configs.set_defaults(run=_configs)
    hash_cmd = commands.add_parser("hash", help="print the config hash of an identifier or config string")
    hash_cmd.add_argument("config")
    hash_cmd.set_defaults(run=_hash)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())

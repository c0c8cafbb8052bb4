"""The ``adapters`` command line.

Each subcommand is one module of this package that defines ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int`` (the exit code). :data:`COMMANDS` lists them in the order ``adapters --help`` shows; modules are
imported only when their command runs (or when help is built), so ``adapters hash ...`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ..version import __version__

__all__ = ["COMMANDS", "main"]

# subcommand name -> module of this package
COMMANDS: dict[str, str] = {
    "demo": "demo",
    "configs": "configs",
    "hash": "hash",
    "convert": "convert",
    "train": "train",
    "evaluate": "evaluate",
    "predict": "predict",
    "summary": "summary",
    "serve": "serve",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="adapters", description="adapters for transformers 5")
    parser.add_argument("--version", action="version", version=f"adapters {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(f"{__name__}.{module_name}")
        sub = commands.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())

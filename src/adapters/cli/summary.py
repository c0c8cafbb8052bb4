"""``adapters summary``: the adapter summary table of a trained run or a saved adapter folder."""

from __future__ import annotations

import argparse

from ._errors import OK, guarded

__all__ = ["HELP", "add_arguments", "run"]

HELP = "print the adapter summary table (parameters, share of the model) of a trained run or a saved adapter"

EPILOG = """examples:
  adapters summary runs/rt                       # an `adapters train` output folder
  adapters summary saved/sentiment --model minilm  # a folder written by save_adapter (base model given)"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument("path", help="an `adapters train` output folder or a saved adapter folder")
    parser.add_argument("--model", help="base model of a saved adapter folder (default: the one recorded in it)")


def run(args: argparse.Namespace) -> int:
    return guarded(lambda: _summary(args))


def _summary(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..io.format import ADAPTER_CONFIG_NAME, read_json
    from ..training.job import RUN_FILE, load_adapter_model, load_run

    path = Path(args.path)
    if (path / RUN_FILE).is_file():
        model = load_run(path)[0]
    elif (path / ADAPTER_CONFIG_NAME).is_file():
        base = args.model or read_json(path / ADAPTER_CONFIG_NAME).get("model_name")
        if not base:
            raise FileNotFoundError(f"{path / ADAPTER_CONFIG_NAME} records no model_name; pass --model.")
        model = load_adapter_model(base, path)[0]
    else:
        raise FileNotFoundError(f"{path} holds neither {RUN_FILE} (a training run) nor {ADAPTER_CONFIG_NAME}.")
    print(model.adapter_summary())
    return OK

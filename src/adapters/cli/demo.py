"""``adapters demo``: the offline demo job (see :mod:`adapters.demo` and :mod:`adapters.demo_decoder`)."""

from __future__ import annotations

import argparse
from dataclasses import replace

__all__ = ["HELP", "add_arguments", "run"]

HELP = "train a seq_bn adapter on MiniLM + Rotten Tomatoes with AdapterTrainer (offline); --decoder: LoRA on SmolLM2"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..demo import DemoSettings

    defaults = DemoSettings()
    examples = defaults.train_examples or "all"
    parser.add_argument("--train-examples", type=int, help=f"training reviews (default: {examples})")
    parser.add_argument("--epochs", type=float, help=f"training epochs (default: {defaults.epochs:g})")
    parser.add_argument("--lr", type=float, help=f"learning rate (default: {defaults.learning_rate:g})")
    parser.add_argument("--output-dir", help="where to save the adapter (default: a new temporary folder)")
    parser.add_argument("--min-accuracy", type=float, help="exit with 1 if the held-out accuracy is below this")
    parser.add_argument(
        "--decoder",
        action="store_true",
        help="instead: a LoRA adapter on SmolLM2-135M learns a reply format (generation before/after)",
    )
    parser.add_argument("--steps", type=int, default=30, help="training steps of --decoder (default: 30)")


def run(args: argparse.Namespace) -> int:
    if args.decoder:
        from ..demo_decoder import run_decoder_demo

        result = run_decoder_demo(steps=args.steps, output_dir=args.output_dir)
        return 0 if result.learned else 1
    from ..demo import DemoSettings, run_demo

    chosen = {"train_examples": args.train_examples, "epochs": args.epochs, "learning_rate": args.lr}
    settings = replace(DemoSettings(), **{key: value for key, value in chosen.items() if value is not None})
    result = run_demo(settings, output_dir=args.output_dir)
    return 1 if args.min_accuracy is not None and result.accuracy < args.min_accuracy else 0

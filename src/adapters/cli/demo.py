"""``adapters demo``: the offline demo job (see :mod:`adapters.demo`)."""

from __future__ import annotations

import argparse

__all__ = ["HELP", "add_arguments", "run"]

HELP = "train a seq_bn adapter on MiniLM + Rotten Tomatoes (offline)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--examples", type=int, default=256)


def run(args: argparse.Namespace) -> int:
    from ..demo import train_sentiment_adapter

    result = train_sentiment_adapter(steps=args.steps, examples=args.examples)
    return 0 if result.last_loss < result.first_loss else 1

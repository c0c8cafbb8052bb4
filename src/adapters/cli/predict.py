"""``adapters predict``: label texts with a trained adapter; one JSON object per line."""

from __future__ import annotations

import argparse
import json
import sys

from ._errors import BAD_INPUT, OK, guarded

__all__ = ["HELP", "add_arguments", "run"]

HELP = "predict labels (or entity tags) for texts from arguments, a file or stdin; prints JSON lines"

EPILOG = """examples:
  adapters predict runs/rt "A wonderful film." "Two hours I will never get back."
  adapters predict runs/rt --file reviews.txt > predictions.jsonl      # one text per line
  echo "Barack Obama visited Berlin" | adapters predict runs/ner

output: {"text": ..., "label": ..., "score": ...} per text (classification) or
        {"text": ..., "tokens": [...], "tags": [...]} (tagging; texts are split on whitespace)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument("run_dir", help="output folder of `adapters train`")
    parser.add_argument("texts", nargs="*", help="texts to label (default: read --file or stdin, one per line)")
    parser.add_argument("--file", help="a text file with one input per line")


def run(args: argparse.Namespace) -> int:
    return guarded(lambda: _predict(args))


def _predict(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..training.job import load_run
    from ..training.tasks import predict

    if args.texts and args.file:
        print("adapters predict: give texts as arguments or --file, not both.", file=sys.stderr)
        return BAD_INPUT
    if args.file:
        if not Path(args.file).is_file():
            print(f"adapters predict: --file {args.file} does not exist.", file=sys.stderr)
            return BAD_INPUT
        texts = Path(args.file).read_text(encoding="utf-8").splitlines()
    else:
        texts = args.texts or sys.stdin.read().splitlines()
    texts = [t for t in texts if t.strip()]
    if not texts:
        print("adapters predict: no text given (arguments, --file or stdin).", file=sys.stderr)
        return BAD_INPUT
    model, tokenizer, info = load_run(args.run_dir)
    for text, result in zip(texts, predict(model, tokenizer, info.task, texts, info.labels, info.max_length)):
        print(json.dumps({"text": text, **result}, ensure_ascii=False))
    return OK

"""``adapters train``: train an adapter and a prediction head on labeled text, keeping the best epoch."""

from __future__ import annotations

import argparse
import json
import sys

from ._errors import BAD_INPUT, OK, guarded

__all__ = ["HELP", "add_arguments", "run"]

HELP = "train an adapter + head on a built-in dataset, a CSV/JSON(L) file or a datasets hub name"

EPILOG = """examples:
  adapters train --data rotten_tomatoes --output-dir runs/rt --max-train-examples 2000 --lr 1e-3
  adapters train --data reviews.csv --model path/to/bert --config lora --epochs 5 --output-dir runs/mine
  adapters train --data wnut16 --output-dir runs/ner --resume      # continue from the last checkpoint

built-in datasets (offline): rotten_tomatoes, bbc_news (classification), wnut16 (tagging).
data files: .csv/.json/.jsonl with 'text' and 'label' columns (classification) or JSON(L) with 'tokens' and
'tags' lists (tagging). The output folder then holds the best adapter (<output-dir>/<name>), adapters_run.json
and the checkpoints; use it with `adapters evaluate`, `adapters predict` and `adapters summary`."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument("--data", required=True, help="built-in dataset name, data file, or datasets hub name")
    parser.add_argument("--output-dir", required=True, help="folder for checkpoints and the trained adapter")
    parser.add_argument("--model", default="minilm",
                        help="base model: a local folder or hub id (default: minilm, the offline MiniLM-L6)")
    parser.add_argument("--config", default="seq_bn",
                        help="adapter method or config string, e.g. seq_bn, lora, 'seq_bn[reduction_factor=8]'")
    parser.add_argument("--name", default="adapter", help="name of the adapter and its head (default: adapter)")
    parser.add_argument("--epochs", type=float, default=3.0, help="training epochs (default: 3)")
    parser.add_argument("--lr", type=float, default=1e-4, help="learning rate (default: 1e-4)")
    parser.add_argument("--batch-size", type=int, default=32, help="examples per training step (default: 32)")
    parser.add_argument("--max-length", type=int, default=128, help="tokens per example, longer ones are cut")
    parser.add_argument("--seed", type=int, default=42, help="random seed of initialisation and shuffling")
    parser.add_argument("--max-train-examples", type=int, help="use only the first N training examples")
    parser.add_argument("--max-eval-examples", type=int, help="evaluate each epoch on the first N validation examples")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --output-dir")
    parser.add_argument("--report-to", default="auto",
                        help="logging integration(s) of transformers' Trainer: auto (tensorboard when installed), "
                             "none, tensorboard, wandb, ...")  # fmt: skip
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    return guarded(lambda: _train(args))


def _train(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..configuration import AdapterConfig
    from ..errors import AdapterConfigError, DataError
    from ..training.checkpoint import has_checkpoint
    from ..training.data import load_task_data
    from ..training.job import TrainJob, run_training

    try:
        AdapterConfig.load(args.config)
    except AdapterConfigError as error:
        print(f"adapters train: --config: {error}", file=sys.stderr)
        return BAD_INPUT
    if args.resume and not any(has_checkpoint(p) for p in Path(args.output_dir).glob("checkpoint-*")):
        raise DataError(f"--resume: {args.output_dir} holds no checkpoint-* folder to resume from.")
    data = load_task_data(args.data)
    job = TrainJob(
        model=args.model, data=data, output_dir=args.output_dir, adapter_config=args.config, adapter_name=args.name,
        epochs=args.epochs, learning_rate=args.lr, batch_size=args.batch_size, max_length=args.max_length,
        seed=args.seed, max_train_examples=args.max_train_examples, max_eval_examples=args.max_eval_examples,
        resume=args.resume, report_to=args.report_to, progress_bar=not args.no_progress,
    )  # fmt: skip
    result = run_training(job)
    best = {k: round(v, 4) for k, v in result["metrics"].items()}
    print(json.dumps({"output_dir": args.output_dir, "adapter": str(Path(args.output_dir) / args.name),
                      "best_epoch": best, "train_seconds": round(result["seconds"], 1)}))  # fmt: skip
    return OK

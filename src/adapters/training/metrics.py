"""Evaluation metrics: accuracy, per-label precision/recall/F1 and a confusion matrix for classification; entity
precision/recall/F1 for BIO tagging, counted the way seqeval's default (CoNLL) mode does.

Written here rather than taken from ``seqeval``/``scikit-learn``: the definitions are a few lines each and those
packages would add scikit-learn and scipy to the dependencies for it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

__all__ = ["classification_report", "entity_spans", "entity_report"]


def _prf(correct: int, predicted: int, gold: int) -> dict[str, float]:
    precision = correct / predicted if predicted else 0.0
    recall = correct / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "support": gold}


def classification_report(predictions: Sequence[int], golds: Sequence[int], labels: Sequence[str]) -> dict:
    """``accuracy``, ``macro_f1``, ``per_label`` ({label: precision/recall/f1/support}) and ``confusion``
    (``confusion[gold][predicted]`` counts, in label order)."""
    n = len(labels)
    confusion = [[0] * n for _ in range(n)]
    for predicted, gold in zip(predictions, golds, strict=True):
        confusion[gold][predicted] += 1
    per_label = {
        label: _prf(confusion[i][i], sum(row[i] for row in confusion), sum(confusion[i]))
        for i, label in enumerate(labels)
    }
    total = len(golds)
    return {
        "accuracy": sum(confusion[i][i] for i in range(n)) / total if total else 0.0,
        "macro_f1": sum(m["f1"] for m in per_label.values()) / n if n else 0.0,
        "per_label": per_label,
        "confusion": confusion,
        "examples": total,
    }


def entity_spans(tags: Sequence[str]) -> set[tuple[str, int, int]]:
    """``(type, start, end)`` entities of a BIO sequence (end exclusive). An ``I-X`` that does not continue an
    ``X`` entity starts a new one, as in seqeval's default mode."""
    spans: set[tuple[str, int, int]] = set()
    kind, start = None, 0
    for position, tag in enumerate([*tags, "O"]):
        prefix, _, label = tag.partition("-")
        continues = prefix == "I" and label == kind
        if kind is not None and not continues:
            spans.add((kind, start, position))
            kind = None
        if prefix in ("B", "I") and not continues:
            kind, start = label, position
    return spans


def entity_report(predictions: Sequence[Sequence[str]], golds: Sequence[Sequence[str]]) -> dict:
    """Micro ``precision``/``recall``/``f1`` over entities and ``per_type`` scores; ``token_accuracy`` too."""
    correct, predicted, gold = Counter(), Counter(), Counter()
    tokens = right = 0
    for pred_tags, gold_tags in zip(predictions, golds, strict=True):
        pred_spans, gold_spans = entity_spans(pred_tags), entity_spans(gold_tags)
        predicted.update(s[0] for s in pred_spans)
        gold.update(s[0] for s in gold_spans)
        correct.update(s[0] for s in pred_spans & gold_spans)
        tokens += len(gold_tags)
        right += sum(p == g for p, g in zip(pred_tags, gold_tags))
    report = _prf(sum(correct.values()), sum(predicted.values()), sum(gold.values()))
    report["per_type"] = {t: _prf(correct[t], predicted[t], gold[t]) for t in sorted(set(gold) | set(predicted))}
    report["token_accuracy"] = right / tokens if tokens else 0.0
    return report

"""Classification report and seqeval-style (CoNLL mode) entity scores."""

from __future__ import annotations

import pytest

from adapters.training.metrics import classification_report, entity_report, entity_spans


def test_classification_report_counts():
    report = classification_report([0, 1, 1, 2, 0], [0, 1, 2, 2, 1], ["a", "b", "c"])
    assert report["confusion"] == [[1, 0, 0], [1, 1, 0], [0, 1, 1]]
    assert report["accuracy"] == pytest.approx(3 / 5)
    assert report["per_label"]["b"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2})
    assert report["per_label"]["c"]["precision"] == 1.0 and report["per_label"]["c"]["recall"] == 0.5
    assert report["macro_f1"] == pytest.approx((2 / 3 + 0.5 + 2 / 3) / 3)


def test_entity_spans_follow_conll_rules():
    tags = ["B-per", "I-per", "O", "I-loc", "I-loc", "B-loc", "I-per", "B-org"]
    # an I- after O or after another type starts a new entity
    assert entity_spans(tags) == {("per", 0, 2), ("loc", 3, 5), ("loc", 5, 6), ("per", 6, 7), ("org", 7, 8)}
    assert entity_spans(["O", "O"]) == set()


def test_entity_report_micro_scores():
    gold = [["B-per", "I-per", "O", "B-loc"], ["B-org", "O"]]
    predicted = [["B-per", "I-per", "O", "O"], ["B-org", "B-per"]]
    report = entity_report(predicted, gold)
    # predicted: per(0-2), org, per(1); gold: per(0-2), loc, org -> 2 of 3 correct both ways
    assert report["precision"] == pytest.approx(2 / 3) and report["recall"] == pytest.approx(2 / 3)
    assert report["per_type"]["loc"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert report["token_accuracy"] == pytest.approx(4 / 6)

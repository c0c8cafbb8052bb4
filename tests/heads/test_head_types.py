"""Every head type on every family that supports it: output shapes, a loss with labels, save → load identical."""

from __future__ import annotations

import pytest
import torch

import adapters
from adapters.heads.families import HEAD_FAMILIES
from heads.head_inputs import NUM_LABELS, batch_for, head_config, logits_of
from tiny_models import FAMILIES, VOCAB

ADD = {
    "classification": lambda m, n: m.add_classification_head(n, num_labels=NUM_LABELS),
    "multilabel_classification": lambda m, n: m.add_classification_head(n, num_labels=NUM_LABELS, multilabel=True),
    "tagging": lambda m, n: m.add_tagging_head(n, num_labels=NUM_LABELS),
    "multiple_choice": lambda m, n: m.add_multiple_choice_head(n, num_choices=NUM_LABELS),
    "question_answering": lambda m, n: m.add_qa_head(n),
    "dependency_parsing": lambda m, n: m.add_dependency_parsing_head(n, num_labels=NUM_LABELS),
    "masked_lm": lambda m, n: m.add_masked_lm_head(n),
    "causal_lm": lambda m, n: m.add_causal_lm_head(n),
    "seq2seq_lm": lambda m, n: m.add_seq2seq_lm_head(n),
    "image_classification": lambda m, n: m.add_image_classification_head(n, num_labels=NUM_LABELS),
}
SHAPES = {
    "classification": (2, NUM_LABELS), "multilabel_classification": (2, NUM_LABELS), "tagging": (2, 7, NUM_LABELS),
    "multiple_choice": (2, NUM_LABELS), "question_answering": (2, 7), "dependency_parsing": (2, 7, 8),
    "masked_lm": (2, 7, VOCAB), "causal_lm": (2, 7, VOCAB), "seq2seq_lm": (2, 5, VOCAB),
    "image_classification": (2, NUM_LABELS),
}  # fmt: skip
CASES = [(f, t) for f in FAMILIES for t in HEAD_FAMILIES[f].head_types]


def _model(family: str, seed: int = 0):
    torch.manual_seed(seed)
    return adapters.AutoAdapterModel.from_config(head_config(family)).eval()


@pytest.mark.parametrize(("family", "head_type"), CASES, ids=[f"{f}-{t}" for f, t in CASES])
def test_head_type(family, head_type, tmp_path):
    model = _model(family)
    model.add_adapter("task", config="seq_bn")
    ADD[head_type](model, "task")
    model.set_active_adapters("task")
    assert model.active_head == "task"
    batch = batch_for(family, head_type)
    with torch.no_grad():
        output = model(**batch)
    assert tuple(logits_of(output).shape) == SHAPES[head_type]
    assert output.loss is not None and torch.isfinite(output.loss)

    model.save_adapter(tmp_path, "task", with_head=True)
    assert (tmp_path / "head_config.json").is_file() and (tmp_path / "model_head.safetensors").is_file()
    fresh = _model(family)
    fresh.load_state_dict(model.state_dict(), strict=False)  # same base weights
    fresh.delete_adapter("task") if "task" in fresh.adapters_config else None
    for name in list(fresh.heads):
        fresh.delete_head(name)
    name = fresh.load_adapter(str(tmp_path), set_active=True)
    assert name == "task" and fresh.active_head == "task"
    with torch.no_grad():
        again = fresh(**batch)
    torch.testing.assert_close(logits_of(again), logits_of(output), atol=0, rtol=0)
    torch.testing.assert_close(again.loss, output.loss, atol=0, rtol=0)


@pytest.mark.parametrize("family", FAMILIES)
def test_unsupported_head_type_is_refused(family):
    model = _model(family)
    unsupported = [t for t in ADD if t not in HEAD_FAMILIES[family].head_types]
    for head_type in unsupported:
        with pytest.raises(adapters.UnsupportedMethodError, match="does not support"):
            ADD[head_type](model, "x")
    assert len(model.heads) == 0


def test_head_module_layout_matches_the_reference():
    model = _model("bert")
    model.add_classification_head("a", num_labels=3, layers=2)
    assert [type(m).__name__ for m in model.heads["a"]] == ["Dropout", "Linear", "Tanh", "Dropout", "Linear"]
    model.add_masked_lm_head("lm")
    assert [k for k in model.state_dict() if k.startswith("heads.lm.")] == [
        "heads.lm.0.weight", "heads.lm.0.bias", "heads.lm.2.weight", "heads.lm.2.bias", "heads.lm.3.weight",
        "heads.lm.3.bias",
    ]  # fmt: skip
    assert model.heads["lm"][3].weight is model.bert.embeddings.word_embeddings.weight


def test_labels_are_stored_with_the_head():
    model = _model("bert")
    model.add_classification_head("a", num_labels=2, id2label={0: "neg", 1: "pos"})
    assert model.get_labels("a") == ["neg", "pos"]
    assert model.get_labels_dict() == {0: "neg", 1: "pos"}
    assert model.config.id2label == {0: "neg", 1: "pos"}
    model.add_tagging_head("b", num_labels=2)
    assert model.get_labels("b") == ["LABEL_0", "LABEL_1"]


def test_labels_keep_the_order_of_their_ids_after_saving_and_loading(tmp_path):
    model = _model("bert")
    labels = {0: "O", 1: "B-person", 2: "I-person"}  # saved label2id has sorted keys: B-, I-, O
    model.add_adapter("ner")
    model.add_tagging_head("ner", num_labels=3, id2label=labels)
    model.save_adapter(str(tmp_path / "ner"), "ner", with_head=True)
    other = _model("bert")
    other.load_adapter(str(tmp_path / "ner"))
    assert other.get_labels("ner") == ["O", "B-person", "I-person"]
    assert list(other.get_labels_dict("ner").items()) == list(labels.items())


def test_regression_with_one_label():
    model = _model("bert")
    model.add_classification_head("reg", num_labels=1)
    batch = batch_for("bert", "classification")
    output = model(input_ids=batch["input_ids"], labels=torch.tensor([0.5, -1.0]))
    expected = torch.nn.functional.mse_loss(output.logits.view(-1), torch.tensor([0.5, -1.0]))
    torch.testing.assert_close(output.loss, expected)


def test_delete_head_and_duplicate_names():
    model = _model("bert")
    model.add_classification_head("a")
    with pytest.raises(adapters.AdapterExistsError):
        model.add_classification_head("a")
    model.add_classification_head("a", num_labels=4, overwrite_ok=True)
    assert model.heads["a"].config["num_labels"] == 4
    model.delete_head("a")
    assert "a" not in model.heads and "a" not in model.config.prediction_heads and model.active_head is None
    assert [k for k in model.state_dict() if k.startswith("heads.")] == []


def test_average_head_is_the_weighted_parameter_average():
    model = _model("bert")
    model.add_classification_head("a", num_labels=3)
    model.add_classification_head("b", num_labels=3)
    model.average_head("avg", ["a", "b"], weights=[1, 3])
    for key, param in model.heads["avg"].named_parameters():
        a, b = dict(model.heads["a"].named_parameters())[key], dict(model.heads["b"].named_parameters())[key]
        torch.testing.assert_close(param, 0.25 * a + 0.75 * b)
    model.add_tagging_head("t", num_labels=3)
    with pytest.raises(adapters.UnsupportedMethodError, match="differ"):
        model.average_head("bad", ["a", "t"])
    model.average_head("neg", {"a": 2.0, "b": -1.0}, normalize_weights=False)
    weight = model.heads["neg"][1].weight
    torch.testing.assert_close(weight, 2 * model.heads["a"][1].weight - model.heads["b"][1].weight)


def test_save_all_heads(tmp_path):
    model = _model("bert")
    model.add_classification_head("a", num_labels=3)
    model.add_tagging_head("b", num_labels=2)
    model.save_all_heads(str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]
    fresh = _model("bert")
    assert fresh.load_head(str(tmp_path / "b"), load_as="c") == "c"
    assert fresh.heads["c"].config["head_type"] == "tagging"
    torch.testing.assert_close(fresh.heads["c"][1].weight, model.heads["b"][1].weight, atol=0, rtol=0)

"""Bad head requests: a head type the architecture does not support, unknown types and names, a label map that
does not fit a saved head. Refused with a typed error; the model is left as it was."""

from __future__ import annotations

import pytest

from adapters import (
    AdapterConfigError,
    AdapterExistsError,
    AdapterNameError,
    AdapterNotFoundError,
    AutoAdapterModel,
    UnsupportedMethodError,
)
from tiny_models import _CONFIGS

from .helpers import assert_refused


@pytest.fixture(scope="module")
def model():
    model = AutoAdapterModel.from_config(_CONFIGS["bert"]())
    model.add_adapter("a")
    model.add_classification_head("a", num_labels=2, id2label={0: "neg", 1: "pos"})
    return model


SUPPORTED = "supported head types: classification, .*masked_lm, causal_lm"


def test_head_type_the_architecture_does_not_support(model):
    assert_refused(model, lambda: model.add_image_classification_head("img"), UnsupportedMethodError, ValueError,
                   "'image_classification'", SUPPORTED)  # fmt: skip
    action = lambda: model.add_prediction_head_from_config("s2s", {"head_type": "seq2seq_lm"})  # noqa: E731
    assert_refused(model, action, UnsupportedMethodError, ValueError, "'seq2seq_lm'", SUPPORTED)


def test_unknown_head_type(model):
    action = lambda: model.add_prediction_head_from_config("x", {"head_type": "regression"})  # noqa: E731
    assert_refused(model, action, UnsupportedMethodError, ValueError, "'regression'", "register_custom_head")


def test_head_that_does_not_exist(model, tmp_path):
    action = lambda: setattr(model, "active_head", "zz")  # noqa: E731
    assert_refused(model, action, AdapterNotFoundError, ValueError, "'zz'", "Heads on this model: a")
    action = lambda: model.save_head(str(tmp_path / "h"), "zz")  # noqa: E731
    assert_refused(model, action, AdapterNotFoundError, ValueError, "'zz'", "Heads: a")
    assert list(tmp_path.iterdir()) == []


def test_deleting_a_head_that_does_not_exist(model):
    """The reference did nothing here (an info log); we raise, as for adapters (docs/compatibility.md)."""
    action = lambda: model.delete_head("zz")  # noqa: E731
    assert_refused(model, action, AdapterNotFoundError, ValueError, "'zz'", "Heads on this model: a")


def test_head_name_that_exists(model):
    """A head is named after its adapter by design (``add_adapter("a")``, ``add_classification_head("a")``), so
    the collision that is refused is a second head of the same name."""
    action = lambda: model.add_tagging_head("a")  # noqa: E731
    assert_refused(model, action, AdapterExistsError, ValueError, "'a'", "overwrite_ok=True")


@pytest.mark.parametrize("name", ["", "a.b", "a/b", " a", None])
def test_invalid_head_names(model, name):
    """Head names become state-dict keys (``heads.<name>.``) and folder names; ``,`` stays allowed (fusion heads)."""
    fragments = (repr(name).replace(".", r"\."), "non-empty strings without surrounding spaces and without '.' or '/'")
    assert_refused(model, lambda: model.add_classification_head(name), AdapterNameError, ValueError, *fragments)
    action = lambda: model.add_prediction_head_from_config(name, {"head_type": "classification"})  # noqa: E731
    assert_refused(model, action, AdapterNameError, ValueError, *fragments)


@pytest.mark.parametrize("id2label", [{0: "x", 1: "y", 2: "z"}, {0: "x", 5: "y"}, {0: "x", 1: "x"}, {"a": "x"}])
def test_load_head_with_a_conflicting_label_map(model, tmp_path, id2label):
    model.save_head(str(tmp_path / "h"), "a")
    action = lambda: model.load_head(str(tmp_path / "h"), load_as="h2", id2label=id2label)  # noqa: E731
    assert_refused(model, action, AdapterConfigError, ValueError, "id2label=", "predicts 2 labels", "ids 0 to 1")

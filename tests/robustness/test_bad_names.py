"""Bad adapter names and names the model does not have: refused with a typed error naming the name and what is
allowed; the model is left exactly as it was."""

from __future__ import annotations

import pytest

from adapters import AdapterExistsError, AdapterNameError, AdapterNotFoundError, Fuse, UnsupportedMethodError

from .helpers import assert_refused, model_with_adapters


@pytest.fixture(scope="module")
def model():
    model = model_with_adapters()
    model.add_adapter_fusion(Fuse("a", "b", name="ab"))
    return model


ALLOWED = "non-empty strings without surrounding spaces and without '.', '/' or ','"


@pytest.mark.parametrize("name", ["", "a.b", "a/b", "a,b", " a", None, 7])
def test_invalid_adapter_names(model, name):
    assert_refused(
        model, lambda: model.add_adapter(name), AdapterNameError, ValueError, repr(name).replace(".", r"\."), ALLOWED
    )


def test_adapter_name_of_a_fusion(model):
    assert_refused(model, lambda: model.add_adapter("ab"), AdapterNameError, ValueError, "'ab'", "a fusion")


def test_fusion_name_of_an_adapter(model):
    action = lambda: model.add_adapter_fusion(Fuse("a", "b", name="lo"))  # noqa: E731
    assert_refused(
        model, action, AdapterNameError, ValueError, "'lo'", r"differ from the adapters' names \(a, b, lo\)"
    )


def test_existing_name(model):
    assert_refused(model, lambda: model.add_adapter("a"), AdapterExistsError, ValueError, "'a'", "overwrite_ok=True")


KNOWN = "Adapters on this model: a, b, lo"
MISSING = {
    "activate": lambda m: m.set_active_adapters("zz"),
    "delete": lambda m: m.delete_adapter("zz"),
    "merge": lambda m: m.merge_adapter("zz"),
    "train": lambda m: m.train_adapter("zz"),
    "move": lambda m: m.adapter_to("zz", "cpu"),
    "average": lambda m: m.average_adapter("avg", ["a", "zz"]),
}


@pytest.mark.parametrize("operation", MISSING)
def test_adapter_that_does_not_exist(model, operation):
    assert_refused(model, lambda: MISSING[operation](model), AdapterNotFoundError, ValueError, "'zz'", KNOWN)


def test_saving_an_adapter_that_does_not_exist_writes_nothing(model, tmp_path):
    action = lambda: model.save_adapter(str(tmp_path / "out"), "zz")  # noqa: E731
    assert_refused(model, action, AdapterNotFoundError, ValueError, "'zz'", KNOWN)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fusion", ["zz", ["a", "zz"], Fuse("b", "a")], ids=["name", "list", "Fuse"])
def test_deleting_a_fusion_that_does_not_exist(model, fusion):
    """The reference did nothing here (an info log); we raise, as for adapters (docs/compatibility.md)."""
    action = lambda: model.delete_adapter_fusion(fusion)  # noqa: E731
    fragments = (r"No fusion named ('zz'|'a,zz'|'b,a')", "Fusions on this model: a,b, ab")
    assert_refused(model, action, AdapterNotFoundError, ValueError, *fragments)


def test_fusing_an_adapter_that_does_not_exist(model):
    action = lambda: model.add_adapter_fusion(Fuse("a", "zz"))  # noqa: E731
    assert_refused(model, action, AdapterNotFoundError, ValueError, "'zz'", "Cannot fuse")


def test_merging_an_adapter_that_cannot_merge(model):
    action = lambda: model.merge_adapter("a")  # noqa: E731
    assert_refused(model, action, UnsupportedMethodError, ValueError, "'a'", "methods .*lora")

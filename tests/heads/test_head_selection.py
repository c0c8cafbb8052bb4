"""Head selection priority: ``head=`` argument > ``AdapterSetup(head_setup=)`` > ``active_head``."""

from __future__ import annotations

import pytest
import torch

import adapters
from adapters import AdapterSetup
from heads.head_inputs import batch_for, head_config


@pytest.fixture
def model():
    torch.manual_seed(0)
    model = adapters.AutoAdapterModel.from_config(head_config("bert")).eval()
    model.add_classification_head("two", num_labels=2)
    model.add_classification_head("five", num_labels=5)
    return model


def _labels(model, **kwargs) -> int:
    batch = batch_for("bert", "classification")
    with torch.no_grad():
        return model(input_ids=batch["input_ids"], **kwargs).logits.shape[-1]


def test_new_head_becomes_active(model):
    assert model.active_head == "five"
    assert _labels(model) == 5


def test_head_argument_wins_over_context_and_active_head(model):
    with AdapterSetup(None, head_setup="five"):
        assert _labels(model, head="two") == 2


def test_context_head_setup_wins_over_active_head(model):
    model.active_head = "two"
    with AdapterSetup(None, head_setup="five"):
        assert _labels(model) == 5
    assert _labels(model) == 2


def test_active_head_is_the_fallback(model):
    model.active_head = "two"
    assert _labels(model) == 2
    with pytest.raises(adapters.AdapterNotFoundError):
        model.active_head = "missing"


def test_set_active_adapters_activates_the_head_of_the_same_name(model):
    model.add_adapter("two")
    model.set_active_adapters("two")
    assert model.active_head == "two"
    model.add_adapter("other")
    model.set_active_adapters("other")  # no head named "other": the head stays
    assert model.active_head == "two"


def test_context_adapter_setup_implies_its_head(model):
    model.add_adapter("two")
    model.active_head = "five"
    with AdapterSetup("two"):
        assert _labels(model) == 2


def test_no_head_returns_base_outputs(model):
    model.delete_head("two")
    model.delete_head("five")
    batch = batch_for("bert", "classification")
    output = model(input_ids=batch["input_ids"])
    assert output.last_hidden_state.shape == (2, 7, 32)

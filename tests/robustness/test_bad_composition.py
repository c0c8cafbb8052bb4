"""Bad adapter setups: forbidden nestings, sizes that do not add up, wrong numbers of heads. Refused with a typed
error that names the setup and what is allowed; the model (and its active setup) is left as it was."""

from __future__ import annotations

import pytest
import torch

from adapters import (
    AdapterCompositionBlock,
    AutoAdapterModel,
    Average,
    BatchSplit,
    CompositionError,
    Fuse,
    Parallel,
    Split,
    Stack,
)
from adapters.methods.composer import CompositionSizeError
from contract.helpers import adapter_model
from tiny_models import _CONFIGS

from .helpers import assert_refused

IDS = torch.ones(2, 4, dtype=torch.long)


@pytest.fixture(scope="module")
def model():
    model = adapter_model("bert")
    for name in "abc":
        model.add_adapter(name, config="seq_bn")
    model.add_adapter_fusion(Fuse("a", "b"))
    model.set_active_adapters("a")
    return model


SETUPS = {
    "Parallel in Fuse": (lambda: Fuse(Parallel("a", "b")), "Cannot nest Parallel inside Fuse", "allowed: str, Stack"),
    "Fuse in Parallel": (lambda: Parallel(Fuse("a", "b")), "Cannot nest Fuse inside Parallel", "allowed: str, Stack"),
    "too deep": (
        lambda: Stack(Split("a", Split("b", "c", splits=1), splits=1)),
        r"Split\['b', 'c'.* at level 2",
        "only Stack blocks and adapter names",
    ),
    "not a setup": (lambda: 5, "Invalid adapter setup 5", "an adapter name, a composition block or None"),
}


@pytest.mark.parametrize("label", SETUPS)
def test_forbidden_setups(model, label):
    setup, *fragments = SETUPS[label]
    assert_refused(model, lambda: model.set_active_adapters(setup()), CompositionError, ValueError, *fragments)


BLOCKS = {
    "Split sizes for 3 of 2": (lambda: Split("a", "b", splits=[1, 2, 3]), r"splits=\[1, 2, 3\]", "one non-negative"),
    "negative Split size": (lambda: Split("a", "b", splits=[2, -1]), r"splits=\[2, -1\]", "one non-negative int"),
    "BatchSplit size for 1 of 2": (lambda: BatchSplit("a", "b", batch_sizes=[1]), r"\[1\] for 2", "int per child"),
    "Average weights for 1 of 2": (lambda: Average("a", "b", weights=[1.0]), "1 weights for 2", "one each"),
    "Average weights summing to 0": (lambda: Average("a", "b", weights=[1.0, -1.0]), "sum to 0", "normalize_weights"),
    "a child that is no name": (lambda: Stack("a", 3), "got 3", "an adapter name or a block"),
    "an unknown block type": (
        lambda: AdapterCompositionBlock.from_dict({"type": "Nope", "children": []}),
        "'Nope'",
        "'Average', 'BatchSplit'",
    ),
}


@pytest.mark.parametrize("label", BLOCKS)
def test_malformed_blocks(model, label):
    block, *fragments = BLOCKS[label]
    assert_refused(model, block, CompositionError, ValueError, *fragments)


@pytest.mark.parametrize(
    "setup, fragments",
    [
        (BatchSplit("a", "b", batch_sizes=[1, 5]), (r"\[1, 5\] sum to 6", "batch size is 2")),
        (Split("a", "b", splits=[1, 50]), (r"\[1, 50\] sum to 51", "sequence length is 4")),
    ],
)
def test_sizes_that_do_not_add_up_at_the_forward(model, setup, fragments):
    model.set_active_adapters(setup)
    try:
        assert_refused(model, lambda: model(input_ids=IDS), CompositionSizeError, IndexError, *fragments)
    finally:
        model.set_active_adapters("a")


def test_parallel_with_a_wrong_number_of_heads():
    model = AutoAdapterModel.from_config(_CONFIGS["bert"]())
    for name in "ab":
        model.add_adapter(name)
        model.add_classification_head(name)
    model.set_active_adapters(Parallel("a", "b"))
    model.active_head = ["a"]
    model.eval()
    fragments = (r"Parallel\['a', 'b'\] has 2 channels but 1 heads", "one head per channel")
    assert_refused(model, lambda: model(input_ids=IDS), CompositionError, ValueError, *fragments)

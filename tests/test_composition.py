"""Composition blocks: parsing, validation (nesting table, depth rule) and serialisation."""

from __future__ import annotations

import pytest

from adapters.composition import (
    AdapterCompositionBlock,
    Average,
    BatchSplit,
    Fuse,
    MultiTask,
    Parallel,
    Split,
    Stack,
    parse_composition,
    validate_composition,
)
from adapters.errors import CompositionError


def test_parse_single_name_is_a_stack():
    assert parse_composition("a") == Stack("a")
    assert parse_composition(None) is None and parse_composition("") is None


def test_parse_list_shorthand_is_deprecated():
    with pytest.warns(FutureWarning):
        assert parse_composition([["a", "b"], "c"]) == Stack(Fuse("a", "b"), "c")


@pytest.mark.parametrize(
    "setup",
    [
        Stack("a", Fuse("b", Stack("c", "d"))),
        Stack(Parallel("a", "b")),
        Parallel(Stack("a", "b"), "c"),
        BatchSplit("a", Split("b", "c", splits=2), batch_sizes=[1, 2]),
        MultiTask("a", Fuse("b", "c")),
    ],
)
def test_allowed_nestings_validate(setup):
    validate_composition(setup)


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (Fuse("a", Parallel("b", "c")), "Cannot nest Parallel inside Fuse"),
        (Parallel("a", Fuse("b", "c")), "Cannot nest Fuse inside Parallel"),
        (Stack("a", Fuse("b", Stack("c", Split("d", "e", splits=2)))), "too deep"),
        (Average("a", Parallel("b", "c")), "Cannot nest Parallel inside Average"),
    ],
)
def test_forbidden_nestings_raise(setup, message):
    with pytest.raises(CompositionError, match=message):
        validate_composition(setup)


@pytest.mark.parametrize(
    "block",
    [
        Stack("a", "b"),
        Fuse("a", "b", name="custom"),
        Split("a", "b", splits=[3, 4]),
        BatchSplit("a", "b", batch_sizes=2),
        Parallel("a", Stack("b", "c")),
        Average("a", "b", weights=[0.2, 0.8]),
    ],
)
def test_to_dict_roundtrip(block):
    assert AdapterCompositionBlock.from_dict(block.to_dict()) == block


def test_fuse_default_name_and_custom_name_survive():
    assert Fuse("a", Stack("x", "b")).name == "a,b"
    assert AdapterCompositionBlock.from_dict(Fuse("a", "b", name="f").to_dict()).name == "f"


def test_average_normalises_weights():
    assert Average("a", "b").weights == [0.5, 0.5]
    assert Average("a", "b", weights=[1, 3]).weights == [0.25, 0.75]
    assert Average("a", "b", weights=[1, 3], normalize_weights=False).weights == [1.0, 3.0]
    with pytest.raises(CompositionError, match="2 weights for 3 children"):
        Average("a", "b", "c", weights=[1, 2])


def test_flatten_first_last_channels():
    block = Stack("a", Parallel("b", Stack("c", "d")))
    assert block.flatten() == {"a", "b", "c", "d"}
    assert block.first() == "a" and block.last() == "d"
    assert block.parallel_channels == 2

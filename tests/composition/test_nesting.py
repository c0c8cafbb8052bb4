"""Every allowed nesting of the reference's table runs; every forbidden one raises the documented error."""

from __future__ import annotations

import pytest
import torch

import adapters
from adapters import Average, BatchSplit, Fuse, MultiTask, Parallel, Split, Stack
from adapters.composition import ALLOWED_NESTINGS
from contract.helpers import adapter_model, randomize_adapter
from tiny_models import inputs, output

_SAMPLES = {
    str: lambda: "c",
    Stack: lambda: Stack("c", "d"),
    Fuse: lambda: Fuse("c", "d"),
    Split: lambda: Split("c", "d", splits=[3, 4]),
    BatchSplit: lambda: BatchSplit("c", "d", batch_sizes=[1, 1]),
    Parallel: lambda: Parallel("c", "d"),
    Average: lambda: Average("c", "d"),
    MultiTask: lambda: MultiTask("c", "d"),
}


def _parent(parent: type, child):
    if parent is Split and isinstance(child, Split):
        child = Split("c", "d", splits=[2, 2])  # the child sees the second segment (4 positions)
    if parent is BatchSplit and isinstance(child, BatchSplit):
        child = BatchSplit("c", "d", batch_sizes=[1, 0])  # the child sees one row
    if parent is Split:
        return Split("a", child, splits=[3, 4])
    if parent is BatchSplit:
        return BatchSplit("a", child, batch_sizes=[1, 1])
    if parent is Average:
        return Average("a", child)
    return parent("a", child)


def _case_id(case):
    parent, child = case
    return f"{parent.__name__}-{getattr(child, '__name__', 'str')}"


ALLOWED = [(p, c) for p, children in ALLOWED_NESTINGS.items() for c in children]
ALL_TYPES = [str, Stack, Fuse, Split, BatchSplit, Parallel, Average, MultiTask]
FORBIDDEN = [(p, c) for p in ALLOWED_NESTINGS for c in ALL_TYPES if c not in ALLOWED_NESTINGS[p]]


def _model(multi_task: bool):
    model = adapter_model("bert")
    config = "mtl_lora" if multi_task else "seq_bn"
    for index, name in enumerate("acd"):
        model.add_adapter(name, config=config)
        randomize_adapter(model, name, seed=index)
    if not multi_task:
        model.add_adapter_fusion(Fuse("c", "d"))
        model.add_adapter_fusion(Fuse("a", "c", "d"), name="a,c,d")
    return model


@pytest.mark.parametrize("case", ALLOWED, ids=[_case_id(c) for c in ALLOWED])
def test_allowed_nesting_runs(case):
    parent, child_type = case
    setup = _parent(parent, _SAMPLES[child_type]())
    if parent is Fuse:
        setup = Fuse("a", _SAMPLES[child_type](), name="a,c,d") if child_type is Stack else Fuse("a", "c", "d")
    multi_task = MultiTask in (parent, child_type)
    model = _model(multi_task)
    if multi_task and (Fuse in (parent, child_type)):
        # the table allows it, but MultiTask needs MTL-LoRA adapters and Fuse needs bottleneck adapters
        with pytest.raises(adapters.CompositionError, match=r"\(mtl_lora\) cannot be used in a Fuse block"):
            model.set_active_adapters(setup)
        return
    model.set_active_adapters(setup)
    kwargs = {"task_ids": torch.tensor([0, 1])} if multi_task else {}
    with torch.no_grad():
        out = model(**inputs("bert"), **kwargs).last_hidden_state
    channels = setup.parallel_channels
    assert out.shape == (2 * channels, 7, 32) and torch.isfinite(out).all()


@pytest.mark.parametrize("case", FORBIDDEN, ids=[_case_id(c) for c in FORBIDDEN])
def test_forbidden_nesting_raises(case):
    parent, child_type = case
    setup = _parent(parent, _SAMPLES[child_type]())
    model = _model(False)
    with pytest.raises(
        adapters.CompositionError,
        match=f"Cannot nest {getattr(child_type, '__name__', 'str')} inside {parent.__name__}",
    ):
        model.set_active_adapters(setup)
    assert model.active_adapters is None


def test_too_deep_setups_raise():
    model = _model(False)
    with pytest.raises(adapters.CompositionError, match="too deep"):
        model.set_active_adapters(Stack("a", Fuse("c", Stack("d", Split("a", "c", splits=[3, 4])))))


def test_method_support_is_checked():
    model = adapter_model("bert")
    model.add_adapter("l1", config="lora")
    model.add_adapter("l2", config="lora")
    with pytest.raises(adapters.CompositionError, match=r"'l1' \(lora\) cannot be used in a Fuse block"):
        model.set_active_adapters(Fuse("l1", "l2"))
    model.set_active_adapters(Parallel("l1", "l2"))  # LoRA supports Parallel, BatchSplit, Average, Stack
    assert output(model, inputs("bert")).shape == (4, 7, 32)

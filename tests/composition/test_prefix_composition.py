"""Prefix tuning in Parallel and BatchSplit blocks equals separate runs (prefixes of different lengths included)."""

from __future__ import annotations

import pytest
import torch

import adapters
from adapters import BatchSplit, Parallel
from contract.helpers import adapter_model, randomize_adapter
from heads.head_inputs import batch_for, head_config
from tiny_models import inputs, output


def _two(family: str):
    model = adapter_model(family)
    for name, seed, length in (("a", 1, 3), ("b", 2, 5)):
        model.add_adapter(name, config=f"prefix_tuning[prefix_length={length}, bottleneck_size=16]")
        randomize_adapter(model, name, seed=seed)
    return model


@pytest.mark.parametrize("family", ["bert", "gpt2", "llama", "t5", "bart"])
def test_prefix_batch_split_equals_running_the_slices_separately(family):
    model = _two(family)
    batch = inputs(family)  # row 1 is padded
    model.set_active_adapters(BatchSplit("a", "b", batch_sizes=[1, 1]))
    got = output(model, batch)
    model.set_active_adapters("a")
    first = output(model, {k: v[:1] for k, v in batch.items()})
    model.set_active_adapters("b")
    second = output(model, {k: v[1:] for k, v in batch.items()})
    torch.testing.assert_close(got, torch.cat([first, second]), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("family", ["bert", "gpt2", "llama", "bart"])
def test_prefix_parallel_equals_separate_forwards(family):
    model = _two(family)
    batch = inputs(family)
    model.set_active_adapters(Parallel("a", "b"))
    both = output(model, batch)
    for index, name in enumerate(("a", "b")):
        model.set_active_adapters(name)
        torch.testing.assert_close(both[2 * index : 2 * index + 2], output(model, batch), atol=1e-5, rtol=1e-5)


def test_prefix_parallel_with_heads_and_generation():
    torch.manual_seed(0)
    model = adapters.AutoAdapterModel.from_config(head_config("gpt2")).eval()
    for name, seed in (("a", 1), ("b", 2)):
        model.add_adapter(name, config="prefix_tuning[prefix_length=4, bottleneck_size=16]")
        randomize_adapter(model, name, seed=seed)
        model.add_causal_lm_head(name)
    ids = batch_for("gpt2", "causal_lm")["input_ids"]
    mask = torch.ones_like(ids)
    model.set_active_adapters(Parallel("a", "b"))
    both = model.generate(ids, attention_mask=mask, max_new_tokens=5, do_sample=False)
    for index, name in enumerate(("a", "b")):
        model.set_active_adapters(name)
        alone = model.generate(ids, attention_mask=mask, max_new_tokens=5, do_sample=False)
        assert torch.equal(both[2 * index : 2 * index + 2], alone)


def test_prefix_rejects_split_and_average():
    model = _two("bert")
    for block in (adapters.Split("a", "b", splits=[3, 4]), adapters.Average("a", "b")):
        with pytest.raises(
            adapters.CompositionError, match="adapters support: BatchSplit, MultiTask, Parallel, Stack"
        ):
            model.set_active_adapters(block)

"""Composition semantics, each checked against an explicit manual computation."""

from __future__ import annotations

import pytest
import torch

import adapters
from adapters import Average, BatchSplit, Parallel, Split, Stack
from adapters.architectures.attach import resolve_path
from contract.helpers import adapter_model, randomize_adapter
from heads.head_inputs import batch_for, head_config
from tiny_models import inputs, output


def _two(family: str, config: str, other: str | None = None):
    model = adapter_model(family)
    for name, seed, spec in (("a", 1, config), ("b", 2, other or config)):
        model.add_adapter(name, config=spec)
        randomize_adapter(model, name, seed=seed)
    return model


def _site(model, path: str):
    return resolve_path(model.base_model, path)[0]


# ---- site level: Stack, Split, Average on one bottleneck site ----------------------------------------------------
@pytest.fixture
def site():
    model = _two("bert", "seq_bn", "double_seq_bn")
    block = _site(model, "encoder.layer.0.output")
    torch.manual_seed(0)
    h, r = torch.randn(2, 6, 32), torch.randn(2, 6, 32)
    return block.adapters, h, r, block.LayerNorm.forward


def _single(layer, name, h, r, norm, model_adds_residual=False):
    adapter = layer[name]
    x, residual = adapter.pre_forward(h, r, norm)
    return adapter.post_forward(adapter(x, residual), h, r, norm, model_adds_residual)


def test_stack_applies_a_then_b(site):
    layer, h, r, norm = site
    a, b = layer["a"], layer["b"]
    x, res = a.pre_forward(h, r, norm)
    after_a = a(x, res)
    x, res = b.pre_forward(after_a, r, norm)
    expected = b.post_forward(b(x, res), h, r, norm, False)
    torch.testing.assert_close(layer.compose(Stack("a", "b"), h, r, norm, False), expected, atol=0, rtol=0)


def test_split_applies_each_adapter_to_its_segment(site):
    layer, h, r, norm = site
    got = layer.compose(Stack(Split("a", "b", splits=[2, 4])), h, r, norm, False)
    expected = torch.cat(
        [_single(layer, "a", h[:, :2], r[:, :2], norm), _single(layer, "b", h[:, 2:], r[:, 2:], norm)], 1
    )
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)
    with pytest.raises(IndexError, match="sum to 5, but the input's sequence length is 6"):
        layer.compose(Stack(Split("a", "b", splits=[2, 3])), h, r, norm, False)


def test_batch_split_at_a_site(site):
    layer, h, r, norm = site
    got = layer.compose(Stack(BatchSplit("a", "b", batch_sizes=[1, 1])), h, r, norm, False)
    expected = torch.cat([_single(layer, "a", h[:1], r[:1], norm), _single(layer, "b", h[1:], r[1:], norm)])
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)


def test_average_is_the_weighted_sum_of_outputs():
    # pre-LN (GPT-2): the sub-block output is linear in the adapters' outputs, so Average == Σ w_i · single_i
    model = _two("gpt2", "seq_bn", "seq_bn[reduction_factor=4, ln_after=True]")
    layer = _site(model, "h.0.output_adapters.adapters")
    h, r = torch.randn(2, 5, 32), torch.randn(2, 5, 32)
    got = layer.compose(Stack(Average("a", "b", weights=[0.3, 0.7])), h, r, None, True)
    expected = 0.3 * _single(layer, "a", h, r, None, True) + 0.7 * _single(layer, "b", h, r, None, True)
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)
    # weights are normalised to sum to 1 (the reference divided once more by the number of children)
    equal = layer.compose(Stack(Average("a", "a")), h, r, None, True)
    torch.testing.assert_close(equal, _single(layer, "a", h, r, None, True), atol=1e-6, rtol=0)
    model.add_adapter("p", config="par_bn")
    with pytest.raises(adapters.CompositionError, match="mixes adapters that finish differently"):
        layer.compose(Stack(Average("a", "p")), h, r, None, True)


def test_lora_average_is_the_weighted_sum_of_linear_outputs():
    model = _two("bert", "lora")
    query = _site(model, "encoder.layer.0.attention.self.query")
    x = torch.randn(2, 5, 32)
    outs = {}
    for setup in ("a", "b", Average("a", "b", weights=[1, 3])):
        with torch.no_grad(), adapters.AdapterSetup(setup):
            outs[str(setup)] = query(x)
    torch.testing.assert_close(
        outs[str(Average("a", "b", weights=[1, 3]))], 0.25 * outs["a"] + 0.75 * outs["b"], atol=1e-6, rtol=0
    )


# ---- model level: BatchSplit and Parallel equal separate runs, padding included ----------------------------------
@pytest.mark.parametrize(
    ("family", "config", "other"),
    [
        ("bert", "seq_bn", None),
        ("bert", "lora", None),
        ("gpt2", "double_seq_bn", None),
        ("llama", "lora", None),
        ("t5", "par_bn", None),
        ("bart", "ia3", None),
        # each slice is finished with its own adapter: DoRA magnitudes, (IA)³ scaling next to an additive LoRA
        ("bert", "dora", None),
        ("llama", "dora", "lora"),
        ("bert", "lora", "ia3"),
    ],
)
def test_batch_split_equals_running_the_slices_separately(family, config, other):
    model = _two(family, config, other)
    batch = inputs(family)  # row 1 is padded
    model.set_active_adapters(BatchSplit("a", "b", batch_sizes=[1, 1]))
    got = output(model, batch)
    model.set_active_adapters("a")
    first = output(model, {k: v[:1] for k, v in batch.items()})
    model.set_active_adapters("b")
    second = output(model, {k: v[1:] for k, v in batch.items()})
    torch.testing.assert_close(got, torch.cat([first, second]), atol=1e-5, rtol=1e-5)
    with pytest.raises(IndexError, match="batch size is 2"):
        model.set_active_adapters(BatchSplit("a", "b", batch_sizes=[2, 1]))
        output(model, batch)


def test_batch_split_inside_a_setup_refuses_adapters_that_finish_in_their_own_way():
    model = _two("bert", "dora", "lora")
    model.set_active_adapters(Average(BatchSplit("a", "b", batch_sizes=[1, 1]), "b"))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(adapters.errors.CompositionError, match=r"\['a', 'b'\].*top of the setup or use MultiTask"):
        output(model, inputs("bert"))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize(
    ("family", "config"),
    [("bert", "seq_bn"), ("bert", "lora"), ("gpt2", "lora"), ("llama", "double_seq_bn"), ("bart", "seq_bn")],
)
def test_parallel_equals_separate_forwards_with_heads(family, config):
    torch.manual_seed(0)
    model = adapters.AutoAdapterModel.from_config(head_config(family)).eval()
    for name, seed, labels in (("a", 1, 3), ("b", 2, 5)):
        model.add_adapter(name, config=config)
        randomize_adapter(model, name, seed=seed)
        model.add_classification_head(name, num_labels=labels)
    batch = batch_for(family, "classification")
    batch["attention_mask"][1, -2:] = 0 if family != "bart" else 1  # padding (BART pools on <eos>)
    model.set_active_adapters(Parallel("a", "b"))
    with torch.no_grad():
        both = model(**batch)
    assert isinstance(both, adapters.MultiHeadOutput) and len(both) == 2
    separate = []
    for name in ("a", "b"):
        model.set_active_adapters(name)
        with torch.no_grad():
            separate.append(model(**batch, head=name))
    for got, expected in zip(both, separate):
        torch.testing.assert_close(got.logits, expected.logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(both.loss, separate[0].loss + separate[1].loss, atol=1e-5, rtol=1e-5)


def test_parallel_needs_one_head_per_channel():
    model = adapters.AutoAdapterModel.from_config(head_config("bert")).eval()
    for name in "abc":
        model.add_adapter(name)
    model.add_classification_head("a")
    model.add_classification_head("b")
    model.set_active_adapters(Parallel("a", "b", "c"))
    with pytest.raises(adapters.CompositionError, match="3 channels but 2 heads"):
        model(**batch_for("bert", "classification"), head=["a", "b"])


def test_base_model_parallel_output_holds_every_channel():
    model = _two("bert", "seq_bn")
    batch = inputs("bert")
    model.set_active_adapters(Parallel("a", "b"))
    both = output(model, batch)
    model.set_active_adapters("a")
    torch.testing.assert_close(both[:2], output(model, batch), atol=0, rtol=0)
    model.set_active_adapters("b")
    torch.testing.assert_close(both[2:], output(model, batch), atol=0, rtol=0)

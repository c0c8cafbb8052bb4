"""The shortcuts of the hot paths give the same results as the plain computation.

* Post-LN bottleneck sites reuse the model's own ``h + residual`` and ``LayerNorm(h + residual)`` (``pre_norm``)
  instead of computing them a second time; with BART's functional dropout in training they must not.
* Split blocks whose segments end in adapters of one kind are finished at once; ``pad_and_concat`` takes the parts
  no block changes from the state they were cut from.
* LoRA scales in rank space and skips a scaling of 1.
"""

from __future__ import annotations

import pytest
import torch

from adapters import BatchSplit, Parallel
from adapters.methods.bottleneck_compose import BottleneckComposer, BottleneckState, run_bottleneck_setup
from adapters.methods.composer import compose
from contract.helpers import adapter_model, randomize_adapter
from tiny_models import inputs

CONFIGS = ("seq_bn", "double_seq_bn", "par_bn", "seq_bn[residual_before_ln='post_add']", "seq_bn[ln_before=True]")


@pytest.mark.parametrize("config", CONFIGS)
def test_pre_norm_reuse_equals_recomputing(config):
    model = adapter_model("bert")
    model.add_adapter("a", config=config, set_active=True)
    randomize_adapter(model, "a")
    site = model.encoder.layer[0].output
    layer, norm = site.adapters, site.LayerNorm.forward
    generator = torch.Generator().manual_seed(0)
    h, residual = (torch.randn(2, 5, model.config.hidden_size, generator=generator) for _ in range(2))
    with torch.no_grad():
        plain = run_bottleneck_setup(layer, model.active_adapters, h, residual, norm, False)
        summed = h + residual
        pre_norm = (summed, norm(summed))
        reused = run_bottleneck_setup(layer, model.active_adapters, h, residual, norm, False, None, pre_norm)
    torch.testing.assert_close(reused, plain, atol=0, rtol=0)


def _count_layer_norms(model, batch) -> int:
    calls = []
    original = torch.nn.functional.layer_norm

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    torch.nn.functional.layer_norm = counting
    try:
        with torch.no_grad():
            model(**batch)
    finally:
        torch.nn.functional.layer_norm = original
    return len(calls)


def test_post_ln_site_does_not_normalise_twice():
    model = adapter_model("bert")
    batch = inputs("bert")
    bare = _count_layer_norms(model, batch)
    model.add_adapter("a", config="seq_bn", set_active=True)
    sites = len(model.encoder.layer)  # seq_bn: one output adapter per layer
    # one extra LayerNorm per site (after the adapter); the one before it is the model's own, reused
    assert _count_layer_norms(model, batch) == bare + sites


@pytest.mark.parametrize("training", [False, True])
def test_bart_functional_dropout_disables_reuse_only_in_training(training, monkeypatch):
    model = adapter_model("bart")
    model.add_adapter("a", config="seq_bn", set_active=True)
    model.train(training)
    seen = []
    original = BottleneckComposer.pre_block

    def spy(self, name, state, fusion_config=None):
        seen.append(state.pre_norm is not None)
        return original(self, name, state)

    monkeypatch.setattr(BottleneckComposer, "pre_block", spy)
    model(**inputs("bart"))
    assert seen and all(used is (not training) for used in seen)


def test_parallel_of_one_kind_matches_separate_runs():
    model = adapter_model("bert")
    for name in ("a", "b", "c"):
        model.add_adapter(name, config="seq_bn")
        randomize_adapter(model, name)
    batch = inputs("bert")
    rows = batch["input_ids"].shape[0]
    separate = []
    with torch.no_grad():
        for name in ("a", "b", "c"):
            model.set_active_adapters(name)
            separate.append(model(**batch).last_hidden_state)
        model.set_active_adapters(Parallel("a", "b", "c"))
        together = model(**batch).last_hidden_state
    for index, expected in enumerate(separate):
        torch.testing.assert_close(together[index * rows : (index + 1) * rows], expected, atol=1e-5, rtol=0)


def test_pad_and_concat_takes_unchanged_parts_from_the_whole():
    model = adapter_model("bert")
    model.add_adapter("a", config="seq_bn")
    model.add_adapter("b", config="seq_bn")
    layer = model.encoder.layer[0].output.adapters
    composer = BottleneckComposer(layer, None)
    h, residual = torch.randn(4, 3, model.config.hidden_size), torch.randn(4, 3, model.config.hidden_size)
    state = BottleneckState(h, residual, None, None, None)
    with torch.no_grad():
        out = compose(composer, BatchSplit("a", "b", batch_sizes=[1, 3]), state)
    assert out.residual_in is residual
    assert out.hidden.shape == h.shape and [s[1:] for s in out.segments] == [(slice(0, 1), "a"), (slice(1, 4), "b")]


def test_lora_scaling_in_rank_space():
    model = adapter_model("bert")
    model.add_adapter("a", config="lora[r=4, alpha=12]", set_active=True)
    randomize_adapter(model, "a")
    query = model.encoder.layer[0].attention.self.query
    module = query.loras["a"]
    x = torch.randn(2, 5, query.in_features)
    runtime = query.loras.__dict__["_runtime"]
    with torch.no_grad(), runtime.bound(runtime.new_call({})):
        got = query(x)
        expected = query.forward(x) + 3.0 * (x @ module.lora_A.t() @ module.lora_B.t())
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def _general_path(layer, setup, x, output):
    """What the LoRA hook computes without the fused shortcut: compose + finish."""
    from adapters.methods.lora_layer import LoRAState

    return layer.finish(layer.compose(setup, LoRAState(x, (None,) * layer.n_groups, output, None)))


@pytest.mark.parametrize("config", ["lora", "lora[r=4, alpha=12]", "lora[dropout=0.0, alpha=1, r=1]"])
def test_fused_single_lora_equals_the_general_path_with_gradients(config):
    model = adapter_model("bert")
    model.add_adapter("a", config=config, set_active=True)
    randomize_adapter(model, "a")
    query = model.encoder.layer[0].attention.self.query
    layer, setup = query.loras, model.active_adapters
    x = torch.randn(2, 5, query.in_features, requires_grad=True)
    output = query.forward(x).detach().requires_grad_()
    fused = layer._fused_single(setup, x, output)
    assert fused is not None  # the shortcut applies to one plain LoRA adapter
    general = _general_path(layer, setup, x, output)
    torch.testing.assert_close(fused, general, atol=1e-6, rtol=1e-6)
    weights = torch.randn_like(general)
    module = layer["a"]
    grads_fused = torch.autograd.grad((fused * weights).sum(), [x, output, module.lora_A, module.lora_B])
    grads_general = torch.autograd.grad((general * weights).sum(), [x, output, module.lora_A, module.lora_B])
    for got, expected in zip(grads_fused, grads_general):
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "config", ["lora[use_gating=True]", "dora", "mtl_lora", "ia3", "vera", "lora[init_weights='bert']"]
)
def test_fused_shortcut_is_taken_only_for_plain_lora(config):
    model = adapter_model("bert")
    model.add_adapter("a", config=config, set_active=True)
    value = model.encoder.layer[0].attention.self.value  # every one of these methods adapts the value projection
    assert "a" in value.loras
    x = torch.randn(2, 5, value.in_features)
    taken = value.loras._fused_single(model.active_adapters, x, value.forward(x)) is not None
    assert taken == (config in ("ia3", "lora[init_weights='bert']"))


def test_fused_shortcut_is_not_taken_for_two_adapters_or_another_dtype():
    model = adapter_model("bert")
    model.add_adapter("a", config="lora")
    model.add_adapter("b", config="lora")
    layer = model.encoder.layer[0].attention.self.query.loras
    x = torch.randn(2, 5, layer.in_features)
    output = layer.linear.forward(x)
    from adapters import Stack

    assert layer._fused_single(Stack("a", "b"), x, output) is None
    assert layer._fused_single(Parallel("a", "b"), x, output) is None
    assert layer._fused_single(Stack("a"), x, output.double()) is None
    assert layer._fused_single(Stack("a"), x, output) is not None


@pytest.mark.parametrize("config", ["ia3", "ia3[alpha=2.0]"])
def test_fused_ia3_equals_the_general_path_and_scales_in_place_only_without_autograd(config):
    model = adapter_model("bert")
    model.add_adapter("a", config=config, set_active=True)
    randomize_adapter(model, "a")
    value = model.encoder.layer[0].attention.self.value
    layer, setup, module = value.loras, model.active_adapters, value.loras["a"]
    x = torch.randn(2, 5, value.in_features)
    with torch.no_grad():
        general = _general_path(layer, setup, x, value.forward(x))
        output = value.forward(x)
        fused = layer._fused_single(setup, x, output)
    assert fused is output  # no autograd: the layer's fresh output is scaled in place
    torch.testing.assert_close(fused, general, atol=1e-6, rtol=1e-6)
    output = value.forward(x).detach().requires_grad_()
    fused = layer._fused_single(setup, x, output)
    assert fused is not output
    general = _general_path(layer, setup, x, output)
    torch.testing.assert_close(fused, general, atol=1e-6, rtol=1e-6)
    weights = torch.randn_like(general)
    grads_fused = torch.autograd.grad((fused * weights).sum(), [output, module.lora_B])
    grads_general = torch.autograd.grad((general * weights).sum(), [output, module.lora_B])
    for got, expected in zip(grads_fused, grads_general):
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)

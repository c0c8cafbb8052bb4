"""Bottleneck adapters compute the reference's formulas (checked against explicit hand computations)."""

from __future__ import annotations

import torch

from adapters import AdapterSetup
from contract.helpers import adapter_model, randomize_adapter
from tiny_models import inputs


def _capture(module, store, key, kind="output"):
    def hook(mod, args, kwargs_or_output, *rest):
        store[key] = (args, kwargs_or_output) if kind == "input" else kwargs_or_output

    if kind == "input":
        return module.register_forward_pre_hook(lambda m, a, k: store.__setitem__(key, (a, k)), with_kwargs=True)
    return module.register_forward_hook(hook)


def _mlp(adapter, x):
    return adapter.adapter_up(adapter.adapter_down(x)) * adapter.scaling


def _run_bert_output_block(model, block):
    """Run the model once; return the BertOutput block's inputs (intermediate, residual) and its output."""
    seen: dict = {}
    handles = [_capture(block, seen, "in", "input"), _capture(block, seen, "out")]
    with torch.no_grad():
        model(**inputs("bert"))
    for handle in handles:
        handle.remove()
    (intermediate, residual), _ = seen["in"]
    return intermediate, residual, seen["out"]


def test_seq_bn_on_post_ln_bert_output_site():
    model = adapter_model("bert")
    model.add_adapter("a", config="seq_bn", set_active=True)
    randomize_adapter(model, "a")
    block = model.encoder.layer[0].output
    intermediate, residual, seen_output = _run_bert_output_block(model, block)
    adapter = block.adapters["a"]
    with torch.no_grad():
        h = block.dense(intermediate)
        x = block.LayerNorm.forward(h + residual)  # original_ln_before
        expected = block.LayerNorm.forward(_mlp(adapter, x) + h + residual)  # residual_before_ln=True, ln after
    torch.testing.assert_close(seen_output, expected, atol=1e-6, rtol=0)


def test_par_bn_on_post_ln_bert_output_site():
    model = adapter_model("bert")
    model.add_adapter("a", config="par_bn", set_active=True)
    randomize_adapter(model, "a")
    block = model.encoder.layer[1].output
    intermediate, residual, seen_output = _run_bert_output_block(model, block)
    adapter = block.adapters["a"]
    with torch.no_grad():
        h = block.dense(intermediate)
        expected = block.LayerNorm.forward(_mlp(adapter, residual) + h + residual)
    assert adapter.scaling == 4.0
    torch.testing.assert_close(seen_output, expected, atol=1e-6, rtol=0)


def test_seq_bn_on_pre_ln_gpt2_attention_site():
    model = adapter_model("gpt2")
    model.add_adapter("a", config="double_seq_bn", set_active=True)
    randomize_adapter(model, "a")
    layer = model.h[0]
    seen: dict = {}
    handles = [_capture(layer.ln_1, seen, "ln1", "input"), _capture(layer.ln_2, seen, "ln2", "input")]
    batch = inputs("gpt2")
    with torch.no_grad():
        model(**batch)
    for handle in handles:
        handle.remove()
    (residual,), _ = seen["ln1"]
    (after_attention,), _ = seen["ln2"]
    adapter = layer.attention_adapters.adapters["a"]
    with torch.no_grad(), AdapterSetup(None):
        h = layer.attn(layer.ln_1(residual), attention_mask=None)[0]
    # double_seq_bn: original_ln_before=False, residual_before_ln=True; the model adds the residual
    expected = residual + h + _mlp(adapter, h).detach()
    # compare only unpadded positions of row 0 (the attention mask differs from the full model's causal+padding)
    torch.testing.assert_close(after_attention[0], expected[0], atol=1e-5, rtol=0)


def test_gating_scales_the_adapter_output():
    model = adapter_model("bert")
    model.add_adapter("a", config="seq_bn[use_gating=True, original_ln_before=False]", set_active=True)
    randomize_adapter(model, "a")
    block = model.encoder.layer[0].output
    adapter = block.adapters["a"]
    x = torch.randn(2, 5, 32)
    with torch.no_grad():
        gate = torch.sigmoid(adapter.gate(x)).mean(dim=1, keepdim=True)
        expected = _mlp(adapter, x) * gate + x
        torch.testing.assert_close(adapter(x, x), expected, atol=1e-6, rtol=0)


def test_init_weights_seed_gives_identical_adapters():
    first, second = adapter_model("bert"), adapter_model("bert", seed=5)
    for model in (first, second):
        model.add_adapter("a", config="seq_bn[init_weights_seed=42]")
    p1, p2 = dict(first._adapter_parameters("a")), dict(second._adapter_parameters("a"))
    assert p1.keys() == p2.keys()
    assert all(torch.equal(p1[k], p2[k]) for k in p1)
    model = adapter_model("bert")
    state = torch.random.get_rng_state()
    model.add_adapter("b", config="seq_bn[init_weights_seed=1]")
    assert torch.equal(torch.random.get_rng_state(), state)  # the global RNG is left untouched


def test_reduction_factor_mapping_per_layer():
    model = adapter_model("bert")
    model.add_adapter("a", config="seq_bn[reduction_factor={'1': 4, 'default': 16}]")
    layers = model.get_adapter("a")
    assert layers[0]["output_adapter"].adapter_up.weight.shape == (32, 2)
    assert layers[1]["output_adapter"].adapter_up.weight.shape == (32, 8)

"""LoRA-family maths and API: closed-form checks of the forward pass, fused q|k|v layout, Stack, merging rules,
dtype handling, hook order and the spec's LoRA sites."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import adapters
from adapters import AdapterSetup, MultiTask, Split, Stack
from adapters.architectures.attach import resolve_path
from adapters.errors import AdapterConfigError, CompositionError, UnsupportedMethodError
from adapters.methods.lora import LoRALayer
from contract.helpers import adapter_model, randomize_adapter
from tiny_models import FAMILIES, build, inputs, output

DOCS = Path(__file__).parents[2] / "docs" / "methods" / "lora.md"


def _layer(model, path: str) -> torch.nn.Module:
    return resolve_path(model, path)[0]


def _capture(model, path: str, batch) -> tuple[torch.Tensor, torch.Tensor]:
    """Input and (adapted) output of the linear layer at ``path`` during a forward pass."""
    seen = {}
    handle = _layer(model, path).register_forward_hook(lambda m, a, o: seen.update(x=a[0], y=o))
    output(model, batch)
    handle.remove()
    return seen["x"], seen["y"]


def _plain(linear: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    if isinstance(linear, torch.nn.Linear):
        return torch.nn.functional.linear(x, linear.weight, linear.bias)
    return x @ linear.weight + linear.bias  # Conv1D


def test_lora_forward_is_the_reference_formula():
    model = adapter_model("bert")
    model.add_adapter("a", config="lora[r=4, alpha=12]", set_active=True)
    randomize_adapter(model, "a")
    path = "encoder.layer.1.attention.self.value"
    x, y = _capture(model, path, inputs("bert"))
    lora = _layer(model, path).loras["a"]
    expected = _plain(_layer(model, path), x) + x @ lora.lora_A.t() @ lora.lora_B.t() * 3.0
    torch.testing.assert_close(y, expected, atol=1e-6, rtol=0)


def test_ia3_scales_the_output_and_its_bias():
    model = adapter_model("bert")
    model.add_adapter("a", config="ia3[alpha=2.0]", set_active=True)
    randomize_adapter(model, "a")
    path = "encoder.layer.0.intermediate.dense"
    with torch.no_grad():
        _layer(model, path).bias.normal_()
    x, y = _capture(model, path, inputs("bert"))
    vector = _layer(model, path).loras["a"].lora_B[:, 0]
    torch.testing.assert_close(y, _plain(_layer(model, path), x) * vector * 2.0, atol=1e-6, rtol=0)
    model.merge_adapter("a")  # the bias is scaled too, so merged == unmerged also with a non-zero bias
    torch.testing.assert_close(_capture(model, path, inputs("bert"))[1], y, atol=1e-6, rtol=0)


def test_dora_forward_uses_the_unscaled_update_in_the_norm():
    model = adapter_model("bert")
    model.add_adapter("a", config="dora[r=4, alpha=8]", set_active=True)
    randomize_adapter(model, "a")
    path = "encoder.layer.0.attention.self.query"
    linear = _layer(model, path)
    x, y = _capture(model, path, inputs("bert"))
    dora = linear.loras["a"]
    delta = dora.lora_B @ dora.lora_A
    norm = torch.linalg.norm(linear.weight + delta, dim=1)
    expected = dora.m.weight[:, 0] / norm * (_plain(linear, x) + x @ delta.t() * 2.0)
    torch.testing.assert_close(y, expected, atol=1e-6, rtol=0)


def test_fused_qkv_uses_the_grouped_layout():
    """GPT-2's c_attn with attn_matrices q, v: A is (2r, in), B is (2·out/3, r); k's slice is untouched."""
    model = adapter_model("gpt2")
    model.add_adapter("a", config="lora[r=2, alpha=2]", set_active=True)
    randomize_adapter(model, "a")
    path = "h.0.attn.c_attn"
    lora = _layer(model, path).loras["a"]
    assert tuple(lora.lora_A.shape) == (4, 32) and tuple(lora.lora_B.shape) == (64, 2)
    x, y = _capture(model, path, inputs("gpt2"))
    base = _plain(_layer(model, path), x)
    A, B = lora.lora_A.split(2), lora.lora_B.split(32)
    expected = torch.cat(
        [base[..., :32] + x @ A[0].t() @ B[0].t(), base[..., 32:64], base[..., 64:] + x @ A[1].t() @ B[1].t()], -1
    )
    torch.testing.assert_close(y, expected, atol=1e-6, rtol=0)


def test_fused_qkv_stack_composes_per_part():
    """Unlike the reference, a Stack runs on fused layers: each part composes like a separate q/k/v layer."""
    model = adapter_model("gpt2")
    model.add_adapter("a", config="lora[r=2, alpha=2, attn_matrices=['q', 'v']]")
    model.add_adapter("b", config="lora[r=2, alpha=2, attn_matrices=['k', 'v']]")
    randomize_adapter(model, "a", seed=1)
    randomize_adapter(model, "b", seed=2)
    model.set_active_adapters(Stack("a", "b"))
    path = "h.1.attn.c_attn"
    x, y = _capture(model, path, inputs("gpt2"))
    base = _plain(_layer(model, path), x)
    a, b = _layer(model, path).loras["a"], _layer(model, path).loras["b"]
    (Aq, Av), (Bq, Bv) = a.lora_A.split(2), a.lora_B.split(32)
    (Ak, Av2), (Bk, Bv2) = b.lora_A.split(2), b.lora_B.split(32)
    q = base[..., :32] + x @ Aq.t() @ Bq.t()  # only a adapts q
    k = base[..., 32:64] + x @ Ak.t() @ Bk.t()  # only b adapts k
    v = base[..., 64:] + (x @ Av.t() @ Bv.t()) @ Av2.t() @ Bv2.t()  # b receives a's output (reference semantics)
    torch.testing.assert_close(y, torch.cat([q, k, v], -1), atol=1e-6, rtol=0)


def test_stack_needs_equal_sizes_where_it_feeds_an_adapter_to_the_next():
    model = adapter_model("bert")
    for name in ("a", "b"):
        model.add_adapter(name, config="lora[selfattn_lora=False, intermediate_lora=True]")
    model.set_active_adapters(Stack("a", "b"))
    with pytest.raises(CompositionError, match="equal input and output sizes, here 32 -> 37"):
        output(model, inputs("bert"))


def test_unsupported_blocks_raise_a_composition_error():
    model = adapter_model("bert")
    model.add_adapter("a", config="lora")
    model.add_adapter("b", config="lora")
    with pytest.raises(CompositionError, match="cannot be used in a Split block.*support: Average, BatchSplit"):
        model.set_active_adapters(Split("a", "b", splits=[3, 4]))
    with AdapterSetup(Split("a", "b", splits=[3, 4])), pytest.raises(CompositionError, match="composed with Split"):
        output(model, inputs("bert"))
    model.set_active_adapters(MultiTask("a", "b"))  # every LoRA-family adapter routes rows since issue 10


def test_primitives_weighted_sum_and_concat():
    model = adapter_model("bert")
    model.add_adapter("a", config="lora")
    randomize_adapter(model, "a")
    layer = _layer(model, "encoder.layer.0.attention.self.query").loras
    x = torch.randn(2, 3, 32)
    state = layer.compose_single("a", adapters.methods.lora.LoRAState(x, (None,), x.clone(), None))
    averaged = layer.weighted_sum([state, state], [1.0, 3.0])
    torch.testing.assert_close(averaged.hidden[0], state.hidden[0] * 4.0)
    assert torch.equal(layer.vslice(layer.pad_and_concat([state, state]), slice(2, 4)).hidden[0], state.hidden[0])


def test_merging_a_gated_adapter_is_refused_without_changing_weights():
    model = adapter_model("bert")
    model.add_adapter("a", config="lora[use_gating=True]", set_active=True)
    randomize_adapter(model, "a")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(UnsupportedMethodError, match="uses gating"):
        model.merge_adapter("a")
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert all(layer.merged is None for layer in model.modules() if isinstance(layer, LoRALayer))


def test_only_one_adapter_merges_at_a_time_and_non_lora_adapters_do_not_merge():
    model = adapter_model("bert")
    model.add_adapter("a", config="lora")
    model.add_adapter("b", config="lora")
    model.add_adapter("c", config="seq_bn")
    model.merge_adapter("a")
    model.merge_adapter("a")  # merging the merged adapter again is a no-op
    with pytest.raises(CompositionError, match="reset_adapter"):
        model.merge_adapter("b")
    with pytest.raises(UnsupportedMethodError, match="merge_adapter works for adapters of the methods"):
        model.merge_adapter("c")
    model.reset_adapter()
    model.merge_adapter("b")


def test_merged_adapter_survives_save_and_delete_restores_weights(tmp_path):
    batch = inputs("gpt2")
    model = adapter_model("gpt2")
    base = output(model, batch)
    model.add_adapter("a", config="lora[intermediate_lora=True]", set_active=True)
    randomize_adapter(model, "a")
    expected = output(model, batch)
    model.merge_adapter("a")
    model.save_adapter(tmp_path, "a")  # adapter weights are unchanged by merging
    fresh = adapter_model("gpt2")
    fresh.load_adapter(str(tmp_path), set_active=True)
    torch.testing.assert_close(output(fresh, batch), expected, atol=0, rtol=0)
    model.delete_adapter("a")
    assert torch.equal(output(model, batch), base)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("ia3[use_dora=True]", "cannot use DoRA"),
        ("ia3[dropout=0.1]", "does not support dropout"),
        ("vera[composition_mode='scale', r=1]", "VeRA .* needs composition_mode='add'"),
        ("mtl_lora[composition_mode='scale', r=1]", "MTL-LoRA needs composition_mode='add'"),
        ("lora[dtype='float33']", "not a floating-point torch dtype"),
        ("ia3[init_weights='vera']", "not supported for \\(IA\\)\\^3"),
    ],
)
def test_invalid_combinations_raise_and_leave_the_model_untouched(spec, message):
    model = adapter_model("bert")
    keys = list(model.state_dict())
    with pytest.raises(AdapterConfigError, match=message):
        model.add_adapter("a", config=spec)
    assert list(model.state_dict()) == keys and "a" not in model.adapters_config


def test_config_enabling_no_site_is_unsupported():
    model = adapter_model("bert")
    assert not model.supports_adapter("lora[selfattn_lora=False]")
    with pytest.raises(UnsupportedMethodError, match="enables no LoRA location"):
        model.add_adapter("a", config="lora[leave_out=[0, 1]]")


@pytest.mark.parametrize("family", ["bert", "gpt2"])
def test_adapter_parameters_follow_the_model_dtype_unless_given(family):
    batch = inputs(family)
    model = adapter_model(family).to(torch.bfloat16)
    model.add_adapter("a", config="lora[intermediate_lora=True]", set_active=True)
    model.add_adapter("b", config="dora[dtype='float32']")
    randomize_adapter(model, "a")
    assert {p.dtype for _, p in model._adapter_parameters("a")} == {torch.bfloat16}
    assert {p.dtype for _, p in model._adapter_parameters("b")} == {torch.float32}
    assert output(model, batch).dtype == torch.bfloat16
    model.set_active_adapters("b")
    assert output(model, batch).dtype == torch.bfloat16


def test_lora_and_bottleneck_on_the_same_module_do_not_depend_on_add_order():
    """BART's fc2 is LoRA's output site and the bottleneck's FFN output: LoRA's hook must run first."""
    batch = inputs("bart")
    results = []
    for order in (("l", "b"), ("b", "l")):
        model = adapter_model("bart")
        for name in order:
            model.add_adapter(name, config="lora[output_lora=True]" if name == "l" else "seq_bn")
            randomize_adapter(model, name, seed=7 if name == "l" else 8)
        model.set_active_adapters(Stack("l", "b"))
        results.append(output(model, batch))
    assert torch.equal(results[0], results[1])
    model.set_active_adapters("b")
    assert not torch.equal(output(model, batch), results[0])


@pytest.mark.filterwarnings("ignore:.*gradient_checkpointing_enable.*:FutureWarning")
@pytest.mark.parametrize("family", ["bert", "gpt2", "t5"])
def test_checkpointing_gives_same_gradients(family):
    def grads(checkpointing: bool) -> dict[str, torch.Tensor]:
        model = adapter_model(family)
        model.add_adapter("a", config="dora[intermediate_lora=True]")
        randomize_adapter(model, "a")
        model.train_adapter("a")
        for module in model.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
        if checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model(**inputs(family)).last_hidden_state.pow(2).sum().backward()
        return {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}

    plain, checkpointed = grads(False), grads(True)
    assert plain.keys() == checkpointed.keys() and plain
    for name, grad in plain.items():
        torch.testing.assert_close(checkpointed[name], grad, atol=1e-6, rtol=1e-5, msg=name)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_lora_site_resolves_to_a_linear_layer(family):
    model = build(family)
    adapters.init(model)
    model.add_adapter("a", config="lora[attn_matrices=['q', 'k', 'v'], intermediate_lora=True, output_lora=True]")
    per_layer = model.get_adapter("a")
    assert sorted(per_layer) == list(range(len(list(model.iter_layers()))))
    for by_location in per_layer.values():
        assert set(by_location) == {"selfattn_lora", "intermediate_lora", "output_lora"}


def test_gated_t5_feed_forward_adapts_wi_1_as_the_reference():
    from transformers import T5Model

    from tiny_models import config

    t5_config = config("t5")
    t5_config.feed_forward_proj, t5_config.is_gated_act, t5_config.dense_act_fn = "gated-gelu", True, "gelu_new"
    model = T5Model(t5_config).eval()
    adapters.init(model)
    model.add_adapter("a", config="ia3", set_active=True)
    keys = [k for k in model.state_dict() if ".loras.a." in k and "DenseReluDense" in k]
    assert keys and all(".DenseReluDense.wi_1.loras.a." in k for k in keys)


@pytest.mark.parametrize("spec", ["dora[r=4, alpha=8, dora_unscaled_bias=True]", "dvora[dora_unscaled_bias=True]"])
def test_dora_with_an_unscaled_bias_adds_the_bias_after_the_magnitude(spec):
    model = adapter_model("bert")
    path = "encoder.layer.0.attention.self.query"
    linear = _layer(model, path)
    with torch.no_grad():
        linear.bias.normal_()
    weight, bias = linear.weight.detach().clone(), linear.bias.detach().clone()
    model.add_adapter("a", config=spec, set_active=True)
    randomize_adapter(model, "a")
    x, y = _capture(model, path, inputs("bert"))
    dora = linear.loras["a"]
    delta = dora.delta_weight()
    factor = dora.m.weight[:, 0] / torch.linalg.norm(weight + delta, dim=1)
    expected = factor * (x @ weight.t() + x @ delta.t() * dora.scaling) + bias
    torch.testing.assert_close(y, expected, atol=1e-6, rtol=0)
    scaled = factor * (_plain(linear, x) + x @ delta.t() * dora.scaling)  # the reference's: the bias scaled too
    assert (y - scaled).abs().max() > 1e-2
    model.merge_adapter("a")
    assert torch.equal(linear.bias, bias)  # the bias stays outside the scaling
    torch.testing.assert_close(_capture(model, path, inputs("bert"))[1], y, atol=1e-5, rtol=0)
    model.reset_adapter()
    assert torch.equal(linear.weight, weight) and torch.equal(linear.bias, bias)


def test_dora_with_an_unscaled_bias_on_routed_rows():
    """MultiTask routes each example to one adapter and finishes its rows with that adapter's own mode."""
    model = adapter_model("bert")
    with torch.no_grad():
        for layer in model.encoder.layer:
            layer.attention.self.value.bias.normal_()
    model.add_adapter("a", config="dora[dora_unscaled_bias=True]")
    model.add_adapter("b", config="dora")
    randomize_adapter(model, "a")
    randomize_adapter(model, "b", seed=9)
    batch = inputs("bert")
    size = batch["input_ids"].shape[0]
    model.set_active_adapters(MultiTask("a", "b"))
    task_ids = ["a"] * (size // 2) + ["b"] * (size - size // 2)
    with torch.no_grad():
        routed = model(**batch, task_ids=task_ids).last_hidden_state
    for name in ("a", "b"):
        model.set_active_adapters(name)
        rows = torch.tensor([i for i, t in enumerate(task_ids) if t == name])
        torch.testing.assert_close(routed[rows], output(model, batch)[rows], atol=1e-5, rtol=0)

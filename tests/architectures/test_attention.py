"""The wrapper around transformers' attention interface and ``prepend_keys_values`` (mask formats per backend)."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from transformers import AttentionInterface

import adapters
from adapters import UnsupportedAttentionError, UnsupportedModelError
from adapters.architectures.attention import (
    AttentionCall,
    add_attention_hook,
    attention_hooks,
    prepend_keys_values,
    remove_attention_hook,
)
from tiny_models import FAMILIES, build, inputs

PREFIX = "prefix_tuning[prefix_length=2, bottleneck_size=4]"


def _hidden(model, batch):
    with torch.no_grad():
        return model(**batch).last_hidden_state


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("backend", ["eager", "sdpa"])
def test_hooked_backends_run_unhooked_modules_bit_identically(family, backend):
    model = build(family)
    model.set_attn_implementation(backend)
    batch = inputs(family)
    plain = _hidden(model, batch)
    model.set_attn_implementation(f"adapters_{backend}")
    assert torch.equal(_hidden(model, batch), plain)


def test_prefix_tuning_hooks_one_model_only_and_removing_it_restores_that_model():
    model, other = build("bert"), build("bert")
    batch = inputs("bert")
    before, other_before = _hidden(model, batch), _hidden(other, batch)
    adapters.init(model)
    adapters.init(other)
    other.add_adapter("b", config=PREFIX, set_active=True)
    other_prefixed = _hidden(other, batch)
    model.add_adapter("a", config=PREFIX, set_active=True)
    assert model.config._attn_implementation == "adapters_sdpa"
    assert not torch.allclose(_hidden(model, batch), before)
    model.delete_adapter("a")  # removing it from one model leaves the other one as it was
    assert model.config._attn_implementation == "sdpa" and torch.equal(_hidden(model, batch), before)
    assert other.config._attn_implementation == "adapters_sdpa" and torch.equal(_hidden(other, batch), other_prefixed)
    other.delete_adapter("b")
    assert torch.equal(_hidden(other, batch), other_before)
    assert AttentionInterface().get_interface("sdpa", None) is AttentionInterface._global_mapping["sdpa"]


def test_hooks_run_in_order_and_leave_no_trace():
    model = build("bert")
    model.set_attn_implementation("adapters_sdpa")
    module = model.encoder.layer[0].attention.self
    order = []
    add_attention_hook(module, "first", lambda call: order.append("first") or call)
    add_attention_hook(module, "second", lambda call: order.append(call.implementation) or call)
    with pytest.raises(ValueError):
        add_attention_hook(module, "first", lambda call: call)
    with torch.no_grad():
        model(**inputs("bert"))
    assert order == ["first", "sdpa"]
    remove_attention_hook(module, "first")
    remove_attention_hook(module, "second")
    assert attention_hooks(module) == {} and "_adapters_attention_hooks" not in module.__dict__
    assert all(not k.startswith("_adapters") for k in model.state_dict())


class _Module(nn.Module):
    is_causal = True


def _call(implementation="sdpa", mask=None, q_len=3, k_len=3, heads=2, **kwargs) -> AttentionCall:
    def fn(*args, **kw):  # pragma: no cover - not run
        raise AssertionError

    query = torch.randn(2, 4, q_len, 8)
    key = torch.randn(2, heads, k_len, 8)
    return AttentionCall(fn, implementation, _Module(), query, key, key.clone(), mask, (), kwargs)


def test_sdpa_without_mask_gets_a_causal_mask_with_visible_prefix_columns():
    call = prepend_keys_values(_call(), torch.randn(2, 2, 2, 8), torch.randn(2, 2, 2, 8))
    mask = call.attention_mask
    assert mask.dtype == torch.bool and mask.shape == (1, 1, 3, 5)
    assert mask[0, 0].int().tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 0], [1, 1, 1, 1, 1]]
    assert call.key.shape == (2, 2, 5, 8)
    # bidirectional (not causal) or single-query calls keep mask=None
    assert prepend_keys_values(_call(is_causal=False), *[torch.randn(2, 2, 2, 8)] * 2).attention_mask is None
    assert prepend_keys_values(_call(q_len=1), *[torch.randn(2, 2, 2, 8)] * 2).attention_mask is None


def test_eager_masks_stay_additive_and_hidden_prefix_columns_get_the_minimum():
    additive = torch.zeros(2, 1, 3, 3)
    additive[1, :, :, -1] = torch.finfo(torch.float32).min
    visible = torch.tensor([[False, True], [True, True]])
    call = prepend_keys_values(_call("eager", additive), *[torch.randn(2, 2, 2, 8)] * 2, visible=visible)
    mask = call.attention_mask
    assert mask.dtype == torch.float32 and mask.shape == (2, 1, 3, 5)
    assert (mask[0, :, :, 0] == torch.finfo(torch.float32).min).all() and (mask[0, :, :, 1:] == 0).all()
    assert (mask[1, :, :, -1] == torch.finfo(torch.float32).min).all() and (mask[1, :, :, :4] == 0).all()
    no_mask = prepend_keys_values(_call("eager", None), *[torch.randn(2, 2, 2, 8)] * 2, visible=visible)
    assert no_mask.attention_mask.dtype == torch.float32 and no_mask.attention_mask.shape == (2, 1, 3, 5)


def test_boolean_masks_and_position_bias_get_prefix_columns():
    mask = torch.ones(2, 1, 3, 3, dtype=torch.bool)
    mask[1, ..., -1] = False
    bias = torch.randn(1, 4, 3, 3)
    call = prepend_keys_values(_call(mask=mask, position_bias=bias), *[torch.randn(2, 2, 2, 8)] * 2)
    assert call.attention_mask[:, :, :, :2].all() and torch.equal(call.attention_mask[:, :, :, 2:], mask)
    assert torch.equal(call.kwargs["position_bias"][..., :2], torch.zeros(1, 4, 3, 2))
    assert torch.equal(call.kwargs["position_bias"][..., 2:], bias)


def test_what_cannot_be_prefixed_raises():
    keys = [torch.randn(2, 2, 2, 8)] * 2
    for implementation in ("flash_attention_2", "flex_attention", "paged|eager", "my_kernel"):
        with pytest.raises(UnsupportedAttentionError, match=implementation.replace("|", r"\|")):
            prepend_keys_values(_call(implementation), *keys)
    with pytest.raises(UnsupportedAttentionError, match="paged"):
        prepend_keys_values(_call(cache=object()), *keys)
    with pytest.raises(UnsupportedAttentionError, match="packed"):
        prepend_keys_values(_call(cu_seq_lens_q=torch.tensor([0, 3])), *keys)
    with pytest.raises(UnsupportedAttentionError, match="4-D"):
        prepend_keys_values(_call(mask=torch.ones(2, 3)), *keys)
    with pytest.raises(UnsupportedModelError, match="heads"):
        prepend_keys_values(_call(heads=4), *keys)


def test_switching_the_backend_keeps_the_prefix_and_bypassing_the_hook_is_refused():
    model = build("bert")
    adapters.init(model)
    model.add_adapter("a", config=PREFIX, set_active=True)
    batch = inputs("bert")
    sdpa = _hidden(model, batch)
    model.set_attn_implementation("eager")  # stays hooked: the prefix keeps applying
    assert model.config._attn_implementation == "adapters_eager"
    assert torch.allclose(_hidden(model, batch), sdpa, atol=1e-5)
    model.delete_adapter("a")
    assert model.config._attn_implementation == "eager"
    model.add_adapter("a", config=PREFIX, set_active=True)
    model.config._attn_implementation = "sdpa"  # behind our back: the prefix cannot be applied, refused
    with pytest.raises(UnsupportedAttentionError, match="did not call"), torch.no_grad():
        model(**batch)

"""Prefix tuning through transformers' attention interface: backends, masks, causality, caching, generation, GQA,
composition primitives, eject and the errors for backends it cannot hook."""

from __future__ import annotations

import pytest
import torch
import transformers
from methods.generation import assert_cached_generation_equals_uncached, generation_model

import adapters
from adapters import CompositionError, Stack, UnsupportedAttentionError, UnsupportedMethodError
from adapters.architectures.attention import add_attention_hook, prepend_keys_values, remove_attention_hook
from adapters.methods.prefix_tuning import PrefixAttentionSite, PrefixState
from contract.helpers import adapter_model, randomize_adapter
from tiny_models import ENCODER_DECODER, FAMILIES, VOCAB, build, inputs

SPEC = "prefix_tuning[prefix_length=4, bottleneck_size=16]"
MASKED = [f for f in FAMILIES if f != "vit"]
DECODERS = ("gpt2", "llama", "mistral", "qwen2")


def _model(family: str, attn: str = "sdpa", spec: str = SPEC, seed: int = 0):
    model = build(family, seed=seed)
    model.set_attn_implementation(attn)
    adapters.init(model)
    model.add_adapter("a", config=spec, set_active=True)
    randomize_adapter(model, "a", std=0.3)
    return model


def _run(model, batch) -> torch.Tensor:
    with torch.no_grad():
        return model(**batch).last_hidden_state


def _unpadded(family: str) -> dict[str, torch.Tensor]:
    """The fixed batch without any padding (no attention mask): sdpa gets mask=None and decides causality itself."""
    return {k: v for k, v in inputs(family).items() if k != "attention_mask"}


@pytest.mark.parametrize("family", FAMILIES)
def test_eager_equals_sdpa(family):
    for batch in (inputs(family), _unpadded(family)):
        eager, sdpa = _run(_model(family, "eager"), batch), _run(_model(family, "sdpa"), batch)
        torch.testing.assert_close(sdpa, eager, atol=1e-5, rtol=0)  # measured: at most 7.2e-7


@pytest.mark.parametrize("family", MASKED)
def test_padded_rows_equal_the_rows_run_unpadded(family):
    batch = inputs(family)
    model = _model(family)
    padded = _run(model, batch)
    real = int(batch["attention_mask"][1].sum())
    alone = {k: v[1:] for k, v in batch.items() if k != "attention_mask"}
    alone["input_ids"] = alone["input_ids"][:, :real]
    single = _run(model, alone)
    if family in ENCODER_DECODER:  # the decoder is not padded; its cross-attention sees the padded encoder
        torch.testing.assert_close(padded[1], single[0], atol=1e-5, rtol=0)
    else:
        torch.testing.assert_close(padded[1, :real], single[0], atol=1e-5, rtol=0)


@pytest.mark.parametrize("family", DECODERS + ("t5", "bart"))
@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_causal_with_prefix(family, attn):
    """Later tokens do not change earlier outputs (the prefix columns are visible to every query)."""
    model = _model(family, attn)
    batch = _unpadded(family)
    key = "decoder_input_ids" if family in ENCODER_DECODER else "input_ids"
    changed = dict(batch)
    changed[key] = batch[key].clone()
    changed[key][:, -1] = 1
    torch.testing.assert_close(_run(model, changed)[:, :-1], _run(model, batch)[:, :-1], atol=1e-5, rtol=0)


@pytest.mark.parametrize("family", FAMILIES)
def test_gradients_reach_every_prefix_parameter(family):
    model = _model(family)
    model.train_adapter("a")
    model(**inputs(family)).last_hidden_state.pow(2).sum().backward()
    params = dict(model._adapter_parameters("a"))
    assert params
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in params.values())


@pytest.mark.parametrize("family", DECODERS)
@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_cached_decoding_equals_the_full_forward_and_the_cache_holds_real_tokens(family, attn):
    model = _model(family, attn)
    ids = _unpadded(family)["input_ids"]
    with torch.no_grad():
        full = model(input_ids=ids).last_hidden_state
        first = model(input_ids=ids[:, :4], use_cache=True)
        second = model(input_ids=ids[:, 4:], past_key_values=first.past_key_values, use_cache=True)
    torch.testing.assert_close(second.last_hidden_state, full[:, 4:], atol=1e-5, rtol=0)
    assert second.past_key_values.get_seq_length() == ids.shape[1]  # no prefix positions in the cache


@pytest.mark.parametrize("family", ["gpt2", "llama", "t5", "bart"])
def test_cached_generation_equals_uncached_greedy(family):
    model = generation_model(family, "prefix_tuning[prefix_length=4, bottleneck_size=16]", std=1.0)
    sequences = assert_cached_generation_equals_uncached(model, family)
    ids = sequences[:, :5] if family not in ENCODER_DECODER else None
    if ids is not None:  # the prefix matters
        model.set_active_adapters(None)
        with torch.no_grad():
            base = model(input_ids=ids).logits
        model.set_active_adapters("a")
        with torch.no_grad():
            assert (model(input_ids=ids).logits - base).abs().max() > 1e-2


def test_prefix_geometry_follows_grouped_query_attention():
    model = _model("llama")
    prefix = model.base_model.prefix_tuning.prefix_tunings["a"]["self_prefix"]
    assert (prefix.n_heads, prefix.head_dim, prefix.n_layers) == (2, 8, 2)  # num_key_value_heads=2
    assert prefix.layer_keys_values(1).shape == (2, 2, 4, 8)
    assert prefix.control_trans[2].weight.shape == (2 * 2 * 2 * 8, 16)


def test_attention_with_prefix_equals_a_hand_computed_softmax():
    model = build("bert")
    adapters.init(model)
    model.add_adapter("a", config="prefix_tuning[prefix_length=3, bottleneck_size=8]", set_active=True)
    randomize_adapter(model, "a", std=0.5)
    attention = model.encoder.layer[0].attention.self
    seen = {}
    handle = attention.register_forward_hook(
        lambda m, a, kw, out: seen.update(x=a[0] if a else kw["hidden_states"], out=out[0]), with_kwargs=True
    )
    ids = inputs("bert")["input_ids"][:1]
    with torch.no_grad():
        model(input_ids=ids)
    handle.remove()
    x = seen["x"]

    def heads(t):
        return t.view(1, -1, 4, 8).transpose(1, 2)

    q, k, v = heads(attention.query(x)), heads(attention.key(x)), heads(attention.value(x))
    prefix = model.base_model.prefix_tuning.prefix_tunings["a"]["self_prefix"].layer_keys_values(0)
    k, v = torch.cat([prefix[0][None], k], 2), torch.cat([prefix[1][None], v], 2)
    expected = (torch.softmax(q @ k.transpose(-1, -2) / 8**0.5, -1) @ v).transpose(1, 2).reshape(1, -1, 32)
    torch.testing.assert_close(seen["out"], expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("family", ["bert", "llama", "t5"])
def test_leave_out_and_locations(family):
    model = adapter_model(family)
    model.add_adapter("a", config="prefix_tuning[prefix_length=2, bottleneck_size=8, leave_out=[0], use_gating=True]")
    layers = model.get_adapter("a")
    assert 0 not in layers
    pool = model.base_model.prefix_tuning.prefix_tunings["a"]
    if family == "t5":  # encoder layer 1; decoder layers 2 and 3 (self + cross)
        assert {k: pool[k].n_layers for k in pool} == {"encoder_prefix": 1, "self_prefix": 2, "cross_prefix": 2}
        assert set(layers[2]) == {"self_prefix", "cross_prefix"}
        keys = [k for k in model.state_dict() if "prefix_gates" in k]
        assert "decoder.block.0.layer.1.EncDecAttention.prefix_tuning.prefix_gates.a.weight" in keys
    else:
        assert pool["self_prefix"].n_layers == 1 and set(layers[1]) == {"self_prefix"}
    no_cross = adapter_model(family)
    no_cross.add_adapter("b", config="prefix_tuning[prefix_length=2, cross_prefix=False, encoder_prefix=False]")
    assert set(no_cross.base_model.prefix_tuning.prefix_tunings["b"]) == {"self_prefix"}


@pytest.mark.parametrize("family", ["bert", "llama", "t5"])
def test_eject_keeps_outputs_and_saves_flat(family, tmp_path):
    batch = inputs(family)
    model = _model(family, spec="prefix_tuning[prefix_length=3, bottleneck_size=16, use_gating=True]")
    before = _run(model, batch)
    model.eject_prefix_tuning("a")
    assert model.adapters_config.get("a").flat
    assert all(k.endswith("control_trans") or "prefix_gates" in k for k in model.state_dict() if ".a." in k)
    torch.testing.assert_close(_run(model, batch), before, atol=1e-6, rtol=0)
    model.save_adapter(tmp_path / "a", "a")
    fresh = adapter_model(family)
    fresh.set_attn_implementation("sdpa")
    fresh.load_adapter(str(tmp_path / "a"), set_active=True)
    torch.testing.assert_close(_run(fresh, batch), before, atol=1e-6, rtol=0)
    with pytest.raises(UnsupportedMethodError):
        model.add_adapter("lora", config="lora")
        model.eject_prefix_tuning("lora")


def _prefix_keys_seen(model, batch) -> list[torch.Tensor]:
    attention = model.encoder.layer[0].attention.self
    seen = []

    def spy(call):
        seen.append(call.key)
        return call

    add_attention_hook(attention, "spy", spy)  # runs after prefix tuning's hook
    try:
        _run(model, batch)
    finally:
        remove_attention_hook(attention, "spy")
    return seen


def test_stack_prepends_right_to_left_and_split_average_are_refused():
    model = adapter_model("bert")
    model.add_adapter("a", config="prefix_tuning[prefix_length=2, bottleneck_size=8]")
    model.add_adapter("b", config="prefix_tuning[prefix_length=3, flat=True]")
    randomize_adapter(model, "a")
    randomize_adapter(model, "b")
    batch = _unpadded("bert")
    model.set_active_adapters(Stack("a", "b"))
    (keys,) = _prefix_keys_seen(model, batch)
    pool = model.base_model.prefix_tuning.prefix_tunings
    expected = torch.cat([pool[n]["self_prefix"].layer_keys_values(0)[0] for n in ("b", "a")], 1)
    assert keys.shape[2] == 2 + 3 + batch["input_ids"].shape[1]
    torch.testing.assert_close(keys[0, :, :5], expected)
    for block in (adapters.Split("a", "b", splits=[3, 4]), adapters.Average("a", "b")):
        allowed = "prefix_tuning adapters support: BatchSplit, MultiTask, Parallel, Stack"
        with pytest.raises(CompositionError, match=allowed):
            model.set_active_adapters(block)


def test_primitives_compose_a_batch_split_by_hand():
    """vslice / compose_single / pad_and_concat give each row its own prefix; padded prefix columns are hidden, so
    each row equals the row run alone with its adapter (the primitives BatchSplit will use)."""
    model = adapter_model("bert")
    model.add_adapter("a", config="prefix_tuning[prefix_length=2, bottleneck_size=8]")
    model.add_adapter("b", config="prefix_tuning[prefix_length=5, bottleneck_size=8]")
    randomize_adapter(model, "a", seed=1)
    randomize_adapter(model, "b", seed=2)
    batch = inputs("bert")
    expected = []
    for row, name in enumerate(("a", "b")):
        model.set_active_adapters(name)
        expected.append(_run(model, {k: v[row : row + 1] for k, v in batch.items()}))
    model.set_active_adapters(Stack("a", "b"))  # makes both hooks active; the split below replaces the Stack
    sites = []
    for layer in model.encoder.layer:
        hooks = layer.attention.self.__dict__["_adapters_attention_hooks"]
        site: PrefixAttentionSite = hooks["prefix_tuning"]
        sites.append(site)

        def split(call, site=site):
            site.runtime.current().scratch.pop(site._key, None)  # the hook ran (what the site's hook marks)
            empty = call.key.new_zeros(2, call.key.shape[1], 0, call.key.shape[-1])
            state = PrefixState(empty, empty, None, None)
            parts = [site.compose_single(n, site.vslice(state, slice(i, i + 1))) for i, n in enumerate("ab")]
            joined = site.pad_and_concat(parts)
            assert joined.visible is not None and not bool(joined.visible[0, :3].any())
            return prepend_keys_values(call, joined.keys, joined.values, joined.visible)

        hooks["prefix_tuning"] = split
    got = _run(model, batch)
    for row in range(2):
        torch.testing.assert_close(got[row : row + 1], expected[row], atol=1e-5, rtol=0)
    zeros = torch.zeros(1, 2, 3, 4)
    with pytest.raises(CompositionError):
        sites[0].weighted_sum([PrefixState(zeros, zeros, None, None)], [1.0])


def test_unsupported_backends_raise():
    """A backend switched after adding is caught at the attention call (a registered custom kernel stands in for
    flex/flash here: they need a GPU or compile their masks slowly; prepend_keys_values is tested for them too)."""
    from transformers import AttentionInterface
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    AttentionInterface.register("custom_kernel", sdpa_attention_forward)
    try:
        model = _model("bert")
        model.config._attn_implementation = "custom_kernel"
        with pytest.raises(UnsupportedAttentionError, match="custom_kernel"):
            _run(model, inputs("bert"))
    finally:
        del AttentionInterface._global_mapping["custom_kernel"]
    fresh = adapter_model("bert")
    fresh.config._attn_implementation = "flash_attention_2"
    with pytest.raises(UnsupportedMethodError, match="flash_attention_2"):
        fresh.add_adapter("a", config=SPEC)
    assert "a" not in fresh.adapters_config


def test_attention_that_bypasses_the_interface_raises():
    config = transformers.GPT2Config(vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=4, reorder_and_upcast_attn=True)
    model = transformers.GPT2Model(config).eval()
    model.set_attn_implementation("eager")
    adapters.init(model)
    with pytest.raises(UnsupportedMethodError, match="reorder_and_upcast_attn"):
        model.add_adapter("a", config=SPEC)
    model.config.reorder_and_upcast_attn = False
    model.add_adapter("a", config=SPEC, set_active=True)
    model.config.reorder_and_upcast_attn = True  # GPT-2 computes eager attention itself: the prefix cannot extend it
    with pytest.raises(UnsupportedAttentionError, match="reorder_and_upcast_attn"):
        _run(model, {"input_ids": inputs("gpt2")["input_ids"]})


def test_a_stack_with_blocks_of_other_methods_runs():
    """Stack(prefix, Fuse(x, y)): the attention modules run the prefix; the Fuse concerns the bottleneck layers."""
    model = adapter_model("bert")
    model.add_adapter("p", config="prefix_tuning[prefix_length=2, bottleneck_size=8]")
    model.add_adapter("x", config="seq_bn")
    model.add_adapter("y", config="seq_bn")
    model.add_adapter_fusion(adapters.Fuse("x", "y"))
    randomize_adapter(model, "p", std=0.5)
    batch = inputs("bert")
    model.set_active_adapters(adapters.Fuse("x", "y"))
    fused = _run(model, batch)
    model.set_active_adapters(Stack("p", adapters.Fuse("x", "y")))
    assert (_run(model, batch) - fused).abs().max() > 1e-3

"""ReFT: the intervention math, which positions it touches, layer selection, tied weights, orthogonality, keys."""

from __future__ import annotations

import pytest
import torch
from methods.generation import assert_cached_generation_equals_uncached, generation_model

from adapters import LoReftConfig, NoReftConfig, ReftConfig
from adapters.methods.reft import reft_position_masks
from contract.helpers import adapter_model, randomize_adapter
from tiny_models import ENCODER_DECODER, FAMILIES, inputs


def _hidden(model, batch, layer_output: int) -> torch.Tensor:
    with torch.no_grad():
        out = model(**batch, output_hidden_states=True)
    states = out.decoder_hidden_states if layer_output >= 2 and hasattr(out, "decoder_hidden_states") else None
    if states is not None:
        return states[layer_output - 1]
    return out.hidden_states[layer_output + 1] if hasattr(out, "hidden_states") else None


@pytest.mark.parametrize("family", [f for f in FAMILIES if f not in ENCODER_DECODER])
@pytest.mark.parametrize("padding", ["right", "left"])
def test_only_the_intended_positions_change(family, padding):
    """Layer 0's output changes exactly at the first 2 and the last 1 non-padding tokens of each row."""
    batch = inputs(family)
    if family != "vit" and padding == "left":
        batch = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"].flip(1)}
    model = adapter_model(family)
    base = _hidden(model, batch, 0)
    model.add_adapter("a", config="noreft[prefix_positions=2, suffix_positions=1, r=2, layers=[0]]", set_active=True)
    randomize_adapter(model, "a", std=0.5)
    adapted = _hidden(model, batch, 0)
    changed = (adapted - base).abs().amax(-1) > 1e-6
    expected = torch.zeros_like(changed)
    mask = batch.get("attention_mask", torch.ones(changed.shape, dtype=torch.long))
    for row in range(changed.shape[0]):
        real = mask[row].nonzero().flatten().tolist()
        for position in real[:2] + real[-1:]:
            expected[row, position] = True
    assert torch.equal(changed, expected)
    untouched = ~expected.unsqueeze(-1)
    assert torch.equal(adapted * untouched, base * untouched)  # bit-identical elsewhere


def test_unit_math_matches_the_formula():
    model = adapter_model("bert")
    model.add_adapter("a", config="noreft[prefix_positions=1, r=2, layers=[0], dropout=0.0]", set_active=True)
    randomize_adapter(model, "a", std=0.5)
    unit = model.encoder.layer[0].reft_layer.refts["a"].units[0]
    h = torch.randn(3, 32)
    W, b, R = unit.learned_source.weight, unit.learned_source.bias, unit.projection.weight
    torch.testing.assert_close(unit(h), h + ((h @ W.t() + b) - h @ R.t()) @ R)
    model.add_adapter("d", config="direft[prefix_positions=1, r=2, layers=[0], non_linearity='tanh']")
    randomize_adapter(model, "d", std=0.5)
    unit = model.encoder.layer[0].reft_layer.refts["d"].units[0]
    W, b, R = unit.learned_source.weight, unit.learned_source.bias, unit.projection.weight
    torch.testing.assert_close(unit.eval()(h), h + torch.tanh(h @ W.t() + b) @ R)


def test_orthogonal_projection_keys_and_rank():
    model = adapter_model("bert")
    model.add_adapter("a", config=LoReftConfig(r=3))
    randomize_adapter(model, "a")
    for _, layer in model.iter_layers():
        units = layer.reft_layer.refts["a"].units
        assert len(units) == 2  # prefix and suffix units (the reference's layout, even with suffix_positions=0)
        R = units[0].projection.weight
        assert R.shape == (3, 32)
        torch.testing.assert_close(R @ R.t(), torch.eye(3), atol=1e-5, rtol=0)
    keys = {k for k in model.state_dict() if ".refts.a." in k}
    assert "encoder.layer.0.reft_layer.refts.a.units.0.projection.parametrizations.weight.original" in keys
    assert "encoder.layer.0.reft_layer.refts.a.units.0.projection.parametrizations.weight.0.base" in keys
    assert "encoder.layer.1.reft_layer.refts.a.units.1.learned_source.bias" in keys


def test_layers_selection_and_tied_weights():
    model = adapter_model("t5")
    model.add_adapter("a", config=NoReftConfig(layers=[1, 3], tied_weights=True, r=2))
    assert sorted(model.get_adapter("a")) == [1, 3]
    modules = model.get_adapter("a")
    assert all(len(by["output_reft"].units) == 1 for by in modules.values())
    assert model.decoder.block[1].reft_layer.refts["a"].units[0].projection.weight.shape == (2, 32)
    assert not hasattr(model.encoder.block[0], "reft_layer")


def test_dropout_and_dtype_follow_the_config():
    model = adapter_model("llama")
    model.add_adapter("a", config=ReftConfig(layers="all", prefix_positions=1, suffix_positions=0, r=1,
                                             orthogonality=False, dropout=0.3, dtype="float64"))  # fmt: skip
    unit = model.layers[0].reft_layer.refts["a"].units[0]
    assert unit.dropout.p == 0.3 and unit.learned_source.weight.dtype == torch.float64
    model.set_active_adapters("a")
    with torch.no_grad():
        assert model(**inputs("llama")).last_hidden_state.dtype == torch.float32


@pytest.mark.parametrize("family", ["t5", "bart"])
def test_decoder_positions_come_from_the_decoder_mask(family):
    """Encoder-decoder models: decoder layers use decoder_attention_mask (the reference used the encoder's)."""
    batch = dict(inputs(family))
    batch["decoder_attention_mask"] = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    model = adapter_model(family)
    layer = 2  # the first decoder layer
    base = _hidden(model, batch, layer)
    model.add_adapter("a", config=f"noreft[prefix_positions=1, suffix_positions=1, layers=[{layer}]]", set_active=True)
    randomize_adapter(model, "a", std=0.5)
    changed = (_hidden(model, batch, layer) - base).abs().amax(-1) > 1e-6
    assert changed.tolist() == [[True, False, False, False, True], [True, False, True, False, False]]


def test_position_masks_with_a_kv_cache():
    mask = torch.tensor([[0, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]])
    prefix, suffix = reft_position_masks(2, 6, mask, 0, 2, 1, torch.device("cpu"))
    assert prefix.tolist() == [[0, 1, 1, 0, 0, 0], [1, 1, 0, 0, 0, 0]] and suffix[:, -1].all()
    step_prefix, step_suffix = reft_position_masks(2, 1, mask, 5, 2, 1, torch.device("cpu"))  # the last token
    assert not step_prefix.any() and step_suffix.all()
    none_prefix, _ = reft_position_masks(1, 2, None, 1, 2, 0, torch.device("cpu"))  # positions 1, 2 of 0..2
    assert none_prefix.tolist() == [[True, False]]


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_cached_generation_with_prefix_positions_equals_uncached(family):
    model = generation_model(family, "loreft[prefix_positions=3, r=2]", std=1.0)
    assert_cached_generation_equals_uncached(model, family)

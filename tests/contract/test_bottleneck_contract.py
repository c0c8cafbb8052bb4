"""Contract suite: every bottleneck config on every architecture family (tiny random models).

For each (config, family): the adapter changes outputs once its weights are random; zero-initialised
configurations are the identity; ``train_adapter`` makes exactly the adapter trainable; save → load in a fresh
model reproduces outputs with no missing or unexpected keys (safetensors and .bin); ``delete_adapter`` restores
the original model exactly; ``leave_out`` leaves those layers bare.
"""

from __future__ import annotations

import pytest
import torch

from adapters import AdapterSetup
from adapters.methods import adapter_key_pattern
from contract.configs import SWEEP_FAMILIES, configs_for, load
from contract.helpers import adapter_model, all_hooks, randomize_adapter
from tiny_models import ENCODER_DECODER, inputs, output

GROUPS = ("bottleneck",)
CASES = [(c, f) for c in configs_for(*GROUPS) for f in SWEEP_FAMILIES]


@pytest.fixture(params=CASES, ids=[f"{f}-{c}" for c, f in CASES])
def case(request):
    return request.param


def _model_with_adapter(family: str, spec: str, name: str = "a"):
    model = adapter_model(family)
    model.add_adapter(name, config=load(spec))
    model.set_active_adapters(name)
    return model


def test_changes_outputs_when_weights_are_random(case):
    spec, family = case
    batch = inputs(family)
    model = adapter_model(family)
    base = output(model, batch)
    model.add_adapter("a", config=load(spec), set_active=True)
    randomize_adapter(model, "a")
    adapted = output(model, batch)
    assert adapted.shape == base.shape
    assert (adapted - base).abs().max() > 1e-3
    model.set_active_adapters(None)
    assert torch.equal(output(model, batch), base)


@pytest.mark.parametrize("family", SWEEP_FAMILIES)
@pytest.mark.parametrize(
    "spec",
    ["par_bn", "scaled_par_bn", "seq_bn[init_weights='mam_adapter']", "double_seq_bn[init_weights='mam_adapter']"],
)
def test_zero_initialised_adapters_are_the_identity(spec, family):
    batch = inputs(family)
    model = adapter_model(family)
    base = output(model, batch)
    model.add_adapter("a", config=spec, set_active=True)
    torch.testing.assert_close(output(model, batch), base, atol=1e-6, rtol=0)


def test_train_adapter_makes_exactly_the_adapter_trainable(case):
    spec, family = case
    model = _model_with_adapter(family, spec)
    model.add_adapter("other", config="seq_bn")
    model.train_adapter("a")
    pattern = adapter_key_pattern("a")
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    adapter_params = {n for n, _ in model.named_parameters() if pattern.search(n)}
    expected = {n for n in adapter_params if not n.endswith("phm_rule") or load(spec).learn_phm}
    assert trainable == expected and trainable
    assert model.training
    batch = inputs(family)
    model(**batch).last_hidden_state.sum().backward()
    assert all(p.grad is not None for n, p in model.named_parameters() if n in trainable and "gate" not in n)


@pytest.mark.parametrize("use_safetensors", [True, False], ids=["safetensors", "bin"])
def test_save_load_roundtrip(case, use_safetensors, tmp_path):
    spec, family = case
    batch = inputs(family)
    model = _model_with_adapter(family, spec)
    randomize_adapter(model, "a")
    expected = output(model, batch)
    model.save_adapter(tmp_path / "a", "a", use_safetensors=use_safetensors)
    weights = "adapter.safetensors" if use_safetensors else "pytorch_adapter.bin"
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted(["adapter_config.json", weights])

    fresh = adapter_model(family)
    info: dict = {}
    name = fresh.load_adapter(str(tmp_path / "a"), set_active=True, loading_info=info)
    assert name == "a"
    assert info == {"missing_keys": [], "unexpected_keys": []}
    torch.testing.assert_close(output(fresh, batch), expected, atol=0, rtol=0)


def test_delete_restores_the_original_model(case):
    spec, family = case
    batch = inputs(family)
    model = adapter_model(family)
    base = output(model, batch)
    keys = list(model.state_dict())
    tensors = dict(model.state_dict())
    hooks = all_hooks(model)
    model.add_adapter("a", config=load(spec), set_active=True)
    randomize_adapter(model, "a")
    model.delete_adapter("a")
    assert list(model.state_dict()) == keys
    assert all(model.state_dict()[k].data_ptr() == t.data_ptr() for k, t in tensors.items())
    assert all_hooks(model) == hooks
    assert model.active_adapters is None
    assert torch.equal(output(model, batch), base)


@pytest.mark.parametrize("family", SWEEP_FAMILIES)
def test_leave_out_leaves_layers_bare(family):
    model = adapter_model(family)
    left_out = [i for i in (0, 2) if i < len(list(model.iter_layers()))]  # indices past the layers are refused
    model.add_adapter("a", config=f"double_seq_bn[leave_out={left_out}]")
    layers = model.get_adapter("a")
    assert 0 not in layers and 2 not in layers
    assert 1 in layers and set(layers[1]) >= {"mh_adapter", "output_adapter"}
    for index, layer in model.iter_layers():
        has_adapter = any(".adapters.a." in f".{key}" for key in layer.state_dict())
        assert has_adapter == (index not in left_out)


@pytest.mark.parametrize("family", ENCODER_DECODER)
def test_encoder_decoder_layers_are_indexed_globally(family):
    model = adapter_model(family)
    model.add_adapter("a", config="seq_bn[cross_adapter=True]")
    layers = model.get_adapter("a")
    assert sorted(layers) == [0, 1, 2, 3]
    assert set(layers[0]) == {"output_adapter"}
    assert set(layers[2]) == {"output_adapter", "cross_adapter"}


@pytest.mark.parametrize("family", SWEEP_FAMILIES)
def test_adapter_setup_context_equals_set_active(family):
    batch = inputs(family)
    model = adapter_model(family)
    model.add_adapter("a", config="seq_bn")
    randomize_adapter(model, "a")
    with AdapterSetup("a"):
        in_context = output(model, batch)
    assert model.active_adapters is None
    model.set_active_adapters("a")
    torch.testing.assert_close(output(model, batch), in_context, atol=0, rtol=0)

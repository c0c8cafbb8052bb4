"""Contract suite: the LoRA family (LoRA, (IA)³, DoRA, VeRA, DVoRA, MTL-LoRA) on every architecture family.

For each (config, family): the adapter is the identity at initialisation; random weights change the outputs;
``train_adapter`` makes exactly the adapter trainable (VeRA's shared random pair stays frozen); save -> load
reproduces outputs exactly in both file formats; ``delete_adapter`` restores the base model exactly (same keys,
same tensor objects, no hooks); ``merge_adapter`` gives the unmerged outputs within 1e-5 and ``reset_adapter``
restores the weights bit for bit. Where the reference cannot run a config (GPT-2 DoRA/VeRA/MTL-LoRA, VeRA on
grouped-query attention, VeRA on layers of different shapes) this suite shows ours does; see docs/methods/lora.md.
"""

from __future__ import annotations

import pytest
import torch

from adapters.methods import adapter_key_pattern
from contract.configs import SWEEP_FAMILIES, configs_for
from contract.helpers import adapter_model, all_hooks, randomize_adapter
from tiny_models import inputs, output

GROUPS = ("lora", "mtl_lora")
CASES = [(c, f) for c in configs_for(*GROUPS) for f in SWEEP_FAMILIES]


@pytest.fixture(params=CASES, ids=[f"{f}-{c}" for c, f in CASES])
def case(request):
    return request.param


def _base_tensors(model) -> dict[str, torch.Tensor]:
    pattern = adapter_key_pattern("a")
    return {k: v for k, v in model.state_dict().items() if not pattern.search(k)}


def test_identity_at_initialisation(case):
    spec, family = case
    batch = inputs(family)
    model = adapter_model(family)
    base = output(model, batch)
    model.add_adapter("a", config=spec, set_active=True)
    adapted = output(model, batch)
    if spec.startswith(("dora", "dvora")):  # m / ‖W‖ is 1 up to rounding of the two norm computations
        torch.testing.assert_close(adapted, base, atol=1e-6, rtol=0)
    else:
        assert torch.equal(adapted, base)


def test_changes_outputs_when_weights_are_random(case):
    spec, family = case
    batch = inputs(family)
    model = adapter_model(family)
    base = output(model, batch)
    model.add_adapter("a", config=spec, set_active=True)
    randomize_adapter(model, "a")
    adapted = output(model, batch)
    assert adapted.shape == base.shape
    assert (adapted - base).abs().max() > 1e-3
    model.set_active_adapters(None)
    assert torch.equal(output(model, batch), base)


def test_train_adapter_makes_exactly_the_adapter_trainable(case):
    spec, family = case
    model = adapter_model(family)
    model.add_adapter("a", config=spec)
    model.add_adapter("other", config="lora")
    randomize_adapter(model, "a")
    model.train_adapter("a")
    pattern = adapter_key_pattern("a")
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {n for n, _ in model.named_parameters() if pattern.search(n)} and trainable
    shared = [n for n, _ in model.named_buffers() if n.startswith("shared_parameters.a.")]
    assert bool(shared) == spec.startswith(("vera", "dvora"))  # VeRA's frozen pair: buffers, never trained
    model(**inputs(family)).last_hidden_state.sum().backward()
    assert all(p.grad is not None for n, p in model.named_parameters() if n in trainable)


@pytest.mark.parametrize("use_safetensors", [True, False], ids=["safetensors", "bin"])
def test_save_load_roundtrip(case, use_safetensors, tmp_path):
    spec, family = case
    batch = inputs(family)
    model = adapter_model(family)
    model.add_adapter("a", config=spec, set_active=True)
    randomize_adapter(model, "a")
    expected = output(model, batch)
    model.save_adapter(tmp_path / "a", "a", use_safetensors=use_safetensors)
    fresh = adapter_model(family, seed=0)
    info: dict = {}
    assert fresh.load_adapter(str(tmp_path / "a"), set_active=True, loading_info=info) == "a"
    assert info == {"missing_keys": [], "unexpected_keys": []}
    assert torch.equal(output(fresh, batch), expected)


def test_delete_restores_the_original_model(case):
    spec, family = case
    batch = inputs(family)
    model = adapter_model(family)
    base = output(model, batch)
    tensors = dict(model.state_dict())
    params = dict(model.named_parameters())
    hooks = all_hooks(model)
    model.add_adapter("a", config=spec, set_active=True)
    randomize_adapter(model, "a")
    assert list(_base_tensors(model)) == list(tensors)  # base keys unchanged while attached
    model.merge_adapter("a")
    model.delete_adapter("a")
    assert list(model.state_dict()) == list(tensors)
    assert all(model.state_dict()[k].data_ptr() == t.data_ptr() for k, t in tensors.items())
    assert all(p is params[n] for n, p in model.named_parameters())
    assert all_hooks(model) == hooks
    assert not any(hasattr(m, "loras") for m in model.modules())
    assert model.active_adapters is None
    assert torch.equal(output(model, batch), base)


def test_merge_equals_unmerged_and_reset_is_exact(case):
    spec, family = case
    batch = inputs(family)
    model = adapter_model(family)
    model.add_adapter("a", config=spec, set_active=True)
    randomize_adapter(model, "a")
    unmerged = output(model, batch)
    before = {k: v.clone() for k, v in _base_tensors(model).items()}
    model.merge_adapter("a")
    merged = output(model, batch)
    torch.testing.assert_close(merged, unmerged, atol=1e-5, rtol=0)
    model.set_active_adapters(None)  # merged weights act whatever the setup ... until set_active un-merges
    assert all(torch.equal(v, before[k]) for k, v in _base_tensors(model).items())
    model.merge_adapter("a")
    model.reset_adapter()
    assert all(torch.equal(v, before[k]) for k, v in _base_tensors(model).items())
    model.set_active_adapters("a")
    assert torch.equal(output(model, batch), unmerged)

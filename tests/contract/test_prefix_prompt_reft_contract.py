"""Contract suite: prefix tuning, prompt tuning, ReFT and the MAM/UniPELT unions on every family that supports them.

Support (reference §7, plus what we add): prefix tuning, ReFT, MAM and UniPELT on all 13 families (the reference
has no prefix tuning for Qwen2, which it runs through its plugin interface); prompt tuning on the encoders (as the
reference) and on the decoder-only families (GPT-2, Llama, Mistral, Qwen2; the reference has none), not on
encoder-decoder models.

For each (config, family): random weights change the outputs and deactivating restores the base outputs exactly;
``train_adapter`` makes exactly the adapter trainable and every trainable parameter gets a gradient; save -> load
reproduces outputs exactly with no missing or unexpected keys; ``delete_adapter`` restores the model exactly (keys,
tensor objects, hooks, attention hooks); an ``AdapterSetup`` context equals ``set_active_adapters``.
"""

from __future__ import annotations

import pytest
import torch

from adapters import AdapterSetup
from adapters.architectures.attention import attention_hooks
from adapters.methods import adapter_key_pattern
from contract.configs import SWEEP_FAMILIES, UNIONS, configs_for, load
from contract.helpers import adapter_model, all_hooks, randomize_adapter
from tiny_models import ENCODER_DECODER, inputs

GROUPS = ("prefix_tuning", "prompt_tuning", "reft", UNIONS)
PROMPT_FAMILIES = tuple(f for f in SWEEP_FAMILIES if f not in ENCODER_DECODER)
REFT = configs_for("reft")

CASES = [(c, f) for c in configs_for("prefix_tuning", "reft", UNIONS) for f in SWEEP_FAMILIES]
CASES += [(c, f) for c in configs_for("prompt_tuning") for f in PROMPT_FAMILIES]


def _config(spec: str):
    return load(spec)


@pytest.fixture(params=CASES, ids=[f"{f}-{c}" for c, f in CASES])
def case(request):
    return request.param


def _output(model, batch) -> torch.Tensor:
    with torch.no_grad():
        return model(**batch).last_hidden_state


def test_changes_outputs_and_deactivation_restores_the_base(case):
    spec, family = case
    batch = inputs(family)
    model = adapter_model(family)
    base = _output(model, batch)
    model.add_adapter("a", config=_config(spec), set_active=True)
    randomize_adapter(model, "a")
    adapted = _output(model, batch)
    if spec.startswith("prompt"):  # the prompt positions are part of the output
        assert adapted.shape[1] == base.shape[1] + load(spec).prompt_length
    else:
        assert adapted.shape == base.shape
        assert (adapted - base).abs().max() > 1e-3
    model.set_active_adapters(None)
    assert torch.equal(_output(model, batch), base)


def test_train_adapter_makes_exactly_the_adapter_trainable(case):
    spec, family = case
    model = adapter_model(family)
    model.add_adapter("a", config=_config(spec))
    model.add_adapter("other", config="seq_bn")
    randomize_adapter(model, "a")
    model.train_adapter("a")
    pattern = adapter_key_pattern("a")
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {n for n, _ in model.named_parameters() if pattern.search(n)} and trainable
    for module in model.modules():  # deterministic gradients
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    model(**inputs(family)).last_hidden_state.pow(2).sum().backward()
    missing = [n for n, p in model.named_parameters() if n in trainable and (p.grad is None or not p.grad.any())]
    if load(spec).suffix_positions == 0 if spec in REFT else False:  # suffix unit exists (reference layout), unused
        missing = [n for n in missing if ".units.1." not in n]
    assert not missing, missing


def test_save_load_roundtrip(case, tmp_path):
    spec, family = case
    batch = inputs(family)
    model = adapter_model(family)
    model.add_adapter("a", config=_config(spec), set_active=True)
    randomize_adapter(model, "a")
    expected = _output(model, batch)
    use_safetensors = spec != REFT[0]  # one config per method family of configs also goes through .bin
    model.save_adapter(tmp_path / "a", "a", use_safetensors=use_safetensors)
    fresh = adapter_model(family, seed=0)
    info: dict = {}
    assert fresh.load_adapter(str(tmp_path / "a"), set_active=True, loading_info=info) == "a"
    assert info == {"missing_keys": [], "unexpected_keys": []}
    assert torch.equal(_output(fresh, batch), expected)


def _attention_hook_count(model) -> int:
    return sum(len(attention_hooks(m)) for m in model.modules())


def test_delete_restores_the_original_model(case):
    spec, family = case
    batch = inputs(family)
    model = adapter_model(family)
    base = _output(model, batch)
    tensors = dict(model.state_dict())
    hooks = all_hooks(model)
    model.add_adapter("a", config=_config(spec), set_active=True)
    randomize_adapter(model, "a")
    pattern = adapter_key_pattern("a")
    assert [k for k in model.state_dict() if not pattern.search(k)] == list(tensors)  # base keys unchanged
    model.delete_adapter("a")
    assert list(model.state_dict()) == list(tensors)
    assert all(model.state_dict()[k].data_ptr() == t.data_ptr() for k, t in tensors.items())
    assert all_hooks(model) == hooks
    assert _attention_hook_count(model) == 0
    assert not any(hasattr(m, name) for m in model.modules() for name in ("prefix_tuning", "prompt_tuning"))
    assert not any(hasattr(m, "reft_layer") for m in model.modules())
    assert model.active_adapters is None
    assert torch.equal(_output(model, batch), base)


def test_adapter_setup_context_equals_set_active(case):
    spec, family = case
    batch = inputs(family)
    model = adapter_model(family)
    model.add_adapter("a", config=_config(spec))
    randomize_adapter(model, "a")
    with AdapterSetup("a"):
        in_context = _output(model, batch)
    model.set_active_adapters("a")
    assert torch.equal(_output(model, batch), in_context)

"""MTL-LoRA: parameter sharing between task adapters and routing examples by task_ids."""

from __future__ import annotations

import pytest
import torch

from adapters import MultiTask, Split
from adapters.errors import AdapterConfigError, CompositionError, UnsupportedMethodError
from adapters.methods.lora import LoRALayer
from contract.helpers import adapter_model, all_hooks, randomize_adapter
from tiny_models import inputs, output


def _tasks(family: str = "bert", names=("t0", "t1", "t2")):
    model = adapter_model(family)
    for seed, name in enumerate(names):
        model.add_adapter(name, config="mtl_lora[n_up_projection=2]")
        randomize_adapter(model, name, seed=seed)
    return model


def _layers(model):
    return [m for m in model.modules() if isinstance(m, LoRALayer)]


def test_share_ties_a_and_b_to_the_reference_values_and_unshare_unties():
    model = _tasks()
    reference = {id(layer): layer["t1"].lora_A.detach().clone() for layer in _layers(model)}
    model.share_parameters(MultiTask("t0", "t1", "t2"), reference_adapter_name="t1")
    for layer in _layers(model):
        assert layer["t0"].lora_A is layer["t1"].lora_A is layer["t2"].lora_A
        assert layer["t0"].lora_B is layer["t2"].lora_B
        assert torch.equal(layer["t0"].lora_A, reference[id(layer)])
        assert layer["t0"].task_specific.values is not layer["t1"].task_specific.values
    model.train_adapter(MultiTask("t0", "t1", "t2"))  # shared parameters are trainable through every task
    assert all(layer["t0"].lora_A.requires_grad for layer in _layers(model))
    model.unshare_parameters("t0,t1,t2")
    for layer in _layers(model):
        assert layer["t0"].lora_A is not layer["t1"].lora_A
        assert torch.equal(layer["t0"].lora_A, layer["t1"].lora_A)


def test_share_checks_config_types_and_membership():
    model = _tasks(names=("t0", "t1"))
    model.add_adapter("plain", config="lora")
    with pytest.raises(UnsupportedMethodError, match="multi-task adapters"):
        model.share_parameters(["t0", "plain"])
    model.share_parameters(["t0", "t1"], name="group")
    with pytest.raises(AdapterConfigError, match="already shares"):
        model.share_parameters(["t0", "t1"])
    model.delete_adapter("t1")  # leaves t0 with its (formerly shared) parameters
    assert all(not layer.shares for layer in _layers(model))


@pytest.mark.parametrize("family", ["bert", "gpt2", "t5"])
def test_multitask_routes_each_example_to_its_task_adapter(family):
    model = _tasks(family, names=("t0", "t1"))
    batch = inputs(family)
    singles = []
    for name in ("t0", "t1"):
        model.set_active_adapters(name)
        singles.append(output(model, batch))
    hooks = all_hooks(model)
    model.set_active_adapters(MultiTask("t0", "t1"))
    with torch.no_grad():
        routed = model(**batch, task_ids=torch.tensor([1, 0])).last_hidden_state
        by_name = model(**batch, task_ids=["t1", "t0"]).last_hidden_state
    torch.testing.assert_close(routed[0], singles[1][0], atol=1e-6, rtol=0)
    torch.testing.assert_close(routed[1], singles[0][1], atol=1e-6, rtol=0)
    assert torch.equal(by_name, routed)
    assert all_hooks(model) == hooks
    with pytest.raises(CompositionError, match="needs task_ids"):
        output(model, batch)
    with pytest.raises(CompositionError, match="not in the MultiTask"):
        model(**batch, task_ids=["t1", "nope"])
    for name in ("t0", "t1"):
        model.delete_adapter(name)
    assert all_hooks(model) < hooks


def test_multitask_takes_plain_lora_adapters_but_not_unsupported_blocks():
    model = adapter_model("bert")
    model.add_adapter("a", config="lora")
    model.add_adapter("b", config="lora")
    model.set_active_adapters(MultiTask("a", "b"))  # every LoRA-family adapter routes rows (issue 10)
    assert model.active_adapters == MultiTask("a", "b")
    with pytest.raises(CompositionError, match=r"'a' \(lora\) cannot be used in a Split block"):
        model.set_active_adapters(Split("a", "b", splits=[1, 1]))

"""Contract suite: gradient checkpointing for every registered method (and Fuse) on every family.

With ``use_reentrant`` True and False, an ``AdapterSetup`` block around the forward only and ``backward`` after it
(as trainers do), the adapter gradients equal those of the run without checkpointing. Each group runs its first
contract config (tests/contract/configs.py); MTL-LoRA runs as a ``MultiTask`` of two adapters with ``task_ids``.
"""

from __future__ import annotations

import pytest
import torch

from adapters import AdapterSetup, Fuse, MultiTask
from contract.configs import SWEEP_FAMILIES, configs_for, load, registered_groups
from contract.helpers import adapter_model, make_trainable, randomize_adapter
from tiny_models import ENCODER_DECODER, inputs

pytestmark = pytest.mark.filterwarnings("ignore:.*gradient_checkpointing_enable.*:FutureWarning")

FUSE = "fuse"
GROUPS = sorted(registered_groups()) + [FUSE]
UNSUPPORTED = {("prompt_tuning", family) for family in ENCODER_DECODER}
CASES = [(group, family) for group in GROUPS for family in SWEEP_FAMILIES if (group, family) not in UNSUPPORTED]


def _add(model, group: str):
    """Add the group's adapters; returns (names, setup, forward kwargs)."""
    if group == FUSE:
        for name in ("x", "y"):
            model.add_adapter(name, config="seq_bn[reduction_factor=4]")
        model.add_adapter_fusion(["x", "y"], config="dynamic[temperature=True]")
        return ["x", "y"], Fuse("x", "y"), {}
    spec = configs_for(group)[0]
    if group == "mtl_lora":
        for name in ("t0", "t1"):
            model.add_adapter(name, config=load(spec))
        return ["t0", "t1"], MultiTask("t0", "t1"), {"task_ids": [1, 0]}
    model.add_adapter("a", config=load(spec))
    return ["a"], "a", {}


def _grads(family: str, group: str, checkpointing: dict | None) -> dict[str, torch.Tensor | None]:
    model = adapter_model(family)
    names, setup, call_kwargs = _add(model, group)
    for name in names:
        randomize_adapter(model, name)
    make_trainable(model, names, checkpointing)
    with AdapterSetup(setup):
        hidden = model(**inputs(family), **call_kwargs).last_hidden_state
    hidden.pow(2).mean().backward()
    return {n: None if p.grad is None else p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize(("group", "family"), CASES, ids=[f"{f}-{g}" for g, f in CASES])
@pytest.mark.parametrize("use_reentrant", [True, False])
def test_checkpointing_gives_the_gradients_of_the_plain_run(group, family, use_reentrant):
    plain = _grads(family, group, None)
    checkpointed = _grads(family, group, {"use_reentrant": use_reentrant})
    assert plain.keys() == checkpointed.keys() and plain
    assert [n for n in plain if plain[n] is None] == [n for n in checkpointed if checkpointed[n] is None]
    for name, grad in plain.items():
        if grad is not None:
            torch.testing.assert_close(checkpointed[name], grad, atol=1e-6, rtol=1e-4, msg=name)
    assert any(grad is not None and grad.abs().max() > 0 for grad in plain.values())

"""Bottleneck adapters under activation checkpointing give the same gradients as without."""

from __future__ import annotations

import pytest
import torch

from contract.helpers import adapter_model, randomize_adapter
from tiny_models import inputs

pytestmark = pytest.mark.filterwarnings("ignore:.*gradient_checkpointing_enable.*:FutureWarning")


def _adapter_grads(family: str, spec: str, checkpointing: dict | None) -> dict[str, torch.Tensor]:
    model = adapter_model(family)
    model.add_adapter("a", config=spec)
    randomize_adapter(model, "a")
    model.train_adapter("a")
    for module in model.modules():  # deterministic: no dropout
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    if checkpointing is not None:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=checkpointing)
    model(**inputs(family)).last_hidden_state.pow(2).sum().backward()
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("family", ["bert", "llama", "t5", "bart"])
@pytest.mark.parametrize("spec", ["seq_bn", "double_seq_bn_inv", "par_bn"])
@pytest.mark.parametrize("use_reentrant", [True, False])
def test_checkpointing_gives_same_gradients(family, spec, use_reentrant):
    plain = _adapter_grads(family, spec, None)
    checkpointed = _adapter_grads(family, spec, {"use_reentrant": use_reentrant})
    assert plain.keys() == checkpointed.keys() and plain
    for name, grad in plain.items():
        torch.testing.assert_close(checkpointed[name], grad, atol=1e-6, rtol=1e-5, msg=name)
    assert any(grad.abs().max() > 0 for grad in plain.values())

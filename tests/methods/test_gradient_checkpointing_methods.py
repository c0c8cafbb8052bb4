"""Prefix tuning, prompt tuning, ReFT and the MAM/UniPELT unions under activation checkpointing (use_reentrant True
and False) give the same gradients as without.

Prefixes are computed inside each attention call, so a re-run of a checkpointed layer recomputes them (computing
them once per forward outside the layers breaks ``use_reentrant=True``); prompts are inserted before the first
layer and ReFT edits layer outputs outside the checkpointed function.
"""

from __future__ import annotations

import pytest
import torch

from contract.helpers import adapter_model, randomize_adapter
from tiny_models import inputs

pytestmark = pytest.mark.filterwarnings("ignore:.*gradient_checkpointing_enable.*:FutureWarning")

CASES = [
    ("prefix_tuning[prefix_length=3, bottleneck_size=8]", ("bert", "llama", "t5", "bart")),
    ("prefix_tuning[flat=True, prefix_length=2, use_gating=True]", ("gpt2", "t5")),
    ("prompt_tuning[prompt_length=3]", ("bert", "gpt2", "llama")),
    ("loreft[r=2]", ("bert", "llama", "t5")),
    ("noreft[prefix_positions=1, suffix_positions=2, tied_weights=True]", ("distilbert", "bart")),
    ("mam", ("bert", "llama", "t5")),
    ("unipelt", ("bert", "gpt2", "bart")),
]
PARAMS = [(spec, family) for spec, families in CASES for family in families]


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
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad and p.grad is not None}


@pytest.mark.parametrize(("spec", "family"), PARAMS, ids=[f"{f}-{s}" for s, f in PARAMS])
@pytest.mark.parametrize("use_reentrant", [True, False])
def test_checkpointing_gives_same_gradients(spec, family, use_reentrant):
    plain = _adapter_grads(family, spec, None)
    checkpointed = _adapter_grads(family, spec, {"use_reentrant": use_reentrant})
    assert plain.keys() == checkpointed.keys() and plain
    for name, grad in plain.items():
        torch.testing.assert_close(checkpointed[name], grad, atol=1e-6, rtol=1e-5, msg=name)
    assert all(grad.abs().max() > 0 for name, grad in plain.items() if ".units.1." not in name)


@pytest.mark.parametrize("use_reentrant", [True, False])
def test_prefixes_are_recomputed_inside_the_checkpointed_layers(use_reentrant, monkeypatch):
    from adapters.methods.prefix_tuning import PrefixTuning

    calls = []
    original = PrefixTuning.layer_keys_values
    monkeypatch.setattr(PrefixTuning, "layer_keys_values", lambda self, i: calls.append(i) or original(self, i))
    model = adapter_model("bert")
    model.add_adapter("a", config="prefix_tuning[prefix_length=2, bottleneck_size=8]")
    model.train_adapter("a")
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": use_reentrant})
    model(**inputs("bert")).last_hidden_state.sum().backward()
    assert sorted(calls) == [0, 0, 1, 1]  # each layer: once in the forward, once when recomputed for backward

"""Prefixes are computed inside each attention call, so a re-run of a checkpointed layer recomputes them (computing
them once per forward outside the layers breaks ``use_reentrant=True``). Gradients under checkpointing for every
method on every family: tests/contract/test_checkpointing_contract.py.
"""

from __future__ import annotations

import pytest

from contract.helpers import adapter_model
from tiny_models import inputs

pytestmark = pytest.mark.filterwarnings("ignore:.*gradient_checkpointing_enable.*:FutureWarning")


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

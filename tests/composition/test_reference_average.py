"""``Average`` differs from the reference on purpose (weights normalised to sum 1, no extra division by the number of
children); the call docs/compatibility.md gives reproduces the reference's outputs (fixture made by
tests/fixtures/reference/make_average_fixture.py with adapters 1.3.0)."""

from __future__ import annotations

import json

import torch
from safetensors.torch import load_file

from adapters import Average
from reference_helpers import REFERENCE_ROOT, reference_base, reference_inputs

FIXTURE = REFERENCE_ROOT / "average"


def averaged(weights: list[float], **kwargs) -> torch.Tensor:
    model = reference_base("bert")
    model.load_adapter(str(REFERENCE_ROOT / "bert" / "seq_bn"), load_as="a")
    model.load_adapter(str(FIXTURE / "b"))
    model.set_active_adapters(Average("a", "b", weights=weights, **kwargs))
    with torch.no_grad():
        return model(**reference_inputs("bert")).last_hidden_state


def test_documented_weights_reproduce_the_reference_average():
    weights = json.loads((FIXTURE / "expected.json").read_text())["weights"]
    expected = load_file(FIXTURE / "expected.safetensors")["last_hidden_state"]
    n, total = len(weights), sum(weights)
    restored = averaged([w / (n * total) for w in weights], normalize_weights=False)  # docs/compatibility.md
    torch.testing.assert_close(restored, expected, atol=1e-5, rtol=1e-4)
    ours = averaged(weights)
    assert (ours - expected).abs().max() > 1e-2  # the deliberate difference is real
    base = load_file(REFERENCE_ROOT / "bert" / "base_output.safetensors")["last_hidden_state"]
    assert (expected - base).abs().max() > 1e-2  # the reference's adapters were active

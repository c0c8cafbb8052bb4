"""T5 prefix-tuning files written by the reference: loading warns that outputs differ, and
``load_adapter(..., shift_relative_positions=True)`` reproduces the reference's own outputs (``expected.safetensors``,
computed with its shifted relative positions) instead of our corrected ones (``expected_zero_position_bias``)."""

from __future__ import annotations

import json
import logging

import pytest
import torch
from safetensors.torch import load_file

from reference_helpers import REFERENCE_ROOT, reference_base, reference_outputs

METHODS = REFERENCE_ROOT / "methods"
T5_PREFIX = sorted(p.parent.name for p in (METHODS / "t5").glob("*/expected_zero_position_bias.safetensors"))


def _close(got: dict, expected: dict) -> None:
    for key, value in expected.items():
        torch.testing.assert_close(got[key], value, atol=1e-5, rtol=1e-4, msg=key)


def test_all_t5_prefix_fixtures_are_covered():
    assert {"prefix_tuning", "prefix_tuning_flat", "prefix_tuning_no_encoder", "mam", "unipelt"} <= set(T5_PREFIX)


@pytest.mark.parametrize("fixture", T5_PREFIX)
def test_shift_relative_positions_reproduces_the_reference(fixture, caplog, tmp_path):
    folder = METHODS / "t5" / fixture
    model = reference_base("t5")
    with caplog.at_level(logging.WARNING, logger="adapters"):
        model.load_adapter(str(folder), set_active=True)
    assert "shift_relative_positions=True" in caplog.text
    _close(reference_outputs(model, "t5"), load_file(folder / "expected_zero_position_bias.safetensors"))

    shifted = reference_base("t5")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="adapters"):
        shifted.load_adapter(str(folder), set_active=True, shift_relative_positions=True)
    assert "shift_relative_positions" not in caplog.text
    _close(reference_outputs(shifted, "t5"), load_file(folder / "expected.safetensors"))

    shifted.save_adapter(str(tmp_path), "a")  # the setting is saved with the adapter and reloads without a warning
    saved = json.loads((tmp_path / "adapter_config.json").read_text())["config"]
    members = saved.get("configs", [saved])
    assert [m["shift_relative_positions"] for m in members if m.get("architecture") == "prefix_tuning"] == [True]
    again = reference_base("t5")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="adapters"):
        again.load_adapter(str(tmp_path), set_active=True)
    assert "shift_relative_positions" not in caplog.text
    _close(reference_outputs(again, "t5"), load_file(folder / "expected.safetensors"))


def test_no_warning_for_families_without_relative_positions(caplog):
    model = reference_base("bart")
    with caplog.at_level(logging.WARNING, logger="adapters"):
        model.load_adapter(str(METHODS / "bart" / "prefix_tuning"))
    assert "shift_relative_positions" not in caplog.text

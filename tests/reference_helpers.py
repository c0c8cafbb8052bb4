"""Shared helpers of the tests that load golden fixtures made by the reference library (tests/fixtures/reference)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import load_file
from transformers import AutoModel

import adapters

REFERENCE_ROOT = Path(__file__).parent / "fixtures" / "reference"


def fixture_cases(manifest: dict, keep: Callable[[str], bool] = lambda name: True) -> list[tuple[str, str]]:
    """``(family, fixture)`` of every fixture the reference could build (no ``error``) whose name passes ``keep``."""
    return [
        (family, name)
        for family, entry in manifest["families"].items()
        for name, fixture in entry["fixtures"].items()
        if "error" not in fixture and keep(name)
    ]


def case_ids(cases: list[tuple[str, str]]) -> list[str]:
    return [f"{family}-{name}" for family, name in cases]


def reference_base(family: str):
    """The family's base model saved by the reference environment, in eval mode, with adapters enabled."""
    model = AutoModel.from_pretrained(REFERENCE_ROOT / family / "base").eval()
    adapters.init(model)
    return model


def reference_inputs(family: str) -> dict[str, torch.Tensor]:
    return load_file(REFERENCE_ROOT / family / "inputs.safetensors")


def reference_outputs(model, family: str, **extra) -> dict[str, torch.Tensor]:
    """The outputs the fixtures record: last hidden state (and the encoder's for encoder-decoder models)."""
    with torch.no_grad():
        out = model(**reference_inputs(family), **extra)
    result = {"last_hidden_state": out.last_hidden_state}
    if getattr(out, "encoder_last_hidden_state", None) is not None:
        result["encoder_last_hidden_state"] = out.encoder_last_hidden_state
    return result

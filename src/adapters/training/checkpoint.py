"""Training checkpoints that hold only what adapter training changes: adapters, heads and fusions.

The layout is the reference's (adapters 1.3 ``AdapterTrainer``): one sub-folder per adapter (``adapter_config.json``
+ weights, with the head of the same name or the model's static head next to it), one per fusion (the folder name is
the fusion's name, ``"a,b"``), one per flexible head (``head_config.json`` + weights). No base-model weight is
written. Loading restores the weights into the same model object: the active setup, the active head, which
parameters are trainable and the device of every parameter stay as they were.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn

from ..errors import AdapterFileNotFoundError, TrainingSetupError
from ..io.atomic import atomic_save
from ..io.format import ADAPTER_CONFIG_NAME, HEAD_CONFIG_NAME
from ..io.fusion import FUSION_CONFIG_NAME
from ..methods.registry import adapter_key_pattern

__all__ = ["save_checkpoint", "load_checkpoint", "has_checkpoint", "saved_parameter_names", "check_trainable"]

_FUSION_MARKER = re.compile(r"(?:^|\.)adapter_fusion_layer\.")


def has_checkpoint(folder: str | Path) -> bool:
    """Whether ``folder`` holds at least one saved adapter (the condition for resuming from it)."""
    folder = Path(folder)
    return folder.is_dir() and any((sub / ADAPTER_CONFIG_NAME).is_file() for sub in folder.iterdir() if sub.is_dir())


@atomic_save("folder")
def save_checkpoint(model: nn.Module, folder: str | Path) -> None:
    """Save every adapter (with its head), every fusion and every flexible head of ``model`` below ``folder``."""
    folder = Path(folder)
    model.save_all_adapters(str(folder))
    model.save_all_adapter_fusions(str(folder))
    if hasattr(model, "save_all_heads"):
        model.save_all_heads(str(folder))


def load_checkpoint(model: nn.Module, folder: str | Path) -> list[str]:
    """Load the adapters, fusions and heads saved below ``folder`` into ``model``; returns the loaded folder names.

    Raises:
        AdapterFileNotFoundError: ``folder`` holds no saved adapter.
    """
    folder = Path(folder)
    if not has_checkpoint(folder):
        raise AdapterFileNotFoundError(
            f"{folder} is not an adapter training checkpoint: no sub-folder with {ADAPTER_CONFIG_NAME}. "
            "Checkpoints written by AdapterTrainer hold one sub-folder per adapter."
        )
    subfolders = sorted(sub for sub in folder.iterdir() if sub.is_dir())
    adapters = [s for s in subfolders if (s / ADAPTER_CONFIG_NAME).is_file() and "," not in s.name]
    fusions = [s for s in subfolders if (s / FUSION_CONFIG_NAME).is_file()]
    heads = [s for s in subfolders if (s / HEAD_CONFIG_NAME).is_file() and s not in adapters and s not in fusions]
    state = _ModelState.capture(model)
    for sub in adapters:
        model.load_adapter(str(sub))
    for sub in fusions:
        model.load_adapter_fusion(str(sub), load_as=sub.name, with_head=False)
    for sub in heads:
        model.load_head(str(sub), load_as=sub.name)
    state.restore(model)
    return [s.name for s in (*adapters, *fusions, *heads)]


class _ModelState:
    """What loading may change and must not: activation, head choice, ``requires_grad`` flags and devices."""

    def __init__(self, setup, skip_layers, head, trainable: dict[str, bool], device: torch.device):
        self.setup, self.skip_layers, self.head = setup, skip_layers, head
        self.trainable, self.device = trainable, device

    @classmethod
    def capture(cls, model: nn.Module) -> _ModelState:
        trainable = {name: p.requires_grad for name, p in model.named_parameters()}
        device = next(model.parameters()).device
        head = model.active_head if hasattr(model, "heads") else None
        return cls(model.active_adapters, model._adapter_runtime.skip_layers or None, head, trainable, device)

    def restore(self, model: nn.Module) -> None:
        for name, param in model.named_parameters():
            if param.device != self.device:
                param.data = param.data.to(self.device)
            if name in self.trainable:
                param.requires_grad_(self.trainable[name])
        model.set_active_adapters(self.setup, skip_layers=self.skip_layers)
        if hasattr(model, "heads"):
            model.active_head = self.head


def saved_parameter_names(model: nn.Module) -> set[str]:
    """Names of the parameters a checkpoint holds: adapters, fusions, flexible heads and a static head."""
    names = [n for n, _ in model.named_parameters()]
    patterns = [adapter_key_pattern(a) for a in model.adapters_config.adapters]
    saved = {n for n in names if any(p.search(n) for p in patterns) or _FUSION_MARKER.search(n)}
    if hasattr(model, "heads"):
        saved |= {n for n in names if n.startswith("heads.")}
    else:
        prefix = f"{model.base_model_prefix}."
        if model.base_model is not model:
            saved |= {n for n in names if not n.startswith(prefix)}
    return saved


def check_trainable(model: nn.Module) -> None:
    """Refuse to train parameters a checkpoint would not hold (an unfrozen base model, in practice).

    Raises:
        TrainingSetupError: naming a few such parameters and the call that freezes the base model.
    """
    saved = saved_parameter_names(model)
    unsaved = [n for n, p in model.named_parameters() if p.requires_grad and n not in saved]
    if unsaved:
        shown = ", ".join(unsaved[:3]) + (f", ... ({len(unsaved)} in total)" if len(unsaved) > 3 else "")
        raise TrainingSetupError(
            f"The base model is not frozen: {shown} would be trained but adapter checkpoints do not hold them. "
            "Call model.train_adapter(<adapter name or setup>) (or model.train_adapter_fusion(Fuse(...))) before "
            "training; it freezes the base model and unfreezes the adapters. For full fine-tuning use "
            "transformers.Trainer."
        )

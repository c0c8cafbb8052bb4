"""Robust AdapterDrop training (Rücklé et al., 2021, https://arxiv.org/abs/2010.11918).

At every training step the adapters of a random number of the lowest layers are skipped, so the trained adapters
work with any number of dropped layers at inference (``set_active_adapters(name, skip_layers=[0, 1, ...])``).
Evaluation runs with no layer skipped.

Example::

    trainer = Trainer(model=model, ..., callbacks=[AdapterDropTrainerCallback("rotten_tomatoes")])
"""

from __future__ import annotations

import random
from typing import Any

from transformers import TrainerCallback

__all__ = ["AdapterDropTrainerCallback"]


class AdapterDropTrainerCallback(TrainerCallback):
    """Skip the adapters of layers ``0 .. k-1`` with ``k`` drawn uniformly from ``[0, max_skipped_layers)`` per step.

    Args:
        adapter_setup: the setup being trained (a name or a composition block).
        max_skipped_layers: exclusive upper bound of ``k`` (default: the model's number of layers).
        seed: seed of the callback's own random generator (the global RNG is not touched).
    """

    def __init__(self, adapter_setup: Any, max_skipped_layers: int | None = None, seed: int | None = None):
        self.adapter_setup = adapter_setup
        self.max_skipped_layers = max_skipped_layers
        self.random = random.Random(seed)
        self.skipped: list[int] = []

    def on_step_begin(self, args, state, control, model=None, **kwargs):
        limit = self.max_skipped_layers or sum(1 for _ in model.iter_layers())
        self.skipped = list(range(self.random.randrange(0, max(1, limit))))
        model.set_active_adapters(self.adapter_setup, skip_layers=self.skipped)

    def on_evaluate(self, args, state, control, model=None, **kwargs):
        model.set_active_adapters(self.adapter_setup, skip_layers=None)

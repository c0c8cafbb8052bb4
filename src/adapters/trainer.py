"""The reference's import path ``adapters.trainer`` (the code lives in :mod:`adapters.training`)."""

from __future__ import annotations

from .training.trainer import AdapterTrainer, Seq2SeqAdapterTrainer

__all__ = ["AdapterTrainer", "Seq2SeqAdapterTrainer"]

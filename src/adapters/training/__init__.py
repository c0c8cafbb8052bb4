"""Training utilities: ``AdapterTrainer``, ``Seq2SeqAdapterTrainer``, ``AdapterArguments``,
``setup_adapter_training``, adapter-only checkpoints and robust AdapterDrop training."""

from __future__ import annotations

from .adapter_drop import AdapterDropTrainerCallback
from .arguments import AdapterArguments, setup_adapter_training
from .checkpoint import load_checkpoint, save_checkpoint
from .trainer import AdapterTrainer, Seq2SeqAdapterTrainer

__all__ = [
    "AdapterTrainer",
    "Seq2SeqAdapterTrainer",
    "AdapterArguments",
    "setup_adapter_training",
    "AdapterDropTrainerCallback",
    "save_checkpoint",
    "load_checkpoint",
]

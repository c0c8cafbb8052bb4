"""Tiny models and data for trainer tests (a 2-layer BERT AdapterModel, random token sequences)."""

from __future__ import annotations

import torch
from transformers import TrainingArguments

from adapters import AutoAdapterModel
from adapters.methods.registry import adapter_key_pattern
from tiny_models import VOCAB, config

__all__ = ["tiny_classifier", "tiny_dataset", "tiny_args", "adapter_weights"]


def tiny_classifier(
    adapter_seed: int = 0, adapter: str = "a", config_string: str = "seq_bn", dropout: float = 0.1
):
    """A tiny BERT AdapterModel (base weights always from seed 0, like a pretrained model) with adapter ``adapter``
    and a 2-class head of the same name initialised from ``adapter_seed``, ready to train."""
    torch.manual_seed(0)
    cfg = config("bert")
    cfg.hidden_dropout_prob = cfg.attention_probs_dropout_prob = dropout
    model = AutoAdapterModel.from_config(cfg)
    torch.manual_seed(adapter_seed)
    model.add_adapter(adapter, config=config_string)
    model.add_classification_head(adapter, num_labels=2)
    model.train_adapter(adapter)
    return model


def tiny_dataset(n: int = 32, length: int = 8, seed: int = 0) -> list[dict[str, torch.Tensor]]:
    """``n`` random sequences; the label is whether token 5 occurs (learnable)."""
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for _ in range(n):
        ids = torch.randint(3, VOCAB, (length,), generator=generator)
        rows.append({"input_ids": ids, "attention_mask": torch.ones(length, dtype=torch.long),
                     "labels": torch.tensor(int((ids < 30).any()))})  # fmt: skip
    return rows


def tiny_args(output_dir, **overrides) -> TrainingArguments:
    defaults = {
        "output_dir": str(output_dir),
        "per_device_train_batch_size": 4,
        "learning_rate": 1e-2,
        "max_steps": 4,
        "save_strategy": "no",
        "report_to": "none",
        "disable_tqdm": True,
        "use_cpu": True,
        "seed": 0,
        "logging_strategy": "no",
    }
    defaults.update(overrides)
    return TrainingArguments(**defaults)


def adapter_weights(model, name: str = "a") -> dict[str, torch.Tensor]:
    """Adapter ``name`` and head ``name`` weights (cloned), by state-dict key."""
    pattern = adapter_key_pattern(name)
    return {
        k: v.detach().clone()
        for k, v in model.state_dict().items()
        if pattern.search(k) or k.startswith(f"heads.{name}.")
    }

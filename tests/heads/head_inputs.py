"""Inputs and labels for every head type on the tiny models."""

from __future__ import annotations

import torch

from tiny_models import ALL_ENCODER_DECODER, VOCAB, config

NUM_LABELS = 3


def head_config(family: str):
    """The tiny config with a padding token (needed by decoder classification) and three labels."""
    cfg = config(family)
    cfg.num_labels = NUM_LABELS
    if getattr(cfg, "pad_token_id", 0) is None:
        cfg.pad_token_id = 0
    return cfg


def batch_for(family: str, head_type: str, seed: int = 3) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    cfg = head_config(family)
    if head_type == "image_classification":
        return {"pixel_values": torch.randn(2, 3, 32, 32, generator=g), "labels": torch.tensor([0, 2])}
    ids = torch.randint(3, VOCAB, (2, 7), generator=g)
    if family in ALL_ENCODER_DECODER:
        ids[:, -1] = cfg.eos_token_id
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    if head_type in ("classification", "multilabel_classification"):
        batch["labels"] = (
            torch.tensor([1, 2]) if head_type == "classification" else torch.tensor([[1, 0, 1], [0, 1, 0]])
        )
    elif head_type == "multiple_choice":
        batch = {"input_ids": torch.randint(3, VOCAB, (2, NUM_LABELS, 7), generator=g)}
        batch["attention_mask"] = torch.ones_like(batch["input_ids"])
        batch["labels"] = torch.tensor([0, 2])
    elif head_type == "tagging":
        batch["labels"] = torch.randint(0, NUM_LABELS, (2, 7), generator=g)
    elif head_type == "question_answering":
        batch["start_positions"], batch["end_positions"] = torch.tensor([1, 2]), torch.tensor([3, 5])
    elif head_type in ("masked_lm", "causal_lm"):
        batch["labels"] = torch.randint(3, VOCAB, (2, 7), generator=g)
    elif head_type == "seq2seq_lm":
        batch["labels"] = torch.randint(3, VOCAB, (2, 5), generator=g)
    elif head_type == "dependency_parsing":
        batch["word_starts"] = torch.tensor([[1, 2, 4, 6, 0, 0, 0], [1, 3, 5, 0, 0, 0, 0]])
        batch["labels_arcs"] = torch.tensor([[2, 0, 2, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0, 0]])
        batch["labels_rels"] = torch.tensor([[1, 2, 1, 0, 0, 0, 0], [2, 1, 0, 0, 0, 0, 0]])
        batch["labels_arcs"][batch["labels_arcs"] == 0] = 0
    return batch


def logits_of(output) -> torch.Tensor:
    for name in ("logits", "start_logits", "arc_preds"):
        value = getattr(output, name, None)
        if value is not None:
            return value
    raise AssertionError(f"no logits in {type(output).__name__}")

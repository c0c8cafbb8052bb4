"""The demo job: train a ``seq_bn`` adapter (plus a classifier) on the real MiniLM model and Rotten Tomatoes.

Run with ``make demo`` or ``adapters demo``. Everything loads offline from installed packages.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from . import init
from ._assets import minilm_path, rotten_tomatoes

__all__ = ["DemoResult", "train_sentiment_adapter"]


@dataclass(frozen=True)
class DemoResult:
    losses: list[float]
    trainable_parameters: int
    total_parameters: int
    seconds: float

    @property
    def first_loss(self) -> float:
        return sum(self.losses[:5]) / len(self.losses[:5])

    @property
    def last_loss(self) -> float:
        return sum(self.losses[-5:]) / len(self.losses[-5:])


def train_sentiment_adapter(
    steps: int = 30, examples: int = 256, batch_size: int = 16, lr: float = 5e-3, seed: int = 0, log=print
) -> DemoResult:
    """Train adapter ``rotten_tomatoes`` (``seq_bn``) and a fresh classifier; return the per-step losses."""
    from transformers import AutoTokenizer, BertForSequenceClassification

    torch.manual_seed(seed)
    path = minilm_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = BertForSequenceClassification.from_pretrained(path, num_labels=2)
    init(model)
    model.add_adapter("rotten_tomatoes", config="seq_bn")
    model.train_adapter("rotten_tomatoes")
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    log(f"trainable parameters: {trainable:,} of {total:,} ({100 * trainable / total:.2f}%)")
    data = rotten_tomatoes(examples, seed=seed)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    losses, start = [], time.perf_counter()
    for step in range(steps):
        batch = [data[(step * batch_size + i) % len(data)] for i in range(batch_size)]
        encoded = tokenizer([t for t, _ in batch], padding=True, truncation=True, max_length=64, return_tensors="pt")
        output = model(**encoded, labels=torch.tensor([label for _, label in batch]))
        output.loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(output.loss.item())
        log(f"step {step + 1:3d}  loss {losses[-1]:.4f}")
    result = DemoResult(losses, trainable, total, time.perf_counter() - start)
    log(
        f"mean loss, first 5 steps: {result.first_loss:.4f}; last 5 steps: {result.last_loss:.4f} "
        f"({result.seconds:.1f}s)"
    )
    return result

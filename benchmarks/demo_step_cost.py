"""Benchmark: CPU seconds of one training step of the demo's model, by where the adapters sit.

One batch of 32 Rotten Tomatoes reviews of typical length (padded to about 29 tokens), forward and backward, mean of
5 steps after one warm-up step. Leaving the lowest layers out (``leave_out``) means backward stops at the lowest
adapter, so a step costs less. CPU time (all threads) depends little on the machine's load; wall time does.

Run: ``.venv/bin/python benchmarks/demo_step_cost.py``
"""

from __future__ import annotations

import random
import time

import torch

from adapters.training.data import load_task_data
from adapters.training.job import build_model
from adapters.training.tasks import data_collator, encode

CONFIGS = ("seq_bn", "seq_bn[leave_out=[0,1]]", "seq_bn[leave_out=[0,1,2]]")


def _batch(tokenizer, rows) -> dict[str, torch.Tensor]:
    encoded = encode(rows, "classification", tokenizer, 64)
    middle = sorted(random.Random(0).sample(encoded, 320), key=lambda e: len(e["input_ids"]))[150:182]
    return data_collator("classification", tokenizer)(middle)


def _seconds_per_step(model, batch, steps: int = 5) -> tuple[float, float]:
    def step():
        model(**batch).loss.backward()

    model.train()
    step()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(steps):
        step()
    return (time.process_time() - cpu) / steps, (time.perf_counter() - wall) / steps


def _full_fine_tuning_model():
    from transformers import BertForSequenceClassification

    from adapters._assets import minilm_path

    return BertForSequenceClassification.from_pretrained(minilm_path(), num_labels=2)


def main() -> None:
    data = load_task_data("rotten_tomatoes")
    batch = None
    print("| adapters | CPU s per step | wall s per step |\n|---|---|---|")
    for config in CONFIGS:
        model, tokenizer = build_model("minilm", data.task, list(data.labels), "rt", config)
        batch = batch or _batch(tokenizer, data.split("train"))
        cpu, wall = _seconds_per_step(model, batch)
        print(f"| `{config}` | {cpu:.2f} | {wall:.2f} |", flush=True)
    cpu, wall = _seconds_per_step(_full_fine_tuning_model(), batch)
    print(f"| none: full fine-tuning of every weight | {cpu:.2f} | {wall:.2f} |")
    print(f"(batch {tuple(batch['input_ids'].shape)}, {torch.get_num_threads()} threads)")


if __name__ == "__main__":
    main()

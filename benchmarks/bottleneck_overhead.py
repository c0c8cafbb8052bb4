"""Benchmark: forward-pass overhead of hook-based bottleneck adapters.

Measures eval-mode forward latency of a BERT-base-sized encoder (random weights, batch 8 × 128 tokens, CPU) with no
adapter, with a ``seq_bn`` adapter active, and with one added but inactive. Target: an inactive adapter costs < 2%,
an active ``seq_bn`` < 15% over the bare model. Run: ``.venv/bin/python benchmarks/bottleneck_overhead.py``.
"""

from __future__ import annotations

import statistics
import time

import torch
from transformers import BertConfig, BertModel

import adapters


def _once(model, batch) -> float:
    start = time.perf_counter()
    model(**batch)
    return time.perf_counter() - start


def main(repeats: int = 15) -> None:
    torch.manual_seed(0)
    config = BertConfig(num_hidden_layers=4)
    bare = BertModel(config).eval()
    adapted = BertModel(config).eval()
    adapted.load_state_dict(bare.state_dict())
    adapters.init(adapted)
    adapted.add_adapter("a", config="seq_bn")
    batch = {"input_ids": torch.randint(0, config.vocab_size, (8, 128))}
    times: dict[str, list[float]] = {"bare": [], "inactive": [], "active": []}
    with torch.no_grad():
        for _ in range(repeats):  # interleaved, so machine load affects all three alike
            times["bare"].append(_once(bare, batch))
            adapted.set_active_adapters(None)
            times["inactive"].append(_once(adapted, batch))
            adapted.set_active_adapters("a")
            times["active"].append(_once(adapted, batch))
    median = {k: statistics.median(v[1:]) for k, v in times.items()}
    base = median["bare"]
    targets = {"inactive": 2, "active": 15}
    print(f"bare model        {base * 1000:8.1f} ms")
    for label, name in (("inactive adapter", "inactive"), ("active seq_bn   ", "active")):
        overhead = 100 * (median[name] / base - 1)
        print(f"{label}  {median[name] * 1000:8.1f} ms  ({overhead:+.1f}%, target < +{targets[name]}%)")


if __name__ == "__main__":
    main()

"""Benchmark: the cost of the per-call runtime, eager and under ``torch.compile``.

On a BERT-base-sized encoder (12 layers, hidden 768, random weights; batch 8 × 128 tokens; CPU, 2 threads), measured
interleaved in one process (the machine is shared, so separate runs vary by several percent):

* eager inference: the bare transformers model, the same model adapter-enabled with nothing active (target ≤ 1.01 ×
  bare), and with a ``seq_bn`` adapter active;
* compiled inference (``torch.compile``, inductor): compiled bare vs compiled with ``seq_bn``, and each compiled
  model vs its eager run.

Each figure is the median of ``--repeats`` timed calls after warm-up. Run:
``.venv/bin/python benchmarks/runtime.py [--repeats 15] [--no-compile] [--layers 12]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from transformers import BertConfig, BertModel

import adapters


def _time(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved(runners: dict[str, Callable[[], object]], repeats: int, warmup: int = 2) -> dict[str, float]:
    """Median seconds per runner, timing them round-robin so machine load affects all alike."""
    for _ in range(warmup):
        for run in runners.values():
            run()
    times: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(repeats):
        for name, run in runners.items():
            times[name].append(_time(run))
    return {name: statistics.median(values) for name, values in times.items()}


def _models(layers: int) -> tuple[BertModel, BertModel, BertModel]:
    torch.manual_seed(0)
    config = BertConfig(num_hidden_layers=layers)
    bare = BertModel(config).eval()
    inactive = BertModel(config).eval()
    inactive.load_state_dict(bare.state_dict())
    adapters.init(inactive)
    inactive.add_adapter("a", config="seq_bn")
    active = BertModel(config).eval()
    active.load_state_dict(bare.state_dict())
    adapters.init(active)
    active.add_adapter("a", config="seq_bn", set_active=True)
    return bare, inactive, active


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--no-compile", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    bare, inactive, active = _models(args.layers)
    generator = torch.Generator().manual_seed(1)
    batch = {"input_ids": torch.randint(0, bare.config.vocab_size, (8, 128), generator=generator)}

    def runner(model):
        def run():
            with torch.no_grad():
                model(**batch)

        return run

    runners = {"bare": runner(bare), "inactive": runner(inactive), "seq_bn": runner(active)}
    if not args.no_compile:
        runners["bare compiled"] = runner(torch.compile(bare))
        runners["seq_bn compiled"] = runner(torch.compile(active))
    median = interleaved(runners, args.repeats)
    ratios = {
        "inactive / bare (target <= 1.01)": median["inactive"] / median["bare"],
        "seq_bn / bare": median["seq_bn"] / median["bare"],
    }
    if not args.no_compile:
        ratios["seq_bn compiled / bare compiled"] = median["seq_bn compiled"] / median["bare compiled"]
        ratios["bare compiled / bare eager"] = median["bare compiled"] / median["bare"]
        ratios["seq_bn compiled / seq_bn eager"] = median["seq_bn compiled"] / median["seq_bn"]
    for name, seconds in median.items():
        print(f"{name:<18} {seconds * 1000:9.1f} ms")
    for name, ratio in ratios.items():
        print(f"{name:<36} {ratio:6.3f}")
    return ratios


if __name__ == "__main__":
    main()

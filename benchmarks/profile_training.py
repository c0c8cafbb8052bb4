"""Where a training step's time and memory go: full fine-tuning vs adapter training (the profile behind the
training targets in docs/performance.md).

For each variant (``full``, ``seq_bn``, ``lora``, and ``bound``: the frozen bare model with gradients flowing
through every layer, see ``bench_models.frozen_bound``) on BERT-base or the Llama-style model (8 x 128, 2 threads):

* what autograd keeps for the backward pass (unique tensor storages passed to the saved-tensor hooks, parameters
  excluded): load-independent;
* the medians of the forward, backward and optimizer phases, measured interleaved (noisy on a loaded machine).

    .venv/bin/python benchmarks/profile_training.py [--model llama] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
from bench_models import bare_model, batch, frozen_bound, sharing_copy, trained_parameters
from libraries import AdaptersLibrary
from timing import interleaved
from workloads import BATCH, LENGTH

__all__ = ["saved_bytes", "main"]


def saved_bytes(model: torch.nn.Module, inputs: dict) -> int:
    """Bytes of the distinct non-parameter tensors autograd saves during one forward (and the loss)."""
    parameters = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in parameters:
            seen[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        output = model(**inputs)
        output[0].float().pow(2).mean()
    return sum(seen.values())


def _phases(model: torch.nn.Module, inputs: dict, times: dict[str, list[float]]):
    optimizer = torch.optim.AdamW(trained_parameters(model), lr=1e-5)

    def run():
        start = time.perf_counter()
        loss = model(**inputs)[0].float().pow(2).mean()
        forward = time.perf_counter()
        loss.backward()
        backward = time.perf_counter()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        end = time.perf_counter()
        for key, value in (("forward", forward - start), ("backward", backward - forward), ("step", end - backward)):
            times[key].append(value)

    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=("bert", "llama"), default="bert")
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    lib = AdaptersLibrary()
    bare = bare_model(args.model, args.layers)
    inputs = batch(args.model, BATCH, LENGTH)
    models = {"full": sharing_copy(bare, clone=True)}
    models.update({method: lib.trainable(bare, method) for method in ("seq_bn", "lora")})
    models["bound"] = frozen_bound(bare)
    print(f"{args.model}, {args.layers} layers, {BATCH} x {LENGTH}")
    phases: dict[str, dict[str, list[float]]] = {}
    for name, model in models.items():
        model.train()
        print(f"{name:7s} autograd keeps {saved_bytes(model, inputs) / 2**20:7.0f} MiB", flush=True)
        phases[name] = {"forward": [], "backward": [], "step": []}
    interleaved({name: _phases(model, inputs, phases[name]) for name, model in models.items()}, args.repeats)
    for name, times in phases.items():
        medians = {key: statistics.median(values[1:]) for key, values in times.items()}  # [0]: the warm-up
        total = sum(medians.values())
        shown = ", ".join(f"{key} {value * 1000:6.0f} ms" for key, value in medians.items())
        print(f"{name:7s} {shown}  (sum {total * 1000:6.0f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

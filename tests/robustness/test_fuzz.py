"""Fuzzing with hypothesis: config strings, composition setups, config dicts (``from_dict``) and adapter folder
contents. Whatever the input, only the library's error types come out, nothing hangs (each test runs under an
alarm), and a model that refused an input is unchanged.

The examples are derived deterministically (``derandomize=True``), so CI sees the same 2,000 inputs per test every
run; the targets are cheap (config parsing, activation, loading into a module-scoped tiny model).
"""

from __future__ import annotations

import json
import logging
import signal

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import save

import adapters.composition as composition
from adapters import ADAPTER_CONFIG_MAP, AdapterConfig, AdapterError
from adapters.configuration.base import _FAMILIES
from contract.helpers import adapter_model, all_hooks

from .helpers import Snapshot, model_with_adapters

EXAMPLES = settings(
    max_examples=2000,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)


@pytest.fixture(autouse=True)
def no_hangs():
    """Fail (instead of hanging CI) if one fuzz test runs longer than five minutes (a few seconds is normal)."""

    def expire(*_):
        raise TimeoutError("fuzz test took longer than 300 s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(300)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture(autouse=True)
def quiet():
    """Unknown config keys are reported as warnings; thousands of them would only flood the log."""
    logger = logging.getLogger("adapters")
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)


_INITIAL: dict[str, Snapshot] = {}


@pytest.fixture(scope="module")
def model():
    """One model for the whole module; :func:`test_the_model_is_unchanged_after_all_fuzzing` compares it with its
    state here (weights included)."""
    model = model_with_adapters()
    _INITIAL["model"] = Snapshot.of(model)
    return model


FIELDS = sorted({f for family in _FAMILIES.values() for cls in family for f in cls._field_names()})
IDENTIFIERS = sorted(ADAPTER_CONFIG_MAP)

# Strategies draw from fixed pools of awkward values (cheap to generate: recursive strategies cost far more time
# per example than the targets do). NaN, infinities, huge ints, wrong types, empty and nested containers.
AWKWARD = [None, True, False, 0, 1, -1, 2, 8, 0.5, 1.0, -0.1, 1.5, 2**70, -(2**70), float("nan"), float("inf"),
           float("-inf"), "", "relu", "swish", "default", "q", "bert", "mean", "add", "0", "x" * 50, [], [0], [1, -1],
           [0, 99], ["q", "v"], [[]], {}, {"default": 2}, {"0": 8}, {"0": 0, "default": -1}, {"x": {"y": None}},
           [None], "nan", "lora", "single"]  # fmt: skip
values = st.sampled_from(AWKWARD)
keys = st.sampled_from([*FIELDS, "rnk", "dropuot", "architecture", "", "r ", "__class__", "to_dict", "configs"])
JUNK = ["", "", "", "]", "[", "|", "[r=", "[**x]", "'", ",", "=1", "[r=1, r=2]", "[r=__import__('os')]", "[]"]
names = st.sampled_from([*IDENTIFIERS, "seq_bnn", "", " ", "lora ", "./adapter_config.json", "|", "LoRA"])


def _chunk(name, pairs, junk):
    arguments = "[" + ", ".join(f"{k}={v!r}" for k, v in pairs) + "]" if pairs else ""
    return name + arguments + junk


chunk = st.builds(_chunk, names, st.lists(st.tuples(keys, values), max_size=2), st.sampled_from(JUNK))
config_strings = st.lists(chunk, min_size=1, max_size=3).map("|".join) | st.text(max_size=16)


def _only_our_errors(action) -> bool:
    """Run ``action``; True if it succeeded, False if it raised one of our errors (anything else fails the test)."""
    try:
        action()
    except AdapterError:
        return False
    return True


def _add_and_remove(model, config) -> None:
    """Add an adapter with ``config`` (removed again if it was added); a refused config leaves the model's adapters
    and hooks as they were (the weights are compared at the end of the module)."""
    adapters_before, hooks_before = tuple(model.adapters_config.adapters), all_hooks(model)
    if _only_our_errors(lambda: model.add_adapter("fuzzed", config=config)):
        model.delete_adapter("fuzzed")
    assert tuple(model.adapters_config.adapters) == adapters_before
    assert all_hooks(model) == hooks_before


@EXAMPLES
@given(text=config_strings)
def test_config_strings(model, text):
    _add_and_remove(model, text)


ARCHITECTURES = ["absent", None, "lora", "prefix_tuning", "prompt_tuning", "reft", "union", "fusion", "nope", [], 3]


@EXAMPLES
@given(data=st.dictionaries(keys, values, max_size=5), architecture=st.sampled_from(ARCHITECTURES))
def test_from_dict(model, data, architecture):
    if architecture != "absent":
        data = {**data, "architecture": architecture}
    config = []
    if _only_our_errors(lambda: config.append(AdapterConfig.from_dict(data))):
        _add_and_remove(model, config[0])


NAMES = ["a", "b", "lo", "zz", "a,b"]
BLOCKS = ["Stack", "Fuse", "Split", "BatchSplit", "Parallel", "Average", "MultiTask"]
SIZES = [None, 0, 1, 2, 3, -1, [1, 1], [2, 2], [1, 3], [0, 2], [1, 1, 1], [-1, 3], [1], "x"]


def _block(kind, children, size):
    """A zero-argument function building block ``kind`` (building may raise, which is part of what is tested)."""
    cls = getattr(composition, kind)
    extra = {"Split": {"splits": size}, "BatchSplit": {"batch_sizes": size}, "Average": {"weights": size}}
    return lambda: cls(*[c() if callable(c) else c for c in children], **extra.get(kind, {}))


inner = st.builds(
    _block, st.sampled_from(BLOCKS), st.lists(st.sampled_from(NAMES), max_size=3), st.sampled_from(SIZES)
)
children = st.lists(st.sampled_from(NAMES) | inner, max_size=3)
IDS = torch.ones(2, 4, dtype=torch.long)
setups = st.builds(_block, st.sampled_from(BLOCKS), children, st.sampled_from(SIZES)) | st.sampled_from(
    [None, 5, "a", "zz", ["a", ["a", "b"]], ""]
)


def _activate(model, setup) -> bool:
    """Build and activate ``setup``; True if the model accepted it. A refused setup leaves the active one in place."""
    before, block = model.active_adapters, []
    if not _only_our_errors(lambda: block.append(setup() if callable(setup) else setup)):
        return False
    if not _only_our_errors(lambda: model.set_active_adapters(block[0])):
        assert model.active_adapters == before
        return False
    return True


@EXAMPLES
@given(setup=setups)
def test_composition_setups(model, setup):
    before = model.active_adapters
    if _activate(model, setup):
        model.set_active_adapters(before)


@settings(EXAMPLES, max_examples=100)
@given(setup=setups)
def test_accepted_setups_run_or_raise_our_errors(model, setup):
    """Forward passes are costlier: fewer examples. An accepted setup runs, or raises one of our errors (e.g.
    sizes that do not fit the batch)."""
    before = model.active_adapters
    if _activate(model, setup):
        try:
            _only_our_errors(lambda: model(input_ids=IDS))
        finally:
            model.set_active_adapters(before)


def _valid_folder_content(tmp_path_factory):
    folder = tmp_path_factory.mktemp("valid")
    source = adapter_model("bert")
    source.add_adapter("x", config="lora[r=2]")
    source.save_adapter(str(folder), "x")
    return json.loads((folder / "adapter_config.json").read_text()), (folder / "adapter.safetensors").read_bytes()


@pytest.fixture(scope="module")
def valid_files(tmp_path_factory):
    return _valid_folder_content(tmp_path_factory)


@st.composite
def folder_contents(draw, valid):
    config, weights = valid
    config = json.loads(json.dumps(config))
    choice = draw(st.sampled_from(["mutate", "mutate", "replace", "truncate"]))
    if choice == "mutate":
        section = config["config"] if draw(st.booleans()) else config
        section[draw(st.sampled_from(sorted(section)) | keys)] = draw(values)
        if draw(st.booleans()):
            section.pop(draw(st.sampled_from(sorted(section))), None)
        text = json.dumps(config)
    elif choice == "replace":
        text = json.dumps(draw(values))
    else:
        text = json.dumps(config)
        text = text[: draw(st.integers(0, len(text)))]
    kind = draw(st.sampled_from(["valid", "truncated", "random", "tensors", "none"]))
    if kind == "truncated":
        weights = weights[: draw(st.integers(0, len(weights) - 1))]
    elif kind == "random":
        weights = draw(st.sampled_from([b"", b"\x00" * 8, b"{}", b"\xff" * 16, b"\x08\x00\x00\x00\x00\x00\x00\x00{}"]))
    elif kind == "tensors":
        shapes = st.sampled_from([[], [0], [2], [2, 32], [32, 2], [3, 3, 3]])
        keys_ = st.sampled_from(["encoder.layer.0.attention.self.query.loras.x.lora_A", "bert.x", "z", ""])
        tensors = draw(st.dictionaries(keys_, shapes, max_size=3))
        weights = save({k: torch.zeros(s) for k, s in tensors.items()})
    elif kind == "none":
        weights = None
    return text, weights


@settings(EXAMPLES, max_examples=2000)
@given(data=st.data())
def test_adapter_folder_contents(model, valid_files, tmp_path_factory, data):
    folder = tmp_path_factory.getbasetemp() / "fuzzed-folder"
    folder.mkdir(exist_ok=True)
    text, weights = data.draw(folder_contents(valid_files))
    (folder / "adapter_config.json").write_text(text)
    (folder / "adapter.safetensors").unlink(missing_ok=True)
    if weights is not None:
        (folder / "adapter.safetensors").write_bytes(weights)
    adapters_before, hooks_before = tuple(model.adapters_config.adapters), all_hooks(model)
    loaded = []
    if _only_our_errors(lambda: loaded.append(model.load_adapter(str(folder)))):
        model.delete_adapter(loaded[0])
    assert tuple(model.adapters_config.adapters) == adapters_before
    assert all_hooks(model) == hooks_before


def test_the_model_is_unchanged_after_all_fuzzing(model):
    """After every fuzz test above (config strings and dicts added and removed, setups activated, folders loaded),
    the module's model is exactly as built: weights, adapters, fusions, summary, active setup, hooks."""
    _INITIAL["model"].assert_unchanged(model)

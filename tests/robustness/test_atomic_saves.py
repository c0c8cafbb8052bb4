"""Saves are all-or-nothing: every save writes a staging folder that replaces the target in one step. A save that
fails midway (a failing write, simulated) or a process killed with SIGKILL during a save leaves the previous version
intact and no partial or temporary folder behind."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from training.helpers import tiny_args
from transformers import BertModel

import adapters
from adapters import AdapterTrainer, AutoAdapterModel, Fuse
from adapters.io.atomic import STAGING_MARKER
from contract.helpers import adapter_model
from robustness.helpers import python_child, sigkill
from tiny_models import config


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _change(model) -> None:
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "adapters" in name or "heads" in name or "fusion" in name or "loras" in name:
                param.add_(0.5)


def _fail_on_call(monkeypatch, owner, attribute: str, call: int) -> None:
    """Make ``owner.attribute`` raise ``OSError("disk full")`` on its ``call``-th call (earlier calls work)."""
    original, calls = getattr(owner, attribute), []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == call:
            raise OSError("disk full")
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, attribute, failing)


def _flex_model():
    torch.manual_seed(0)
    model = AutoAdapterModel.from_config(config("bert"))
    for name in "ab":
        model.add_adapter(name)
        model.add_classification_head(name)
    model.add_adapter_fusion(Fuse("a", "b"))
    model.train_adapter("a")
    return model


def _init_model():
    torch.manual_seed(0)
    model = adapters.init(BertModel(config("bert")))
    model.add_adapter("a", config="lora")
    return model


def _trainer_save(model, folder):
    AdapterTrainer(model=model, args=tiny_args(folder.parent.parent / "trainer_out")).save_model(str(folder))


import transformers.modeling_utils as modeling_utils  # noqa: E402

import adapters.io.format as fmt  # noqa: E402

# operation -> (model factory, save(model, folder), (object, attribute, failing call))
SAVES = {
    "save_adapter with head": (_flex_model, lambda m, f: m.save_adapter(str(f), "a"), (fmt, "save_file", 2)),
    "save_head": (_flex_model, lambda m, f: m.save_head(str(f), "a"), (fmt, "write_json", 1)),
    "save_adapter_fusion with head": (
        _flex_model,
        lambda m, f: m.save_adapter_fusion(str(f), Fuse("a", "b"), with_head="a"),
        (fmt, "save_file", 2),
    ),
    "save_all_adapters": (_flex_model, lambda m, f: m.save_all_adapters(str(f)), (fmt, "save_file", 3)),
    "save_pretrained AdapterModel": (
        _flex_model,
        lambda m, f: m.save_pretrained(str(f)),
        (modeling_utils, "safe_save_file", 1),
    ),
    "save_pretrained init'ed model": (
        _init_model,
        lambda m, f: m.save_pretrained(str(f)),
        (modeling_utils, "safe_save_file", 1),
    ),
    "AdapterTrainer checkpoint": (_flex_model, _trainer_save, (torch, "save", 1)),
}


@pytest.mark.parametrize("operation", SAVES)
def test_a_failing_save_leaves_the_previous_version(operation, tmp_path, monkeypatch):
    make, save, (owner, attribute, call) = SAVES[operation]
    model = make()
    folder = tmp_path / "out" / "saved"
    save(model, folder)
    (folder / "notes.txt").write_text("kept")  # a file the save does not write
    before = _tree(folder)
    assert len(before) >= 3
    _change(model)
    with monkeypatch.context() as patch:
        _fail_on_call(patch, owner, attribute, call)
        with pytest.raises(OSError, match="disk full"):
            save(model, folder)
    assert _tree(folder) == before
    assert sorted(p.name for p in folder.parent.iterdir()) == ["saved"]  # no staging folder left
    save(model, folder)  # the same save without the failure replaces the version and keeps other files
    after = _tree(folder)
    assert after != before and after["notes.txt"] == b"kept"
    assert sorted(p.name for p in folder.parent.iterdir()) == ["saved"]


@pytest.mark.parametrize("operation", ["save_adapter with head", "save_pretrained AdapterModel"])
def test_a_failing_first_save_creates_no_folder(operation, tmp_path, monkeypatch):
    make, save, (owner, attribute, call) = SAVES[operation]
    model = make()
    _fail_on_call(monkeypatch, owner, attribute, call)
    with pytest.raises(OSError, match="disk full"):
        save(model, tmp_path / "new" / "saved")
    assert list((tmp_path / "new").iterdir()) == []


_CHILD = """
import os, shutil, sys, time
sys.path.insert(0, {tests!r})
import torch
import adapters.io.format as fmt
from contract.helpers import adapter_model, randomize_adapter

folder, ready = {folder!r}, {ready!r}
model = adapter_model("bert")
model.add_adapter("a", config="seq_bn[reduction_factor=0.25]")  # a larger adapter: 128-wide bottlenecks
model.save_adapter(folder, "a")
shutil.copytree(folder, folder + ".v1")
randomize_adapter(model, "a")
original = fmt.save_file

def slow_save_file(tensors, path, metadata=None):
    original(tensors, path, metadata=metadata)  # the new weights are written (into the staging folder) ...
    open(ready, "w").close()
    time.sleep(120)  # ... and the process is killed before the save completes

fmt.save_file = slow_save_file
model.save_adapter(folder, "a")
"""


def test_a_process_killed_during_a_save_leaves_the_previous_version(tmp_path):
    folder, ready = tmp_path / "adapter", tmp_path / "ready"
    script = _CHILD.format(tests=str(Path(__file__).parents[1]), folder=str(folder), ready=str(ready))
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)], env=env)
    try:
        deadline = time.monotonic() + 120
        while not ready.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists(), f"the child did not reach the save (exit code {child.poll()})"
        staging = [p for p in tmp_path.iterdir() if STAGING_MARKER in p.name]
        assert len(staging) == 1  # killed mid-save, with the staging folder in place
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
    assert _tree(folder) == _tree(tmp_path / "adapter.v1")
    assert sum(len(v) for v in _tree(folder).values()) > 50_000
    # the next save into the same parent folder removes the dead process's staging folder
    model = adapter_model("bert")
    model.load_adapter(str(folder))
    model.save_adapter(str(folder), "a")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adapter", "adapter.v1", "ready"]


def test_saved_files_get_the_usual_permissions_and_symlinks_stay(tmp_path):
    model = _init_model()
    real, link = tmp_path / "real", tmp_path / "link"
    real.mkdir()
    link.symlink_to(real)
    model.save_adapter(str(link), "a")
    umask = os.umask(0)
    os.umask(umask)
    assert link.is_symlink() and sorted(p.name for p in real.iterdir()) == [
        "adapter.safetensors",
        "adapter_config.json",
    ]
    assert {p.stat().st_mode & 0o777 for p in real.iterdir()} == {0o666 & ~umask}
    assert real.stat().st_mode & 0o777 == 0o777 & ~umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "real"]


_SAVING_FOREVER = """
import sys
sys.path.insert(0, {tests!r})
import torch
from contract.helpers import adapter_model
from robustness.helpers import python_child, sigkill

model = adapter_model("bert")
model.add_adapter("a", config="seq_bn[reduction_factor=0.0005]")  # 64,000-wide bottlenecks: a ~33 MB adapter
params = [p for _, p in model._adapter_parameters("a")]
version = 1
while True:  # save versions 1, 2, 3, ... (every weight of version v is v) until killed
    with torch.no_grad():
        for param in params:
            param.fill_(version)
    print("saving", version, flush=True)
    model.save_adapter({folder!r}, "a")
    version += 1
"""


def _kill_inside_a_save(tmp_path: Path, folder: Path) -> int:
    """Start the saving child, kill it (SIGKILL) at a random moment while a staging folder exists, and return the
    last version it had started to save. A kill that fell between two saves (a loaded machine can delay the poll)
    is retried with a new child."""
    script = _SAVING_FOREVER.format(tests=str(Path(__file__).parents[1]), folder=str(folder))
    for _ in range(3):
        with python_child(script) as child:
            for line in child.stdout:  # two versions are complete and the third save has started
                if line.strip() == "saving 3":
                    break
            deadline = time.monotonic() + 60
            while not any(STAGING_MARKER in p.name for p in tmp_path.iterdir()) and time.monotonic() < deadline:
                time.sleep(0.001)
            time.sleep(random.Random().uniform(0.0, 0.01))
            sigkill(child)
            started = 3 + sum(1 for line in child.stdout if line.startswith("saving"))
        if sum(STAGING_MARKER in p.name for p in tmp_path.iterdir()) == 1:
            return started
        for path in tmp_path.iterdir():
            shutil.rmtree(path)
    pytest.fail("in 3 attempts, no kill landed inside a save")


def test_a_process_killed_at_a_random_point_of_a_large_save_leaves_a_complete_version(tmp_path):
    """No patching: the child saves a ~33 MB adapter over and over, and is killed with SIGKILL at a random moment
    within a save. The folder then holds one complete version (config and all weights of the same save), and the
    next save removes the dead process's staging folder."""
    folder = tmp_path / "adapter"
    started = _kill_inside_a_save(tmp_path, folder)
    assert sorted(p.name for p in folder.iterdir()) == ["adapter.safetensors", "adapter_config.json"]
    assert json.loads((folder / "adapter_config.json").read_text())["name"] == "a"
    assert (folder / "adapter.safetensors").stat().st_size > 30_000_000
    weights = load_file(folder / "adapter.safetensors")
    versions = {float(t.flatten()[0]) for t in weights.values()}
    # the save in progress either had not replaced the folder (the previous version) or had (its own version)
    assert len(versions) == 1 and versions <= {started - 1.0, float(started)}, f"versions {versions}, {started}"
    version = next(iter(versions))
    assert all(bool(torch.all(t == version)) for t in weights.values())
    model = adapter_model("bert")
    model.add_adapter("b")
    model.save_adapter(str(tmp_path / "other"), "b")  # a save into the same parent folder cleans up
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adapter", "other"]

"""Untrusted files: loading never runs code from a file. Pickled ``.bin`` files are read with
``torch.load(weights_only=True)``: a pickle whose ``__reduce__`` would run code is refused and nothing happens; config
JSON is data (class paths in it are never imported)."""

from __future__ import annotations

import json
import pickle
import shutil
import sys

import pytest
import torch

from adapters import AdapterConfigError, AutoAdapterModel, CheckpointError, Fuse, UnsupportedMethodError
from contract.helpers import adapter_model
from tiny_models import _CONFIGS

from .helpers import assert_refused


class _WritesMarker:
    """Unpickling this would create ``path`` (if any code from the file ran)."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _plant(path, marker):
    with open(path, "wb") as f:
        pickle.dump({"weight": torch.zeros(2), "payload": _WritesMarker(marker)}, f, protocol=2)


def test_the_planted_pickle_runs_code_when_unpickled_unsafely(tmp_path):
    """The exploit is real: plain unpickling creates the marker (so the tests below can fail)."""
    _plant(tmp_path / "evil.bin", tmp_path / "marker")
    with open(tmp_path / "evil.bin", "rb") as f:
        pickle.load(f)
    assert (tmp_path / "marker").exists()


@pytest.fixture(scope="module")
def model_and_folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("untrusted")
    model = AutoAdapterModel.from_config(_CONFIGS["bert"]())
    for name in "ab":
        model.add_adapter(name)
    model.add_classification_head("a")
    model.add_adapter_fusion(Fuse("a", "b"))
    model.save_adapter(str(root / "a"), "a", use_safetensors=False)
    model.save_adapter_fusion(str(root / "fusion"), Fuse("a", "b"), use_safetensors=False)
    model.delete_adapter("a")
    model.delete_adapter("b")
    model.delete_head("a")
    return model, root


LOADS = {
    "adapter": ("a", "pytorch_adapter.bin", lambda m, folder: m.load_adapter(str(folder), with_head=False)),
    "head": ("a", "pytorch_model_head.bin", lambda m, folder: m.load_head(str(folder))),
    "fusion": ("fusion", "pytorch_model_adapter_fusion.bin", lambda m, folder: m.load_adapter_fusion(str(folder))),
}


@pytest.mark.parametrize("kind", LOADS)
def test_pickle_that_runs_code_is_refused_and_creates_nothing(model_and_folders, tmp_path, kind):
    model, root = model_and_folders
    source, weights_file, load = LOADS[kind]
    folder = tmp_path / "evil"
    shutil.copytree(root / source, folder)
    if kind == "fusion":  # the fusion's adapters must exist before it loads
        for name in "ab":
            model.add_adapter(name)
    marker = tmp_path / "marker"
    _plant(folder / weights_file, marker)
    try:
        assert_refused(model, lambda: load(model, folder), CheckpointError, ValueError, "Could not read weights from",
                       weights_file, "Weights only load failed|Unsupported")  # fmt: skip
    finally:
        for name in [n for n in "ab" if n in model.adapters_config]:
            model.delete_adapter(name)
    assert not marker.exists()


def test_embedding_pickle_that_runs_code_is_refused(tmp_path):
    model = adapter_model("bert")
    marker = tmp_path / "marker"
    (tmp_path / "emb").mkdir()
    _plant(tmp_path / "emb" / "embedding.pt", marker)
    action = lambda: model.load_embeddings(str(tmp_path / "emb"), "evil")  # noqa: E731
    assert_refused(model, action, CheckpointError, ValueError, "Could not read embeddings from", "embedding.pt")
    assert not marker.exists() and "evil" not in model.loaded_embeddings


@pytest.mark.parametrize(
    "field, value, error, fragments",
    [
        ("architecture", "antigravity", AdapterConfigError, ("'antigravity'", "Known: .*lora")),
        ("non_linearity", "antigravity.fly", AdapterConfigError, ("'antigravity.fly'", "relu")),
    ],
)
def test_class_paths_in_config_files_are_not_imported(model_and_folders, tmp_path, field, value, error, fragments):
    model, root = model_and_folders
    folder = tmp_path / "paths"
    shutil.copytree(root / "a", folder)
    data = json.loads((folder / "adapter_config.json").read_text())
    data["config"][field] = value
    (folder / "adapter_config.json").write_text(json.dumps(data))
    assert "antigravity" not in sys.modules
    assert_refused(model, lambda: model.load_adapter(str(folder)), error, ValueError, *fragments)
    assert "antigravity" not in sys.modules


def test_head_type_from_a_file_must_be_registered(model_and_folders, tmp_path):
    model, root = model_and_folders
    folder = tmp_path / "head"
    shutil.copytree(root / "a", folder)
    data = json.loads((folder / "head_config.json").read_text())
    data["config"]["head_type"] = "antigravity.Head"
    (folder / "head_config.json").write_text(json.dumps(data))
    action = lambda: model.load_head(str(folder))  # noqa: E731
    assert_refused(model, action, UnsupportedMethodError, ValueError, "'antigravity.Head'", "register_custom_head")
    assert "antigravity" not in sys.modules


def test_the_library_has_no_code_running_loader():
    """No ``eval``/``exec``/``pickle.load`` in the library, and every ``torch.load`` passes ``weights_only=True``
    (a guard next to the behavioural tests above: a new loader added elsewhere must follow the same rule)."""
    import re
    from pathlib import Path

    import adapters

    offenders = []
    for path in sorted(Path(adapters.__file__).parent.rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if re.search(r"(?<![\w.])(eval|exec)\(|pickle\.loads?\(|dill\.|marshal\.loads", code) or (
                "torch.load(" in code and "weights_only=True" not in code
            ):
                offenders.append(f"{path.name}:{number}: {line.strip()}")
    assert not offenders, offenders

"""Loading bad adapter folders: missing, incomplete, corrupt or truncated files, weights that do not fit, adapters
saved for another model. Each raises a typed error naming the file (or key) and what was expected; nothing of the
adapter is left in the model."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
import transformers as tf
from safetensors.torch import load_file, save_file

import adapters
from adapters import AdapterConfigError, AdapterExistsError, AdapterFileNotFoundError, CheckpointError, Fuse
from contract.helpers import adapter_model, randomize_adapter

from .helpers import assert_refused


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    root = tmp_path_factory.mktemp("saved")
    model = adapter_model("bert")
    model.add_adapter("good", config="seq_bn")
    randomize_adapter(model, "good")
    model.save_adapter(str(root / "good"), "good")
    gpt2 = adapter_model("gpt2")
    gpt2.add_adapter("good", config="seq_bn")
    gpt2.save_adapter(str(root / "gpt2"), "good")
    wide = adapters.init(tf.BertModel(tf.BertConfig(vocab_size=99, hidden_size=64, num_hidden_layers=2,
                                                    num_attention_heads=4, intermediate_size=37)))  # fmt: skip
    wide.add_adapter("good", config="seq_bn")
    wide.save_adapter(str(root / "wide"), "good")
    return root


@pytest.fixture(scope="module")
def model():
    model = adapter_model("bert")
    model.add_adapter("other", config="lora", set_active=True)
    return model


def _copy(saved, tmp_path, name="good"):
    target = tmp_path / "adapter"
    shutil.copytree(saved / name, target)
    return target


def _refused(model, folder, error, builtin, *fragments):
    assert_refused(model, lambda: model.load_adapter(str(folder)), error, builtin, *fragments)


def test_missing_folder(model, tmp_path):
    _refused(model, tmp_path / "nope", AdapterFileNotFoundError, FileNotFoundError, "nope", "does not exist")


def test_folder_without_weights(model, saved, tmp_path):
    folder = _copy(saved, tmp_path)
    (folder / "adapter.safetensors").unlink()
    _refused(
        model,
        folder,
        AdapterFileNotFoundError,
        FileNotFoundError,
        "No weights file",
        "adapter.safetensors or pytorch_adapter.bin",
    )


def test_folder_without_config(model, saved, tmp_path):
    folder = _copy(saved, tmp_path)
    (folder / "adapter_config.json").unlink()
    _refused(model, folder, AdapterFileNotFoundError, FileNotFoundError, "adapter_config.json is missing")


@pytest.mark.parametrize(
    "content, fragments",
    [
        ("{not json", ("adapter_config.json is not valid JSON", "line 1")),
        ('{"config": {"architecture": "lora", "r": ', ("not valid JSON", "char")),  # truncated
        ("[1, 2]", ("must hold a JSON object", "got list")),
        ('{"name": "x"}', ("must contain a 'config' object and a 'name'", r"\['name'\]")),
    ],
    ids=["corrupt", "truncated", "not an object", "no config"],
)
def test_bad_config_file(model, saved, tmp_path, content, fragments):
    folder = _copy(saved, tmp_path)
    (folder / "adapter_config.json").write_text(content)
    _refused(model, folder, CheckpointError, ValueError, *fragments)


def test_config_file_with_an_impossible_value(model, saved, tmp_path):
    folder = _copy(saved, tmp_path)
    data = json.loads((folder / "adapter_config.json").read_text())
    data["config"]["reduction_factor"] = 0
    (folder / "adapter_config.json").write_text(json.dumps(data))
    _refused(model, folder, AdapterConfigError, ValueError, "reduction_factor", "got 0", "positive number")


def test_truncated_safetensors(model, saved, tmp_path):
    folder = _copy(saved, tmp_path)
    data = (folder / "adapter.safetensors").read_bytes()
    (folder / "adapter.safetensors").write_bytes(data[: len(data) // 2])
    _refused(model, folder, CheckpointError, ValueError, "Could not read weights from .*adapter.safetensors")


def test_weights_of_the_wrong_shape(model, saved, tmp_path):
    folder = _copy(saved, tmp_path)
    tensors = load_file(folder / "adapter.safetensors")
    key = next(k for k in tensors if k.endswith("adapter_up.weight"))
    tensors[key] = torch.zeros(3, 3)
    save_file(tensors, folder / "adapter.safetensors")
    model_key = key.replace("bert.", "", 1) if key.startswith("bert.") else key
    _refused(model, folder, CheckpointError, ValueError, f"Shape mismatch for .*{model_key.split('.', 1)[1]}",
             r"file has \(3, 3\)", r"model expects \(32, 2\)")  # fmt: skip


def test_missing_weights(model, saved, tmp_path):
    folder = _copy(saved, tmp_path)
    tensors = load_file(folder / "adapter.safetensors")
    save_file({k: v for k, v in tensors.items() if "layer.1." not in k}, folder / "adapter.safetensors")
    _refused(model, folder, CheckpointError, ValueError, "lacks weights the model expects", r"layer\.1\.")


def test_adapter_of_another_model_type(model, saved):
    _refused(model, saved / "gpt2", CheckpointError, ValueError, "lacks weights", "saved from a 'gpt2' model",
             "this model is 'bert'")  # fmt: skip


def test_adapter_of_another_hidden_size(model, saved):
    _refused(model, saved / "wide", CheckpointError, ValueError, r"file has \(4, 64\), model expects \(2, 32\)",
             "hidden size 64", "hidden size 32")  # fmt: skip


def test_loading_over_an_adapter_with_another_config(model, saved):
    action = lambda: model.load_adapter(str(saved / "good"), load_as="other")  # noqa: E731
    assert_refused(model, action, AdapterExistsError, ValueError, "'other'", "delete it first or pass load_as=")


def test_leave_out_past_the_layers(model, saved):
    action = lambda: model.load_adapter(str(saved / "good"), leave_out=[7])  # noqa: E731
    assert_refused(model, action, AdapterConfigError, ValueError, r"\[7\]", "0 to 1")


def test_file_from_a_newer_version_loads_with_a_warning(saved, tmp_path, caplog):
    folder = _copy(saved, tmp_path)
    data = json.loads((folder / "adapter_config.json").read_text())
    data["config"]["future_option"] = True
    data["version"] = "adapters.9.0.0"
    (folder / "adapter_config.json").write_text(json.dumps(data))
    model = adapter_model("bert")
    with caplog.at_level("WARNING"):
        assert model.load_adapter(str(folder)) == "good"
    assert "'future_option'" in caplog.text
    reference = adapter_model("bert")
    reference.load_adapter(str(saved / "good"))
    for key, value in reference.state_dict().items():
        assert torch.equal(model.state_dict()[key], value)


@pytest.mark.parametrize("config", [None, "static"], ids=["same config", "another config"])
def test_bad_fusion_file_keeps_the_existing_fusion(tmp_path, config):
    """A fusion load that fails leaves an existing fusion of that name in place, with its weights (before, the
    failed load deleted it)."""
    model = adapter_model("bert")
    for name in "ab":
        model.add_adapter(name, config="seq_bn")
    model.add_adapter_fusion(Fuse("a", "b"))
    randomize_adapter(model, "a")
    with torch.no_grad():
        for key, param in model.named_parameters():
            if "adapter_fusion_layer" in key:
                param.normal_()
    model.save_adapter_fusion(str(tmp_path / "fusion"), Fuse("a", "b"))
    if config is not None:
        data = json.loads((tmp_path / "fusion" / "adapter_fusion_config.json").read_text())
        data["config"] = config
        (tmp_path / "fusion" / "adapter_fusion_config.json").write_text(json.dumps(data))
    weights = tmp_path / "fusion" / "model_adapter_fusion.safetensors"
    tensors = load_file(weights)
    save_file({k: torch.zeros(3, 3) for k in tensors}, weights)
    action = lambda: model.load_adapter_fusion(str(tmp_path / "fusion"))  # noqa: E731
    fragments = ("Shape mismatch for .*adapter_fusion_layer", r"file \(3, 3\)")
    assert_refused(model, action, CheckpointError, ValueError, *fragments)

"""save_adapter / load_adapter: format details, options, legacy files, and failure behaviour."""

from __future__ import annotations

import json
import pickle

import pytest
import torch
from safetensors.torch import load_file, save_file

from adapters.errors import AdapterExistsError, AdapterFileNotFoundError, CheckpointError
from contract.helpers import adapter_model, all_hooks, randomize_adapter
from tiny_models import inputs, output


@pytest.fixture
def saved(tmp_path):
    model = adapter_model("bert")
    model.add_adapter("a", config="double_seq_bn", set_active=True)
    randomize_adapter(model, "a")
    model.save_adapter(tmp_path / "a", "a")
    return tmp_path / "a", output(model, inputs("bert"))


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_adapter_config_file_format(saved):
    folder, _ = saved
    data = json.loads((folder / "adapter_config.json").read_text())
    assert sorted(data) == ["config", "hidden_size", "model_class", "model_name", "model_type", "name", "version"]
    assert data["name"] == "a" and data["model_type"] == "bert" and data["hidden_size"] == 32
    assert data["model_class"] == "BertModel" and data["version"].startswith("adapters.")
    assert data["config"]["mh_adapter"] is True and data["config"]["non_linearity"] == "swish"
    text = (folder / "adapter_config.json").read_text()
    assert text == json.dumps(data, indent=2, sort_keys=True) + "\n"


def test_load_as_renames_every_key(saved):
    folder, expected = saved
    model = adapter_model("bert")
    assert model.load_adapter(str(folder), load_as="b", set_active=True) == "b"
    assert "a" not in model.adapters_config
    assert all(".a." not in k for k in model.state_dict())
    torch.testing.assert_close(output(model, inputs("bert")), expected, atol=0, rtol=0)


def test_leave_out_on_load_drops_those_layers(saved):
    folder, _ = saved
    model = adapter_model("bert")
    info: dict = {}
    model.load_adapter(str(folder), leave_out=[0], loading_info=info)
    assert sorted(model.get_adapter("a")) == [1]
    assert model.adapters_config.get("a").leave_out == [0]
    assert info["missing_keys"] == [] and all(".layer.0." in k for k in info["unexpected_keys"])
    assert len(info["unexpected_keys"]) == 8


def test_format_detection(saved, tmp_path):
    folder, expected = saved
    batch = inputs("bert")
    # a safetensors-only folder loads without use_safetensors=True (unlike the reference)
    model = adapter_model("bert")
    model.load_adapter(str(folder), set_active=True)
    torch.testing.assert_close(output(model, batch), expected, atol=0, rtol=0)
    # a folder with only a .bin
    other = adapter_model("bert")
    other.load_adapter(str(folder))
    other.save_adapter(tmp_path / "bin", "a", use_safetensors=False)
    assert sorted(p.name for p in (tmp_path / "bin").iterdir()) == ["adapter_config.json", "pytorch_adapter.bin"]
    for use_safetensors in (None, True, False):
        model = adapter_model("bert")
        model.load_adapter(str(tmp_path / "bin"), set_active=True, use_safetensors=use_safetensors)
        torch.testing.assert_close(output(model, batch), expected, atol=0, rtol=0)


def test_resaving_in_the_other_format_removes_the_stale_file(saved):
    folder, _ = saved
    model = adapter_model("bert")
    model.load_adapter(str(folder))
    model.save_adapter(folder, "a", use_safetensors=False)
    assert sorted(p.name for p in folder.iterdir()) == ["adapter_config.json", "pytorch_adapter.bin"]


def test_not_an_adapter_folder(tmp_path):
    model = adapter_model("bert")
    (tmp_path / "empty").mkdir()
    with pytest.raises(AdapterFileNotFoundError, match="adapter_config.json is missing"):
        model.load_adapter(str(tmp_path / "empty"))
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "adapter_config.json").write_text(
        json.dumps({"config": {"architecture": "lora"}, "name": "x"})
    )
    with pytest.raises(AdapterFileNotFoundError, match="expected adapter.safetensors or pytorch_adapter.bin"):
        model.load_adapter(str(tmp_path / "cfg"))
    with pytest.raises(AdapterFileNotFoundError, match="not a local folder"):
        model.load_adapter(str(tmp_path / "does-not-exist"))
    assert not model.has_adapters()


def test_broken_weights_leave_the_model_unchanged(saved, tmp_path):
    folder, _ = saved
    model = adapter_model("bert")
    keys, hooks = list(model.state_dict()), all_hooks(model)
    tensors = load_file(folder / "adapter.safetensors")
    cases = {
        "missing": {k: v for k, v in tensors.items() if "layer.1.output" not in k},
        "shape": {k: (v[:1] if k.endswith("adapter_up.bias") else v) for k, v in tensors.items()},
    }
    for label, state in cases.items():
        target = tmp_path / label
        target.mkdir()
        (target / "adapter_config.json").write_bytes((folder / "adapter_config.json").read_bytes())
        save_file(state, target / "adapter.safetensors")
        with pytest.raises(CheckpointError, match="lacks weights" if label == "missing" else "Shape mismatch"):
            model.load_adapter(str(target))
        assert list(model.state_dict()) == keys and all_hooks(model) == hooks
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "adapter_config.json").write_bytes((folder / "adapter_config.json").read_bytes())
    (corrupt / "adapter.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="Could not read weights"):
        model.load_adapter(str(corrupt))
    assert not model.has_adapters()


def test_bin_files_never_execute_code(saved, tmp_path):
    folder, _ = saved

    class Exploit:
        def __reduce__(self):
            return (print, ("pwned",))

    target = tmp_path / "evil"
    target.mkdir()
    (target / "adapter_config.json").write_bytes((folder / "adapter_config.json").read_bytes())
    with open(target / "pytorch_adapter.bin", "wb") as f:
        pickle.dump({"x": Exploit()}, f)
    with pytest.raises(CheckpointError, match="Could not read weights"):
        adapter_model("bert").load_adapter(str(target))


def test_loading_over_an_existing_adapter(saved):
    folder, expected = saved
    model = adapter_model("bert")
    model.add_adapter("a", config="double_seq_bn", set_active=True)
    model.load_adapter(str(folder))
    torch.testing.assert_close(output(model, inputs("bert")), expected, atol=0, rtol=0)
    other = adapter_model("bert")
    other.add_adapter("a", config="seq_bn")
    with pytest.raises(AdapterExistsError, match="different config"):
        other.load_adapter(str(folder))
    from adapters import SeqBnConfig

    assert type(other.adapters_config.get("a")) is SeqBnConfig


def test_failed_save_leaves_existing_files_untouched(saved, monkeypatch):
    folder, _ = saved
    before = _snapshot(folder)
    model = adapter_model("bert")
    model.load_adapter(str(folder))
    import adapters.io.format as fmt

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(fmt, "save_file", broken)
    with pytest.raises(OSError, match="disk full"):
        model.save_adapter(folder, "a")
    assert _snapshot(folder) == before
    new_folder = folder.parent / "new"
    with pytest.raises(OSError, match="disk full"):
        model.save_adapter(new_folder, "a")
    assert not new_folder.exists()


def test_save_errors(tmp_path):
    model = adapter_model("bert")
    model.add_adapter("a")
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError):
        model.save_adapter(tmp_path / "file", "a")
    from adapters.errors import AdapterNotFoundError

    with pytest.raises(AdapterNotFoundError, match="No adapter named 'b'"):
        model.save_adapter(tmp_path / "b", "b")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_save_all_adapters(tmp_path):
    model = adapter_model("bert")
    model.add_adapter("a")
    model.add_adapter("b", config="par_bn")
    model.save_all_adapters(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]
    data = json.loads((tmp_path / "a" / "adapter_config.json").read_text())
    assert data["config_id"] == "9076f36a74755ac4"


def test_legacy_adapter_transformers_keys_and_gelu_rename(saved, tmp_path):
    folder, expected = saved
    tensors = load_file(folder / "adapter.safetensors")
    legacy = {
        k.replace("attention.output.adapters.", "attention.output.attention_text_task_adapters.").replace(
            "output.adapters.", "output.layer_text_task_adapters."
        ): v
        for k, v in tensors.items()
    }
    assert legacy.keys() != tensors.keys()
    target = tmp_path / "legacy"
    target.mkdir()
    data = json.loads((folder / "adapter_config.json").read_text())
    data["config"]["non_linearity"] = "gelu_orig"
    del data["version"]
    (target / "adapter_config.json").write_text(json.dumps(data))
    torch.save(legacy, target / "pytorch_adapter.bin")
    model = adapter_model("bert")
    info: dict = {}
    model.load_adapter(str(target), loading_info=info)
    assert info == {"missing_keys": [], "unexpected_keys": []}
    assert model.adapters_config.get("a").non_linearity == "gelu"


def test_files_saved_with_and_without_base_prefix_load(saved, tmp_path):
    from transformers import BertForSequenceClassification

    import adapters
    from tiny_models import config

    folder, _ = saved
    head_model = BertForSequenceClassification(config("bert")).eval()
    adapters.init(head_model)
    head_model.load_adapter(str(folder))  # file keys have no "bert." prefix
    head_model.save_adapter(tmp_path / "prefixed", "a")
    assert all(k.startswith("bert.") for k in load_file(tmp_path / "prefixed" / "adapter.safetensors"))
    base = adapter_model("bert")
    info: dict = {}
    base.load_adapter(str(tmp_path / "prefixed"), loading_info=info)  # file keys have the prefix
    assert info == {"missing_keys": [], "unexpected_keys": []}

"""``adapters convert``: our LoRA adapters to PEFT's format and PEFT checkpoints to ours, with exit codes."""

from __future__ import annotations

import copy
import json

import peft
import pytest
import torch

from adapters.cli import main
from contract.helpers import adapter_model, randomize_adapter
from tiny_models import build, inputs, output


@pytest.fixture
def base_dir(tmp_path):
    build("llama").save_pretrained(tmp_path / "base")
    return tmp_path / "base"


def _saved_adapter(tmp_path, config: str):
    model = adapter_model("llama")
    model.add_adapter("a", config=config, set_active=True)
    randomize_adapter(model, "a")
    model.save_adapter(tmp_path / "ours", "a")
    return tmp_path / "ours", output(model, inputs("llama"))


def test_convert_to_peft_and_back(tmp_path, base_dir, capsys):
    source, expected = _saved_adapter(tmp_path, "lora[intermediate_lora=True]")
    assert main(["convert", str(source), str(tmp_path / "peft"), "--to", "peft", "--base-model", str(base_dir)]) == 0
    assert "wrote" in capsys.readouterr().out
    assert json.loads((tmp_path / "peft" / "adapter_config.json").read_text())["peft_type"] == "LORA"
    in_peft = peft.PeftModel.from_pretrained(copy.deepcopy(build("llama")), tmp_path / "peft").eval()
    with torch.no_grad():
        torch.testing.assert_close(in_peft(**inputs("llama")).last_hidden_state, expected, atol=1e-5, rtol=0)
    args = ["convert", str(tmp_path / "peft"), str(tmp_path / "back"), "--to", "adapters", "--name", "b"]
    assert main([*args, "--base-model", str(base_dir)]) == 0
    model = adapter_model("llama")
    assert model.load_adapter(str(tmp_path / "back"), set_active=True) == "b"
    torch.testing.assert_close(output(model, inputs("llama")), expected, atol=1e-5, rtol=0)


def test_convert_exit_codes(tmp_path, base_dir, capsys):
    source, _ = _saved_adapter(tmp_path, "seq_bn")
    target = tmp_path / "peft"
    assert main(["convert", str(source), str(target), "--to", "peft", "--base-model", str(base_dir)]) == 3
    assert "PEFT has no bottleneck adapters" in capsys.readouterr().err and not target.exists()
    assert main(["convert", str(source), str(target), "--to", "peft", "--base-model", str(tmp_path / "none")]) == 4
    assert "cannot load the base model" in capsys.readouterr().err
    assert main(["convert", str(source), str(target), "--to", "peft"]) == 3  # tiny models record no name
    assert "pass --base-model" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        main(["convert", str(source), str(target), "--to", "onnx"])
    assert usage.value.code == 2

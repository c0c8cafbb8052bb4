"""Determinism: ``init_weights_seed`` reproduces an adapter's initial weights exactly (whatever the global RNG), a
training run with a fixed seed reproduces its adapter exactly, and save -> load -> save writes byte-identical files."""

from __future__ import annotations

import pytest
import torch
from training.helpers import adapter_weights, tiny_args, tiny_classifier, tiny_dataset

from adapters import AdapterTrainer, Fuse
from contract.helpers import adapter_model


def _params(model, name):
    return {k: v.detach().clone() for k, v in model._adapter_parameters(name)}


@pytest.mark.parametrize(
    "config", ["seq_bn", "lora[init_weights='bert']", "prefix_tuning[prefix_length=3, bottleneck_size=8]"]
)
def test_init_weights_seed_reproduces_the_weights(config):
    seeded = config[:-1] + ", init_weights_seed=7]" if config.endswith("]") else config + "[init_weights_seed=7]"
    weights = []
    for global_seed in (0, 1):
        torch.manual_seed(global_seed)
        model = adapter_model("bert")
        model.add_adapter("a", config=seeded)
        weights.append(_params(model, "a"))
    assert weights[0].keys() == weights[1].keys() and len(weights[0]) > 0
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    other = adapter_model("bert")
    other.add_adapter("a", config=seeded.replace("init_weights_seed=7", "init_weights_seed=8"))
    assert any(not torch.equal(weights[0][k], v) for k, v in _params(other, "a").items())


def _train(tmp_path, run: str):
    model = tiny_classifier(adapter_seed=0)
    trainer = AdapterTrainer(model=model, args=tiny_args(tmp_path / run, seed=3), train_dataset=tiny_dataset())
    trainer.train()
    return adapter_weights(model)


def test_training_with_a_fixed_seed_reproduces_the_adapter(tmp_path):
    start = adapter_weights(tiny_classifier(adapter_seed=0))
    first, second = _train(tmp_path, "first"), _train(tmp_path, "second")
    assert first.keys() == second.keys() == start.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert any(not torch.equal(first[k], start[k]) for k in first)  # it did train


def _files(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("use_safetensors", [True, False])
def test_save_load_save_is_byte_identical(tmp_path, use_safetensors):
    model = tiny_classifier(adapter_seed=0, config_string="lora")
    model.add_adapter("b", config="seq_bn")
    model.add_adapter("c", config="seq_bn")
    model.add_adapter_fusion(Fuse("b", "c"))
    model.save_adapter(str(tmp_path / "one" / "a"), "a", use_safetensors=use_safetensors)
    model.save_adapter_fusion(str(tmp_path / "one" / "fusion"), Fuse("b", "c"), use_safetensors=use_safetensors)
    model.save_adapter(str(tmp_path / "one" / "b"), "b", use_safetensors=use_safetensors)
    model.save_adapter(str(tmp_path / "one" / "c"), "c", use_safetensors=use_safetensors)
    again = tiny_classifier(adapter_seed=5, adapter="unused")
    for name in "abc":
        again.load_adapter(str(tmp_path / "one" / name))
    again.load_adapter_fusion(str(tmp_path / "one" / "fusion"))
    again.save_adapter(str(tmp_path / "two" / "a"), "a", use_safetensors=use_safetensors)
    again.save_adapter_fusion(str(tmp_path / "two" / "fusion"), Fuse("b", "c"), use_safetensors=use_safetensors)
    again.save_adapter(str(tmp_path / "two" / "b"), "b", use_safetensors=use_safetensors)
    again.save_adapter(str(tmp_path / "two" / "c"), "c", use_safetensors=use_safetensors)
    first, second = _files(tmp_path / "one"), _files(tmp_path / "two")
    assert sorted(first) == sorted(second) and any(k.endswith("head_config.json") for k in first)
    different = [name for name in first if first[name] != second[name]]
    assert not different

"""AdapterFusion: creation sites, training only fusion weights, save/load, regularisation, attentions, seed flow."""

from __future__ import annotations

import json

import pytest
import torch

import adapters
from adapters import Fuse
from contract.helpers import adapter_model, randomize_adapter
from heads.head_inputs import batch_for, head_config
from tiny_models import inputs, output


def _fused(family: str = "bert", configs=("seq_bn", "seq_bn", "seq_bn[leave_out=[1]]")):
    torch.manual_seed(0)
    model = adapters.AutoAdapterModel.from_config(head_config(family)).eval()
    for index, (name, config) in enumerate(zip(("x", "y", "z"), configs)):
        model.add_adapter(name, config=config)
        randomize_adapter(model, name, seed=index)
    return model


def test_fusion_layers_only_where_all_adapters_sit():
    model = _fused()
    model.add_adapter_fusion(Fuse("x", "y", "z"))
    keys = [k for k in model.state_dict() if "adapter_fusion_layer" in k]
    assert "bert.encoder.layer.0.output.adapter_fusion_layer.x,y,z.query.weight" in keys
    assert "bert.encoder.layer.0.output.adapter_fusion_layer.x,y,z.value.weight" in keys
    assert not any("layer.1." in k for k in keys)  # z has no adapter in layer 1
    assert not any("attention.output.adapter_fusion_layer" in k for k in keys)  # no mh adapters
    assert not any(k.endswith("value.bias") for k in keys)
    value = model.bert.encoder.layer[0].output.adapter_fusion_layer["x,y,z"].value.weight
    torch.testing.assert_close(value, torch.full((32, 32), 1e-6).fill_diagonal_(1.0))
    assert model.get_fusion_regularization_loss() < 1e-8


def test_train_adapter_fusion_changes_only_fusion_parameters():
    model = _fused()
    model.add_classification_head("cb", num_labels=3)
    setup = Fuse("x", "y", "z")
    model.add_adapter_fusion(setup)
    model.train_adapter_fusion(setup)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("adapter_fusion_layer.x,y,z." in n or n.startswith("heads.") for n in trainable)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    for _ in range(3):
        loss = model(**batch_for("bert", "classification")).loss + model.get_fusion_regularization_loss()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and changed <= trainable
    assert any("adapter_fusion_layer" in n for n in changed)


def test_fusion_save_load_roundtrip(tmp_path):
    model = _fused()
    setup = Fuse("x", "y", "z")
    model.add_adapter_fusion(setup, config="static")
    for _, _, module in adapters.methods.fusion.fusion_layers(model._adapter_runtime):
        for param in module.parameters():
            torch.nn.init.normal_(param, std=0.2)
    model.set_active_adapters(setup)
    batch = inputs("bert")
    expected = output(model, batch)
    model.save_all_adapters(str(tmp_path / "adapters"))
    model.save_adapter_fusion(str(tmp_path / "fusion"), setup)
    data = json.loads((tmp_path / "fusion" / "adapter_fusion_config.json").read_text())
    assert data["adapter_names"] == ["x", "y", "z"] and data["name"] == "x,y,z"
    assert data["config"]["value"] is False and sorted(data) == sorted(
        ["adapter_names", "config", "hidden_size", "model_class", "model_name", "model_type", "name", "version"]
    )
    fresh = adapters.AutoAdapterModel.from_config(head_config("bert")).eval()
    fresh.load_state_dict(model.state_dict(), strict=False)
    for name in ("x", "y", "z"):
        fresh.load_adapter(str(tmp_path / "adapters" / name))
    assert fresh.load_adapter_fusion(str(tmp_path / "fusion"), set_active=True) == "x,y,z"
    torch.testing.assert_close(output(fresh, batch), expected, atol=0, rtol=0)
    fresh.delete_adapter_fusion(setup)
    assert not any("adapter_fusion_layer" in k for k in fresh.state_dict())


def test_fusion_attentions_are_returned():
    model = _fused()
    setup = Fuse("x", "y")
    model.add_adapter_fusion(setup)
    model.set_active_adapters(setup)
    out = model(**inputs("bert"), output_adapter_fusion_attentions=True)
    attentions = out.adapter_fusion_attentions["x,y"]
    assert sorted(attentions) == [0, 1] and attentions[0]["output_adapter"].shape == (2, 7, 2)
    torch.testing.assert_close(attentions[0]["output_adapter"].sum(-1), torch.ones(2, 7))
    assert "adapter_fusion_attentions" not in model(**inputs("bert"))


def test_deleting_an_adapter_deletes_its_fusions():
    model = _fused()
    model.add_adapter_fusion(Fuse("x", "y"))
    model.delete_adapter("x")
    assert "x,y" not in model.adapters_config.fusions
    assert not any("adapter_fusion_layer" in k for k in model.state_dict())


def test_fusion_errors():
    model = adapter_model("bert")
    model.add_adapter("a")
    model.add_adapter("l", config="lora")
    with pytest.raises(adapters.AdapterNotFoundError, match="no adapter named 'b'"):
        model.add_adapter_fusion(Fuse("a", "b"))
    with pytest.raises(adapters.UnsupportedMethodError, match="no bottleneck adapter location holds all"):
        model.add_adapter_fusion(Fuse("a", "l"))
    assert not model.adapters_config.fusions


def test_seed_fusion_flow(tmp_path):
    """Seed 004: load three adapters without heads, add a new head, fuse, train the fusion."""
    source = _fused()
    for name in ("x", "y", "z"):
        source.add_classification_head(name)
        source.save_adapter(str(tmp_path / name), name, with_head=True)
    model = adapters.AutoAdapterModel.from_config(head_config("bert"))
    model.load_adapter(str(tmp_path / "x"), load_as="multinli", with_head=False)
    model.load_adapter(str(tmp_path / "y"), with_head=False)
    model.load_adapter(str(tmp_path / "z"), with_head=False)
    assert len(model.heads) == 0
    model.add_classification_head("cb", num_labels=3)
    adapter_setup = Fuse("multinli", "y", "z")
    model.add_adapter_fusion(adapter_setup)
    model.set_active_adapters(adapter_setup)
    model.train_adapter_fusion(adapter_setup)
    loss = model(**batch_for("bert", "classification")).loss
    loss.backward()
    grads = [p.grad for n, p in model.named_parameters() if "adapter_fusion_layer" in n]
    assert grads and all(g is not None for g in grads)


def test_whole_model_roundtrip_keeps_fusions(tmp_path):
    model = _fused()
    setup = Fuse("x", "y")
    model.add_adapter_fusion(setup)
    model.set_active_adapters(setup)
    expected = output(model, inputs("bert"))
    model.save_pretrained(tmp_path)
    loaded = adapters.AutoAdapterModel.from_pretrained(tmp_path).eval()
    assert "x,y" in loaded.adapters_config.fusions
    loaded.set_active_adapters(setup)
    torch.testing.assert_close(output(loaded, inputs("bert")), expected, atol=0, rtol=0)

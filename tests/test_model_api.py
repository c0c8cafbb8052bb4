"""The model API: adding, activating, deleting, summaries, errors, and failure leaving the model unchanged."""

from __future__ import annotations

import pytest
import torch

import adapters
from adapters import Stack
from adapters.errors import (
    AdapterConfigError,
    AdapterExistsError,
    AdapterNotFoundError,
    ConfigFieldError,
    UnsupportedMethodError,
)
from contract.helpers import adapter_model, all_hooks, randomize_adapter
from tiny_models import build, inputs, output


def test_init_is_in_place_and_idempotent():
    model = build("bert")
    cls = type(model)
    assert adapters.init(model) is model
    assert isinstance(model, adapters.ModelAdaptersMixin) and isinstance(model, cls)
    assert type(model).__name__ == cls.__name__ and str(type(model)) == str(cls)
    assert adapters.init(model) is model
    assert not model.has_adapters()


def test_init_on_static_head_model_keeps_keys_and_prefix(tmp_path):
    from transformers import BertForSequenceClassification

    from tiny_models import config

    model = BertForSequenceClassification(config("bert")).eval()
    keys = list(model.state_dict())
    adapters.init(model)
    model.add_adapter("a", config="seq_bn", set_active=True)
    assert [k for k in model.state_dict() if ".adapters.a." not in k] == keys
    model.save_adapter(tmp_path, "a")
    from safetensors.torch import load_file

    assert "bert.encoder.layer.0.output.adapters.a.adapter_down.0.weight" in load_file(
        tmp_path / "adapter.safetensors"
    )


def test_add_adapter_defaults_to_seq_bn_and_stores_config_hash():
    model = adapter_model("bert")
    model.add_adapter("a")
    assert model.adapters_config.adapters["a"] == "9076f36a74755ac4"
    assert isinstance(model.adapters_config.get("a"), adapters.SeqBnConfig)
    assert model.has_adapters() and model.active_adapters is None


def test_duplicate_name_needs_overwrite_ok():
    model = adapter_model("bert")
    model.add_adapter("a")
    with pytest.raises(AdapterExistsError, match="already exists"):
        model.add_adapter("a", config="double_seq_bn")
    assert isinstance(model.adapters_config.get("a"), adapters.SeqBnConfig)
    model.add_adapter("a", config="double_seq_bn", overwrite_ok=True)
    assert set(model.get_adapter("a")[0]) == {"mh_adapter", "output_adapter"}


@pytest.mark.parametrize("name", ["", "a.b", None, "a/b", "a,b"])
def test_invalid_names_are_rejected(name):
    with pytest.raises(adapters.AdapterNameError, match="Invalid adapter name"):
        adapter_model("bert").add_adapter(name)


def test_bad_configs_raise_typed_errors_and_leave_the_model_unchanged():
    model = adapter_model("bert")
    keys, hooks = list(model.state_dict()), all_hooks(model)
    with pytest.raises(AdapterConfigError, match="nonsense"):
        model.add_adapter("a", config="nonsense")
    with pytest.raises(ConfigFieldError):
        model.add_adapter("a", config="seq_bn[not_a_field=1]")
    with pytest.raises(AdapterConfigError, match="divisible by phm_dim"):
        model.add_adapter("a", config="compacter")  # hidden 32 // 32 = 1, not divisible by phm_dim 4
    assert list(model.state_dict()) == keys and all_hooks(model) == hooks
    assert "a" not in model.adapters_config


def test_failure_midway_through_add_rolls_back(monkeypatch):
    from adapters.methods import bottleneck

    model = adapter_model("bert")
    keys, hooks = list(model.state_dict()), all_hooks(model)
    original = bottleneck.InvertibleAdapters.install

    def broken(self, first_layer):
        raise RuntimeError("boom")

    monkeypatch.setattr(bottleneck.InvertibleAdapters, "install", broken)
    with pytest.raises(RuntimeError, match="boom"):
        model.add_adapter("a", config="seq_bn_inv")
    monkeypatch.setattr(bottleneck.InvertibleAdapters, "install", original)
    assert list(model.state_dict()) == keys and all_hooks(model) == hooks
    assert "a" not in model.adapters_config


def test_unsupported_method_is_refused_with_reason():
    model = adapter_model("bert")
    with pytest.raises(UnsupportedMethodError, match="no adapter location"):
        model.add_adapter("a", config="seq_bn[output_adapter=False]")


def test_set_active_adapters_validates_names_and_blocks():
    model = adapter_model("bert")
    model.add_adapter("a")
    with pytest.raises(AdapterNotFoundError, match="no adapter named 'b'"):
        model.set_active_adapters(Stack("a", "b"))
    model.set_active_adapters(adapters.MultiTask("a"))  # bottleneck adapters route rows (task_ids)
    with pytest.raises(AdapterNotFoundError, match="add_adapter_fusion"):
        model.set_active_adapters(adapters.Fuse("a"))
    model.active_adapters = "a"
    assert model.active_adapters == Stack("a")
    model.set_active_adapters(None)
    assert model.active_adapters is None


def test_stack_applies_adapters_in_order():
    batch = inputs("gpt2")
    model = adapter_model("gpt2")
    for name, seed in (("a", 1), ("b", 2)):
        model.add_adapter(name, config="seq_bn")
        randomize_adapter(model, name, seed=seed)
    model.set_active_adapters(Stack("a", "b"))
    ab = output(model, batch)
    model.set_active_adapters(Stack("b", "a"))
    ba = output(model, batch)
    model.set_active_adapters("a")
    a = output(model, batch)
    assert (ab - ba).abs().max() > 1e-4 and (ab - a).abs().max() > 1e-4


def test_skip_layers_bypasses_adapters_in_those_layers():
    batch = inputs("bert")
    model = adapter_model("bert")
    model.add_adapter("a")
    randomize_adapter(model, "a")
    seen = {}
    model.encoder.layer[0].register_forward_hook(lambda m, a, o: seen.__setitem__("layer0", o))
    base_layer0 = (output(model, batch), seen["layer0"])[1]
    model.set_active_adapters("a", skip_layers=[0])
    skipped = output(model, batch)
    assert torch.equal(seen["layer0"], base_layer0)
    model.set_active_adapters("a")
    assert (output(model, batch) - skipped).abs().max() > 1e-4


def test_delete_adapter_resets_active_setup_and_refuses_unknown():
    model = adapter_model("bert")
    model.add_adapter("a", set_active=True)
    with pytest.raises(AdapterNotFoundError, match="'missing'"):  # the reference ignored it (docs/compatibility.md)
        model.delete_adapter("missing")
    model.delete_adapter("a")
    assert model.active_adapters is None and not model.has_adapters()


def test_train_adapter_and_freeze_model():
    model = adapter_model("bert")
    model.add_adapter("a")
    model.eval()
    model.train_adapter("a", train_embeddings=True)
    assert model.training and model.active_adapters == Stack("a")
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert "embeddings.word_embeddings.weight" in trainable
    assert "encoder.layer.0.attention.self.query.weight" not in trainable
    model.freeze_model(False)
    assert all(p.requires_grad for p in model.parameters())
    with pytest.raises(AdapterNotFoundError):
        model.train_adapter("missing")


def test_new_adapter_follows_model_mode_device_and_dtype():
    model = adapter_model("bert").to(torch.float64)
    model.add_adapter("a")
    adapter = model.get_adapter("a")[0]["output_adapter"]
    assert not adapter.training and adapter.adapter_up.weight.dtype == torch.float64
    model.adapter_to("a", dtype=torch.float32)
    assert adapter.adapter_up.weight.dtype == torch.float32


def test_supports_adapter():
    model = adapter_model("bert")
    assert model.supports_adapter("bottleneck") and model.supports_adapter("seq_bn")
    assert model.supports_adapter(adapters.SeqBnInvConfig())
    assert not model.supports_adapter("seq_bn[mh_adapter=False, output_adapter=False]")


def test_supports_adapter_asks_the_registry_for_method_kinds(monkeypatch):
    from dataclasses import replace

    from adapters.methods import bottleneck, method_kinds, registry

    model = adapter_model("bert")
    assert set(method_kinds()) == {"bottleneck", "invertible", "lora", "prefix_tuning", "prompt_tuning", "reft"}
    assert model.supports_adapter("invertible")
    # a method's declared kinds are what supports_adapter answers (no list of its own)
    unsupported = (("bottleneck", "seq_bn[mh_adapter=False, output_adapter=False]"),)
    monkeypatch.setitem(registry._METHODS, None, replace(bottleneck.BOTTLENECK, kinds=unsupported))
    assert not model.supports_adapter("bottleneck")
    with pytest.raises(ValueError, match="invertible"):
        model.supports_adapter("invertible")  # no longer a kind: read as a config identifier


def test_get_adapter_layout():
    model = adapter_model("t5")
    model.add_adapter("a", config="seq_bn_inv")
    layers = model.get_adapter("a")
    assert sorted(layers) == [-1, 0, 1, 2, 3]
    assert set(layers[-1]) == {"invertible"}
    assert set(layers[3]) == {"output_adapter"}


def test_summary_as_dict():
    model = adapter_model("bert")
    model.add_adapter("a")
    model.add_adapter("b", config="double_seq_bn")
    model.train_adapter("b")
    rows = model.adapter_summary(as_dict=True)
    assert [r["name"] for r in rows] == ["a", "b", "Full model"]
    assert rows[0]["#param"] == 2 * (32 * 2 + 2 + 2 * 32 + 32)
    assert rows[1]["active"] and not rows[0]["active"]
    assert rows[1]["train"] and not rows[2]["train"]

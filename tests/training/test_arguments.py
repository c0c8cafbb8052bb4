"""AdapterArguments and setup_adapter_training (task adapter, optional stacked language adapter)."""

from __future__ import annotations

import pytest
import torch
from transformers import HfArgumentParser

from adapters import AdapterArguments, AutoAdapterModel, Stack, TrainingSetupError, setup_adapter_training
from tiny_models import config


def _model():
    torch.manual_seed(0)
    return AutoAdapterModel.from_config(config("bert"))


def test_defaults_and_command_line_parsing():
    (args,) = HfArgumentParser(AdapterArguments).parse_args_into_dataclasses(
        ["--train_adapter", "--adapter_config", "lora"]
    )
    assert args.train_adapter and args.adapter_config == "lora"
    defaults = AdapterArguments()
    assert (defaults.train_adapter, defaults.load_adapter, defaults.adapter_config) == (False, "", "seq_bn")
    assert defaults.load_lang_adapter is None and defaults.lang_adapter_config is None


def test_adds_and_trains_a_task_adapter():
    model = _model()
    names = setup_adapter_training(
        model, AdapterArguments(train_adapter=True, adapter_config="seq_bn"), "task", {"reduction_factor": 4}
    )
    assert names == ("task", None)
    assert model.adapters_config.get("task").reduction_factor == 4
    assert model.active_adapters == Stack("task")
    assert not any(p.requires_grad for n, p in model.named_parameters() if ".adapters." not in n)


def test_loads_task_and_language_adapters_and_stacks_them(tmp_path):
    source = _model()
    source.add_adapter("task", config="seq_bn")
    source.add_adapter("lang", config="seq_bn_inv")
    source.save_adapter(str(tmp_path / "task"), "task")
    source.save_adapter(str(tmp_path / "lang"), "lang")
    model = _model()
    args = AdapterArguments(
        train_adapter=True, load_adapter=str(tmp_path / "task"), load_lang_adapter=str(tmp_path / "lang")
    )
    assert setup_adapter_training(model, args, "task") == ("task", "lang")
    assert model.active_adapters == Stack("lang", "task")
    trainable = {n.split(".adapters.")[1].split(".")[0] for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"task"}
    torch.testing.assert_close(
        model.state_dict()["bert.encoder.layer.0.output.adapters.task.adapter_down.0.weight"],
        source.state_dict()["bert.encoder.layer.0.output.adapters.task.adapter_down.0.weight"],
    )


def test_without_train_adapter_nothing_happens_and_loading_is_refused():
    model = _model()
    assert setup_adapter_training(model, AdapterArguments(), "task") == (None, None)
    assert not model.adapters_config.adapters
    with pytest.raises(TrainingSetupError, match="--train_adapter"):
        setup_adapter_training(model, AdapterArguments(load_adapter="somewhere"), "task")

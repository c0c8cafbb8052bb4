"""Bad configs: unknown or malformed config strings, unknown fields, impossible values. Each is refused with a typed
error naming the bad value and what is allowed, and the model is left exactly as it was."""

from __future__ import annotations

import logging

import pytest

from adapters import AdapterConfig, AdapterConfigError, ConfigFieldError, ConfigKeyError, LoRAConfig
from adapters.configuration import ConfigTypeError
from contract.helpers import adapter_model

from .helpers import assert_refused


@pytest.fixture(scope="module")
def model():
    model = adapter_model("bert")
    model.add_adapter("a", config="seq_bn", set_active=True)
    return model


# (config, error, built-in, fragments of the message: the bad value, then what is allowed)
CASES = {
    "unknown identifier": ("seq_bnn", AdapterConfigError, ValueError, "'seq_bnn'", "Did you mean 'seq_bn'", "Known"),
    "unclosed bracket": ("lora[r=4", AdapterConfigError, ValueError, r"'lora\[r=4'", r"name\[key=value"),
    "missing value": ("lora[r=]", AdapterConfigError, ValueError, r"'lora\[r=\]'", "key=value"),
    "code as a value": ("lora[r=__import__('os')]", AdapterConfigError, ValueError, "__import__", "Python literal"),
    "double star": ("lora[**{'r': 2}]", AdapterConfigError, ValueError, r"\*\*", "key=value"),
    "key twice": ("lora[r=1, r=2]", AdapterConfigError, ValueError, "'r' twice"),
    "misspelt field": (
        "lora[dropuot=0.1]",
        ConfigFieldError,
        TypeError,
        "'dropuot'",
        "Did you mean 'dropout'",
        "Valid",
    ),
    "unknown field": ("seq_bn[rank=4]", ConfigFieldError, TypeError, "'rank'", "Valid fields: .*reduction_factor"),
    "reduction_factor 0": ("seq_bn[reduction_factor=0]", AdapterConfigError, ValueError, "got 0", "positive number"),
    "reduction_factor < 0": ("seq_bn[reduction_factor=-2]", AdapterConfigError, ValueError, "got -2", "positive"),
    "r = 0": ("lora[r=0]", AdapterConfigError, ValueError, "r: .*got 0", ">= 1"),
    "prefix_length = 0": ("prefix_tuning[prefix_length=0]", AdapterConfigError, ValueError, "got 0", ">= 1"),
    "lora dropout 1": ("lora[dropout=1.0]", AdapterConfigError, ValueError, "got 1.0", r"in \[0.0, 1.0\)"),
    "bottleneck dropout < 0": ("seq_bn[dropout=-0.1]", AdapterConfigError, ValueError, "got -0.1", r"\[0.0, 1.0\)"),
    "prefix dropout > 1": ("prefix_tuning[dropout=1.5]", AdapterConfigError, ValueError, "got 1.5", r"\[0.0, 1.0\)"),
    "wrong type": ("lora[r='8']", AdapterConfigError, ValueError, "got '8'", "expected an int"),
    "leave_out past the layers": ("seq_bn[leave_out=[5]]", AdapterConfigError, ValueError, r"\[5\]", "0 to 1"),
    "negative leave_out": ("lora[leave_out=[-1]]", AdapterConfigError, ValueError, r"\[-1\]", "0 to 1"),
    "union of one architecture twice": (
        "lora|lora[r=2]",
        AdapterConfigError,
        ValueError,
        "'lora'",
        "cannot be combined",
    ),
    "unknown architecture": ({"architecture": "nope"}, AdapterConfigError, ValueError, "'nope'", "Known: .*lora"),
    "not a config": (3.5, ConfigTypeError, TypeError, "float", "a config, a dict, an identifier"),
    "reduction_factor map without the layer": (
        "seq_bn[reduction_factor={'0': 8}]",
        ConfigKeyError,
        KeyError,
        "'1'",
        "'default'",
    ),
}


@pytest.mark.parametrize("label", CASES)
def test_bad_config_is_refused(model, label):
    config, error, builtin, *fragments = CASES[label]
    assert_refused(model, lambda: model.add_adapter("new", config=config), error, builtin, *fragments)
    assert "new" not in model.adapters_config


def test_misspelt_constructor_argument_and_replace():
    with pytest.raises(TypeError) as caught:
        LoRAConfig(alhpa=4)
    assert type(caught.value) is ConfigFieldError
    assert "'alhpa'" in str(caught.value) and "Did you mean 'alpha'" in str(caught.value)
    with pytest.raises(ConfigFieldError, match="'init_weight'.*Did you mean 'init_weights'"):
        LoRAConfig().replace(init_weight="bert")


def test_file_from_a_newer_version_warns_and_loads(model, caplog, tmp_path):
    """Unknown keys in a saved config (a newer version's fields) are kept and reported; close misspellings are
    suggested in the warning."""
    data = dict(LoRAConfig(r=4).to_dict(), future_option=3, dropuot=0.5)
    with caplog.at_level(logging.WARNING, logger="adapters.configuration.base"):
        config = AdapterConfig.load(data)
    assert config == LoRAConfig(r=4) and config.extra_keys == ("future_option", "dropuot")
    assert "'future_option'" in caplog.text and "Did you mean 'dropout' for 'dropuot'" in caplog.text


@pytest.mark.parametrize("config", ["", {}])
def test_an_empty_config_gives_the_default(config):
    """As in the reference (``AdapterConfig.load`` gives ``None`` for them): found by fuzzing, it crashed with an
    ``AttributeError`` before."""
    model = adapter_model("bert")
    model.add_adapter("new", config=config)
    assert model.adapters_config.get("new") == AdapterConfig.load("seq_bn")


def test_an_unknown_leave_out_key_is_ignored(caplog):
    """``leave_out`` on a config that has no such field (prompt tuning) is an unknown key: warned about and ignored
    (found by fuzzing: ``leave_out=True`` crashed with a ``TypeError`` in the layer check)."""
    model = adapter_model("bert")
    config = AdapterConfig.from_dict({"architecture": "prompt_tuning", "leave_out": True})
    assert "'leave_out'" in caplog.text
    model.add_adapter("new", config=config)
    assert "new" in model.adapters_config and model.adapters_config.get("new").extra_keys == ("leave_out",)

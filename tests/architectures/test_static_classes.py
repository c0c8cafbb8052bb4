"""``adapters.init`` works on every transformers model class of the supported families (every family of
``ALL_FAMILIES``; item 4 of issue 10), including the ones built from part of a model: ``T5EncoderModel`` /
``T5ForTokenClassification`` (encoder only) and ``BartForCausalLM`` / ``MBartForCausalLM`` (decoder only)."""

from __future__ import annotations

import importlib

import pytest
import torch
import transformers as tf
from transformers import PreTrainedModel

import adapters
from adapters.models import family_module_name
from contract.helpers import randomize_adapter
from tiny_models import ALL_FAMILIES, config, inputs

_CONFIG_TYPES = {type(config(family)): family for family in ALL_FAMILIES}
# classes of a supported family whose config is part of another family's tiny config
_SUB_CONFIGS = {"siglip_text_model": ("siglip", "text_config")}


def _family_of(cls: type) -> str | None:
    model_type = cls.config_class.model_type
    return _CONFIG_TYPES.get(cls.config_class) or (model_type if model_type in _SUB_CONFIGS else None)


def _classes() -> list[tuple[str, str]]:
    """Every concrete model class of the modules of the supported families (``ALL_FAMILIES``), with the family
    whose tiny config builds it (classes of other model types in the same module, e.g. data2vec's audio and vision
    models, are not of a supported family)."""
    found = {}
    for family in ALL_FAMILIES:
        module = importlib.import_module(f"transformers.models.{family_module_name(family)}")
        for name in module.__all__:
            cls = getattr(module, name, None)
            concrete = isinstance(cls, type) and issubclass(cls, PreTrainedModel) and "Pretrained" not in name
            if concrete and not name.endswith("PreTrainedModel") and _family_of(cls) is not None:
                found[name] = _family_of(cls)
    return sorted((family, name) for name, family in found.items())


def _config_for(family: str, name: str):
    if family in _SUB_CONFIGS:
        parent, part = _SUB_CONFIGS[family]
        return getattr(config(parent), part)
    if name == "BeitForSemanticSegmentation":  # its decoder reads four backbone stages
        values = {k: v for k, v in config(family).to_dict().items() if k not in ("out_features", "stage_names")}
        return tf.BeitConfig(**{**values, "num_hidden_layers": 4, "out_indices": [1, 2, 3, 4]})
    return config(family)


CLASSES = _classes()


def test_the_partial_classes_are_among_them():
    names = {name for _, name in CLASSES}
    assert {"T5EncoderModel", "T5ForTokenClassification", "BartForCausalLM", "MBartForCausalLM"} <= names
    assert {family for family, _ in CLASSES} == set(ALL_FAMILIES) | {"siglip_text_model"}
    assert len(CLASSES) > 220


@pytest.mark.parametrize("family, name", CLASSES, ids=[name for _, name in CLASSES])
def test_init_and_add_adapters_on_every_class(family, name):
    model = adapters.init(getattr(tf, name)(_config_for(family, name)))
    model.add_adapter("a", config="seq_bn")
    model.add_adapter("l", config="lora")
    layers = [index for index, _ in model.iter_layers()]
    assert layers and layers == list(range(len(layers))) and sorted(model.get_adapter("a")) == layers
    assert sorted(model.get_adapter("l")) == layers


@pytest.mark.parametrize("name", ["T5EncoderModel", "T5ForTokenClassification"])
def test_encoder_only_t5_equals_the_full_models_encoder_with_the_same_adapter(tmp_path, name):
    torch.manual_seed(0)
    full = tf.T5Model(config("t5")).eval()
    full.save_pretrained(tmp_path / "base")
    adapters.init(full)
    full.add_adapter("a", config="seq_bn")
    randomize_adapter(full, "a")
    full.save_adapter(str(tmp_path / "a"), "a")
    part = adapters.init(getattr(tf, name).from_pretrained(tmp_path / "base").eval())
    part.load_adapter(str(tmp_path / "a"), set_active=True)
    assert sorted(part.get_adapter("a")) == [0, 1]  # the encoder's layers, as in the reference
    full.set_active_adapters("a")
    batch = {k: v for k, v in inputs("t5").items() if not k.startswith("decoder")}
    with torch.no_grad():
        expected = full.encoder(**batch).last_hidden_state
        got = part.get_encoder()(**batch).last_hidden_state if name != "T5EncoderModel" else part(**batch)[0]
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)
    assert not part.supports_adapter("prompt_tuning") and part.supports_adapter("invertible")


@pytest.mark.parametrize("family, name", [("bart", "BartForCausalLM"), ("mbart", "MBartForCausalLM")])
def test_decoder_only_bart_numbers_its_layers_from_zero_and_has_no_invertible_adapters(family, name):
    model = adapters.init(getattr(tf, name)(config(family)).eval())
    model.add_adapter("a", config="seq_bn")
    randomize_adapter(model, "a")
    assert sorted(model.get_adapter("a")) == [0, 1]
    assert any(k.startswith("model.decoder.layers.0.") and ".adapters.a." in k for k in model.state_dict())
    assert not model.supports_adapter("invertible")  # its store is on the encoder, which this model lacks
    ids = inputs(family)["input_ids"]
    with torch.no_grad():
        plain = model(input_ids=ids).logits
        model.set_active_adapters("a")
        adapted = model(input_ids=ids).logits
    assert not torch.allclose(plain, adapted, atol=1e-4)

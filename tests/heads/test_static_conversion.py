"""Static transformers heads convert to flexible heads with identical logits and loss (every class in the table).

Two paths: ``save_adapter(..., with_head=True)`` on an ``adapters.init``-ed static model, then ``load_adapter`` into
an AdapterModel (the head is named after the adapter); and ``AutoAdapterModel.from_pretrained`` of a static
checkpoint (head ``"default"``).
"""

from __future__ import annotations

import pytest
import torch
import transformers

import adapters
from adapters.heads.conversion import STATIC_HEADS
from adapters.heads.families import HEAD_FAMILIES
from contract.helpers import randomize_adapter
from heads.head_inputs import batch_for, head_config, logits_of
from tiny_models import ALL_FAMILIES, FAMILIES, config

_PREFIXES = {f: HEAD_FAMILIES[f].class_prefix for f in ALL_FAMILIES if f in HEAD_FAMILIES and f != "whisper"}


def _family(class_name: str) -> str | None:
    matches = [f for f, p in _PREFIXES.items() if class_name.startswith(p)]
    return max(matches, key=lambda f: len(_PREFIXES[f])) if matches else None


ALL_CASES = [name for name in STATIC_HEADS if hasattr(transformers, name) and _family(name) is not None]
# loading a mixture-of-experts checkpoint fuses its experts (seconds per model): one class per MoE family
ALL_CASES = [n for n in ALL_CASES if "Moe" not in n and "Mixtral" not in n or n.endswith("ForCausalLM")]
# the slower save-with-adapter path runs on the first thirteen families
CASES = [name for name in ALL_CASES if _family(name) in FAMILIES]


def test_every_family_has_static_classes_in_the_table():
    assert {_family(name) for name in CASES} == set(FAMILIES)
    assert len(CASES) >= 50 and len(ALL_CASES) >= 120


def _static_model(class_name: str):
    family = _family(class_name)
    torch.manual_seed(0)
    cfg = head_config(family)
    if STATIC_HEADS[class_name].head_type == "question_answering":
        cfg.num_labels = 2  # start and end logits
    return getattr(transformers, class_name)(cfg).eval(), family


def _compare(static, flex, family, head_type, head=None):
    batch = batch_for(family, head_type)
    with torch.no_grad():
        expected = static(**batch)
        got = flex(**batch, head=head) if head else flex(**batch)
    torch.testing.assert_close(logits_of(got), logits_of(expected), atol=1e-5, rtol=1e-5)
    assert expected.loss is not None
    torch.testing.assert_close(got.loss, expected.loss, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("class_name", ALL_CASES)
def test_from_pretrained_static_checkpoint_creates_default_head(class_name, tmp_path):
    static, family = _static_model(class_name)
    static.save_pretrained(tmp_path)
    flex = adapters.AutoAdapterModel.from_pretrained(tmp_path).eval()
    assert list(flex.heads) == ["default"] and flex.active_head == "default"
    head_type = STATIC_HEADS[class_name].head_type
    assert flex.heads["default"].config["head_type"] == head_type
    _compare(static, flex, family, head_type)


@pytest.mark.parametrize("class_name", CASES)
def test_static_head_saved_with_adapter_converts_on_load_adapter(class_name, tmp_path):
    static, family = _static_model(class_name)
    static.save_pretrained(tmp_path / "base")
    adapters.init(static)
    static.add_adapter("test", config="seq_bn")
    randomize_adapter(static, "test")
    static.set_active_adapters("test")
    static.save_adapter(tmp_path / "test", "test")
    assert (tmp_path / "test" / "head_config.json").is_file()

    flex = adapters.AutoAdapterModel.from_pretrained(tmp_path / "base").eval()
    flex.delete_head("default")
    assert flex.load_adapter(str(tmp_path / "test"), set_active=True) == "test"
    assert "test" in flex.config.adapters and "test" in flex.heads
    assert flex.active_head == "test"
    _compare(static, flex, family, STATIC_HEADS[class_name].head_type)


def test_static_head_reloads_into_the_same_static_class(tmp_path):
    static, _ = _static_model("BertForSequenceClassification")
    adapters.init(static)
    static.add_adapter("a")
    static.save_adapter(tmp_path, "a")
    other = transformers.BertForSequenceClassification(head_config("bert")).eval()
    adapters.init(other)
    other.load_adapter(str(tmp_path))
    torch.testing.assert_close(other.classifier.weight, static.classifier.weight, atol=0, rtol=0)


def test_flex_head_cannot_load_into_a_static_model(tmp_path):
    flex = adapters.AutoAdapterModel.from_config(head_config("bert"))
    flex.add_adapter("a")
    flex.add_classification_head("a", num_labels=3)
    flex.save_adapter(tmp_path, "a")
    static = transformers.BertForSequenceClassification(head_config("bert"))
    before = static.classifier.weight.clone()
    adapters.init(static)
    with pytest.raises(adapters.UnsupportedMethodError, match="flexible head saved from 'BertAdapterModel'"):
        static.load_adapter(str(tmp_path))
    assert not static.has_adapters() and torch.equal(static.classifier.weight, before)
    assert static.load_adapter(str(tmp_path), with_head=False) == "a"


def test_unconvertible_static_head_raises(tmp_path):
    flex = adapters.AutoAdapterModel.from_config(config("bert"))
    static = transformers.BertForNextSentencePrediction(config("bert"))
    adapters.init(static)
    static.add_adapter("a")
    static.save_adapter(tmp_path, "a")
    with pytest.raises(adapters.UnsupportedMethodError, match="cannot be converted"):
        flex.load_adapter(str(tmp_path))
    assert not flex.has_adapters() and len(flex.heads) == 0

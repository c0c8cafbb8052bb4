"""save_pretrained writes adapters and heads into config and weights; from_pretrained restores identical outputs."""

from __future__ import annotations

import json

import pytest
import torch

import adapters
from contract.helpers import randomize_adapter
from heads.head_inputs import batch_for, head_config, logits_of

CASES = [
    ("bert", "classification"),
    ("bert", "masked_lm"),
    ("gpt2", "causal_lm"),
    ("t5", "seq2seq_lm"),
    ("bart", "classification"),
    ("llama", "tagging"),
    ("vit", "image_classification"),
]
ADD = {
    "classification": lambda m: m.add_classification_head("task", num_labels=3),
    "masked_lm": lambda m: m.add_masked_lm_head("task"),
    "causal_lm": lambda m: m.add_causal_lm_head("task"),
    "seq2seq_lm": lambda m: m.add_seq2seq_lm_head("task"),
    "tagging": lambda m: m.add_tagging_head("task", num_labels=3),
    "image_classification": lambda m: m.add_image_classification_head("task", num_labels=3),
}


@pytest.mark.parametrize(("family", "head_type"), CASES)
def test_save_pretrained_roundtrip(family, head_type, tmp_path):
    torch.manual_seed(0)
    model = adapters.AutoAdapterModel.from_config(head_config(family)).eval()
    model.add_adapter("task", config="double_seq_bn")
    model.add_adapter("extra", config="par_bn")
    randomize_adapter(model, "task")
    ADD[head_type](model)
    model.set_active_adapters("task")
    batch = batch_for(family, head_type)
    with torch.no_grad():
        expected = model(**batch)
    model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert set(saved["adapters"]["adapters"]) == {"task", "extra"}
    assert saved["prediction_heads"]["task"]["head_type"] == head_type

    loaded = adapters.AutoAdapterModel.from_pretrained(tmp_path).eval()
    assert "task" in loaded.config.adapters and set(loaded.adapters_config.adapters) == {"task", "extra"}
    assert list(loaded.heads) == ["task"] and loaded.active_head == "task"
    assert loaded.active_adapters is None  # as in the reference, the active setup is not persisted
    loaded.set_active_adapters("task")
    with torch.no_grad():
        got = loaded(**batch)
    torch.testing.assert_close(logits_of(got), logits_of(expected), atol=0, rtol=0)
    ours, theirs = loaded.state_dict(), model.state_dict()
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)

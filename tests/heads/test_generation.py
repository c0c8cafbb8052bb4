"""generate() with LM heads and active adapters; AutoAdapterModel of a GPT2LMHeadModel checkpoint == transformers."""

from __future__ import annotations

import pytest
import torch
import transformers

import adapters
from contract.helpers import randomize_adapter
from heads.head_inputs import head_config
from tiny_models import VOCAB


def _greedy_without_cache(model, input_ids, steps, **extra):
    ids = input_ids
    for _ in range(steps):
        with torch.no_grad():
            logits = model(input_ids=ids, use_cache=False, **extra).logits
        ids = torch.cat([ids, logits[:, -1:].argmax(-1)], dim=-1)
    return ids


def test_gpt2_lm_checkpoint_matches_transformers(tmp_path):
    torch.manual_seed(0)
    reference = transformers.GPT2LMHeadModel(head_config("gpt2")).eval()
    reference.save_pretrained(tmp_path)
    model = adapters.AutoAdapterModel.from_pretrained(tmp_path).eval()
    ids = torch.randint(3, VOCAB, (2, 6), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids=ids).logits, reference(input_ids=ids).logits, atol=0, rtol=0)
    ours = model.generate(ids, max_new_tokens=8, do_sample=False)
    theirs = reference.generate(ids, max_new_tokens=8, do_sample=False)
    assert torch.equal(ours, theirs) and ours.shape == (2, 14)
    assert model.heads["default"][0].weight is model.transformer.wte.weight


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_causal_generation_with_adapter(family):
    torch.manual_seed(0)
    model = adapters.AutoAdapterModel.from_config(head_config(family)).eval()
    model.add_adapter("a", config="seq_bn")
    randomize_adapter(model, "a")
    model.add_causal_lm_head("a")
    model.set_active_adapters("a")
    ids = torch.randint(3, VOCAB, (1, 5), generator=torch.Generator().manual_seed(2))
    generated = model.generate(ids, max_new_tokens=6, do_sample=False)
    assert torch.equal(generated, _greedy_without_cache(model, ids, 6))
    model.set_active_adapters(None)
    model.active_head = "a"
    assert not torch.equal(model.generate(ids, max_new_tokens=6, do_sample=False), generated)


@pytest.mark.parametrize("family", ["t5", "bart"])
def test_seq2seq_generation_with_adapter(family):
    torch.manual_seed(0)
    config = head_config(family)
    model = adapters.AutoAdapterModel.from_config(config).eval()
    model.add_adapter("a", config="double_seq_bn")
    randomize_adapter(model, "a")
    model.add_seq2seq_lm_head("a")
    model.set_active_adapters("a")
    ids = torch.randint(3, VOCAB, (1, 6), generator=torch.Generator().manual_seed(3))
    generated = model.generate(ids, max_new_tokens=5, do_sample=False)
    start = model.generation_config.decoder_start_token_id
    decoder = torch.tensor([[start]])
    for _ in range(generated.shape[1] - 1):
        with torch.no_grad():
            logits = model(input_ids=ids, decoder_input_ids=decoder, use_cache=False).logits
        decoder = torch.cat([decoder, logits[:, -1:].argmax(-1)], dim=-1)
    assert torch.equal(generated, decoder)


def test_encoder_model_builds_a_generation_config_only_with_an_lm_head(tmp_path):
    """BERT-like AdapterModels can generate through a causal_lm head; without one they build no generation config
    (transformers' from_pretrained spends about 5 ms of a BERT-base load on it) and save no generation_config.json."""
    model = adapters.AutoAdapterModel.from_config(head_config("bert"))
    assert type(model).can_generate() and not model.can_generate()
    assert getattr(model, "generation_config", None) is None
    model.add_classification_head("sentiment", num_labels=2)
    assert not model.can_generate() and getattr(model, "generation_config", None) is None
    model.save_pretrained(tmp_path / "classifier")
    assert not (tmp_path / "classifier" / "generation_config.json").exists()
    reloaded = adapters.AutoAdapterModel.from_pretrained(tmp_path / "classifier")
    assert not reloaded.can_generate() and getattr(reloaded, "generation_config", None) is None

    reloaded.add_causal_lm_head("lm")
    assert reloaded.can_generate() and reloaded.generation_config is not None
    ids = torch.randint(3, VOCAB, (1, 4), generator=torch.Generator().manual_seed(0))
    assert reloaded.generate(ids, max_new_tokens=3, do_sample=False, pad_token_id=0).shape == (1, 7)
    reloaded.save_pretrained(tmp_path / "lm")
    assert (tmp_path / "lm" / "generation_config.json").exists()
    again = adapters.AutoAdapterModel.from_pretrained(tmp_path / "lm")
    assert again.can_generate() and again.generation_config is not None and set(again.heads) == {"sentiment", "lm"}


def test_decoder_model_can_always_generate():
    model = adapters.AutoAdapterModel.from_config(head_config("gpt2"))
    assert model.can_generate() and model.generation_config is not None

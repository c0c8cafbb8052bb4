"""Integration: a seq_bn adapter on the real MiniLM (all-MiniLM-L6-v2) trained on real Rotten Tomatoes reviews."""

from __future__ import annotations

import pytest
import torch

from adapters._assets import assets_available

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not assets_available(), reason="offline asset packages are not installed (see Makefile)"),
]


@pytest.fixture(scope="module")
def trained():
    """The demo's model (MiniLM + seq_bn + classification head) trained 4 epochs on 64 reviews (8 steps of 32);
    returns it with its loss on those reviews before and after."""
    from transformers import TrainingArguments

    from adapters import AdapterTrainer
    from adapters.training.data import load_task_data
    from adapters.training.job import build_model
    from adapters.training.tasks import data_collator, encode

    torch.manual_seed(0)
    data = load_task_data("rotten_tomatoes")
    model, tokenizer = build_model("minilm", data.task, list(data.labels), "rt", "seq_bn")
    rows = encode(data.split("train")[:64], data.task, tokenizer, 64)
    args = TrainingArguments(output_dir="unused", num_train_epochs=4, per_device_train_batch_size=32,
                             learning_rate=2e-3, save_strategy="no", report_to="none", disable_tqdm=True, seed=0)
    trainer = AdapterTrainer(model=model, args=args, train_dataset=rows,
                             data_collator=data_collator(data.task, tokenizer))  # fmt: skip
    before = trainer.evaluate(rows)["eval_loss"]
    trainer.train()
    return model, before, trainer.evaluate(rows)["eval_loss"], trainer.state.global_step


def test_training_lowers_the_loss(trained):
    _, before, after, steps = trained
    assert steps == 8
    assert after < before - 0.05, (before, after)


def test_only_adapter_and_head_train(trained):
    model = trained[0]
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    # seq_bn on 6 layers of hidden 384: 6 × (384·24 + 24 + 24·384 + 384) = 113,040; head 384·384 + 384 + 384·2 + 2
    assert trainable == 113_040 + 148_610
    assert trainable / sum(p.numel() for p in model.parameters()) < 0.012


def test_trained_adapter_roundtrips(tmp_path):
    from transformers import AutoTokenizer, BertModel

    import adapters
    from adapters._assets import minilm_path

    path = minilm_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    batch = tokenizer(["A gripping, beautiful film.", "Dull."], padding=True, return_tensors="pt")
    model = BertModel.from_pretrained(path).eval()
    adapters.init(model)
    model.add_adapter("rt", config="seq_bn", set_active=True)
    with torch.no_grad():
        for _, param in model._adapter_parameters("rt"):
            param.normal_(std=0.05)
        expected = model(**batch).last_hidden_state
    model.save_adapter(tmp_path / "rt", "rt")
    fresh = BertModel.from_pretrained(path).eval()
    adapters.init(fresh)
    fresh.load_adapter(str(tmp_path / "rt"), set_active=True)
    with torch.no_grad():
        torch.testing.assert_close(fresh(**batch).last_hidden_state, expected, atol=0, rtol=0)

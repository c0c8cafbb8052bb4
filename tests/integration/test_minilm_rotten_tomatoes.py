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
def demo_result():
    from adapters.demo import train_sentiment_adapter

    return train_sentiment_adapter(steps=30, examples=256, batch_size=16, lr=5e-3, seed=0, log=lambda *_: None)


def test_training_lowers_the_loss(demo_result):
    assert len(demo_result.losses) == 30
    assert all(torch.isfinite(torch.tensor(demo_result.losses)))
    assert demo_result.last_loss < demo_result.first_loss - 0.03


def test_only_adapter_and_head_train(demo_result):
    # seq_bn on 6 layers of hidden 384: 6 × (384·24 + 24 + 24·384 + 384) = 113,040; classifier 384·2 + 2 = 770
    assert demo_result.trainable_parameters == 113_040 + 770
    assert demo_result.trainable_parameters / demo_result.total_parameters < 0.01


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

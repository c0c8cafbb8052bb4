"""AdapterTrainer with AdapterFusion: only fusion layers train, the value regularisation is in the loss, no weight
decay on the value matrices, and fusion checkpoints round-trip."""

from __future__ import annotations

import torch

from adapters import AdapterTrainer, AutoAdapterModel, Fuse
from adapters.training import load_checkpoint
from tiny_models import config
from training.helpers import tiny_args, tiny_dataset


def _fusion_model(adapter_seed: int = 0):
    torch.manual_seed(0)
    cfg = config("bert")
    cfg.hidden_dropout_prob = cfg.attention_probs_dropout_prob = 0.0
    model = AutoAdapterModel.from_config(cfg)
    torch.manual_seed(adapter_seed)
    model.add_adapter("x")
    model.add_adapter("y")
    model.add_classification_head("cb", num_labels=2)
    setup = Fuse("x", "y")
    model.add_adapter_fusion(setup)
    model.set_active_adapters(setup)
    model.train_adapter_fusion(setup)
    model.active_head = "cb"
    return model


def _fusion_state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items() if "adapter_fusion_layer." in k}


def test_loss_includes_the_fusion_regularisation(tmp_path):
    model = _fusion_model()
    with torch.no_grad():  # move the value matrices away from the identity so the term is not zero
        for name, param in model.named_parameters():
            if "adapter_fusion_layer." in name and name.endswith("value.weight"):
                param.add_(0.1)
    trainer = AdapterTrainer(model=model, args=tiny_args(tmp_path), train_dataset=tiny_dataset())
    batch = trainer.data_collator(tiny_dataset(4))
    model.train()
    loss = trainer.compute_loss(model, batch)
    plain = model(**batch).loss
    regularization = model.get_fusion_regularization_loss()
    assert regularization.item() > 1e-3
    torch.testing.assert_close(loss, plain + regularization)
    model.eval()  # evaluation reports the task loss only
    torch.testing.assert_close(trainer.compute_loss(model, batch), model(**batch).loss)


def test_value_matrices_get_no_weight_decay(tmp_path):
    model = _fusion_model()
    trainer = AdapterTrainer(model=model, args=tiny_args(tmp_path, weight_decay=0.1), train_dataset=tiny_dataset())
    decayed = trainer.get_decay_parameter_names(model)
    assert not [n for n in decayed if "adapter_fusion_layer." in n and ".value." in n]
    assert [n for n in decayed if "adapter_fusion_layer." in n and ".query." in n]


def test_fusion_training_changes_only_fusion_and_head_and_round_trips(tmp_path):
    model = _fusion_model()
    adapters_before = {k: v.clone() for k, v in model.state_dict().items() if ".adapters." in k}
    fusion_before = _fusion_state(model)
    trainer = AdapterTrainer(model=model, args=tiny_args(tmp_path), train_dataset=tiny_dataset())
    trainer.train()
    trainer.save_model(tmp_path / "out")
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"x", "y", "x,y", "cb", "training_args.bin"}
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in adapters_before.items())
    trained = _fusion_state(model)
    assert any(not torch.equal(fusion_before[k], trained[k]) for k in trained)
    fresh = _fusion_model(adapter_seed=1)
    load_checkpoint(fresh, tmp_path / "out")
    assert fresh.active_adapters == Fuse("x", "y") and fresh.active_head == "cb"
    for key, value in trained.items():
        torch.testing.assert_close(fresh.state_dict()[key], value, rtol=0, atol=0)
    assert all(p.requires_grad for p in fresh._fusion_parameters("x,y"))
    assert not any(p.requires_grad for n, p in fresh.named_parameters() if ".adapters." in n)

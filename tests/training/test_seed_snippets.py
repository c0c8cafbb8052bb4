"""The training code of seed 004 ("Train an Adapter", AdapterDrop, AdapterFusion), run on a tiny model.

The snippets are the seed's, with a tiny randomly initialised model instead of ``roberta-base`` /
``bert-base-uncased`` (no downloads here) and ``trainer`` built with ``AdapterTrainer``.
"""

from __future__ import annotations

import numpy as np
import torch
from transformers import TrainerCallback

from adapters import AdapterTrainer, AutoAdapterModel, Fuse
from tiny_models import config
from training.helpers import tiny_args, tiny_dataset


def _pretrained():
    torch.manual_seed(0)
    return AutoAdapterModel.from_config(config("roberta"))


def test_train_an_adapter_snippet(tmp_path):
    model = _pretrained()
    model.add_adapter("sst-2")
    model.train_adapter("sst-2")
    model.add_classification_head("sst-2", num_labels=2)
    model.set_active_adapters("sst-2")

    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer = AdapterTrainer(model=model, args=tiny_args(tmp_path / "run"), train_dataset=tiny_dataset())
    trainer.train()
    model.save_all_adapters(str(tmp_path / "output-path"))

    changed = {k for k, v in model.state_dict().items() if not torch.equal(before[k], v)}
    assert changed and all(".adapters.sst-2." in k or k.startswith("heads.sst-2.") for k in changed)
    assert {p.name for p in (tmp_path / "output-path" / "sst-2").iterdir()} == {
        "adapter_config.json", "adapter.safetensors", "head_config.json", "model_head.safetensors"
    }  # fmt: skip


class AdapterDropTrainerCallback(TrainerCallback):
    def on_step_begin(self, args, state, control, **kwargs):
        skip_layers = list(range(np.random.randint(0, 11)))
        kwargs["model"].set_active_adapters("rotten_tomatoes", skip_layers=skip_layers)

    def on_evaluate(self, args, state, control, **kwargs):
        # Deactivate skipping layers during evaluation (otherwise it would use the
        # previous randomly chosen skip_layers and thus yield results not comparable
        # across different epochs)
        kwargs["model"].set_active_adapters("rotten_tomatoes", skip_layers=None)


def test_adapter_drop_callback_snippet(tmp_path):
    model = _pretrained()
    model.add_adapter("rotten_tomatoes")
    model.add_classification_head("rotten_tomatoes", num_labels=2)
    model.train_adapter("rotten_tomatoes")
    np.random.seed(1)
    trainer = AdapterTrainer(
        model=model,
        args=tiny_args(tmp_path, eval_strategy="steps", eval_steps=2),
        train_dataset=tiny_dataset(),
        eval_dataset=tiny_dataset(8),
        callbacks=[AdapterDropTrainerCallback()],
    )
    trainer.train()
    assert not model._adapter_runtime.skip_layers  # the last evaluation reset it
    assert sum("eval_loss" in entry for entry in trainer.state.log_history) == 2  # steps 2 and 4


def test_adapter_fusion_snippet(tmp_path):
    model = _pretrained()
    # the seed loads three pre-trained adapters from the hub with with_head=False; here they are added
    for name in ("multinli", "qqp", "qnli"):
        model.add_adapter(name)
    model.add_classification_head("cb")

    adapter_setup = Fuse("multinli", "qqp", "qnli")
    model.add_adapter_fusion(adapter_setup)
    model.set_active_adapters(adapter_setup)
    model.train_adapter_fusion(adapter_setup)

    trainer = AdapterTrainer(model=model, args=tiny_args(tmp_path), train_dataset=tiny_dataset())
    trainer.train()
    trainer.save_model(str(tmp_path / "out"))
    assert {p.name for p in (tmp_path / "out").iterdir()} >= {"multinli", "qqp", "qnli", "multinli,qqp,qnli", "cb"}

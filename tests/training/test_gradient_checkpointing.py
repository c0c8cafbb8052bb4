"""AdapterTrainer with activation (gradient) checkpointing: the same adapter weights as without it.

Checkpointing re-runs each layer's forward during backward, so per-call adapter state must survive the re-run.
"""

from __future__ import annotations

import pytest
import torch

from adapters import AdapterTrainer
from training.helpers import adapter_weights, tiny_args, tiny_classifier, tiny_dataset


@pytest.mark.parametrize("config_string", ["seq_bn", "lora", "prefix_tuning"])
def test_checkpointing_gives_the_same_weights(tmp_path, config_string):
    results = []
    for checkpointing in (False, True):
        model = tiny_classifier(config_string=config_string, dropout=0.0)
        args = tiny_args(tmp_path / str(checkpointing), max_steps=2, activation_checkpointing=checkpointing)
        AdapterTrainer(model=model, args=args, train_dataset=tiny_dataset(8)).train()
        assert model.base_model.is_gradient_checkpointing == checkpointing
        results.append(adapter_weights(model))
    plain, checkpointed = results
    assert any(not torch.equal(v, adapter_weights(tiny_classifier(config_string=config_string))[k])
               for k, v in plain.items())  # fmt: skip
    for key in plain:
        torch.testing.assert_close(checkpointed[key], plain[key], rtol=1e-5, atol=1e-6)

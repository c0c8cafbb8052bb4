"""``MultiTask`` with ``task_ids`` for every method that can route rows: each row equals the same batch run with
that row's adapter (item 6 of issue 10)."""

from __future__ import annotations

import pytest
import torch

import adapters
from adapters import MultiTask
from adapters.errors import CompositionError
from contract.helpers import randomize_adapter
from tiny_models import build, output

CASES = {
    "bottleneck": ("seq_bn", "seq_bn[reduction_factor=4]", "double_seq_bn"),
    "bottleneck_mixed_finish": ("seq_bn", "par_bn", "seq_bn[original_ln_after=False]"),
    "prefix_tuning": ("prefix_tuning[prefix_length=3]", "prefix_tuning[prefix_length=5]", "prefix_tuning_flat"),
    "lora": ("lora", "lora[r=4, alpha=4]", "lora[attn_matrices=['q', 'k', 'v']]"),
    "ia3": ("ia3", "ia3", "ia3[intermediate_lora=False]"),
}
TASK_IDS = [2, 0, 1, 0]


def batch(family: str) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(3)
    ids = torch.randint(3, 99, (4, 6), generator=generator)
    mask = torch.ones(4, 6, dtype=torch.long)
    mask[1, -2:] = 0
    mask[3, -1:] = 0
    return {"input_ids": ids, "attention_mask": mask}


def model_with(family: str, configs: tuple[str, ...]):
    model = adapters.init(build(family))
    for index, config in enumerate(configs):
        model.add_adapter(f"t{index}", config=config)
        randomize_adapter(model, f"t{index}", seed=index)
    return model


@pytest.mark.parametrize("family", ["bert", "gpt2"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_multi_task_equals_each_row_with_its_own_adapter(family, case):
    model = model_with(family, CASES[case])
    inputs = batch(family)
    names = [f"t{i}" for i in range(len(CASES[case]))]
    expected = torch.empty_like(output(model, inputs))
    for task in set(TASK_IDS):
        with adapters.AdapterSetup(names[task]):
            alone = output(model, inputs)
        rows = [row for row, t in enumerate(TASK_IDS) if t == task]
        expected[rows] = alone[rows]
    model.set_active_adapters(MultiTask(*names))
    with torch.no_grad():
        routed = model(**inputs, task_ids=torch.tensor(TASK_IDS)).last_hidden_state
        by_name = model(**inputs, task_ids=[names[t] for t in TASK_IDS]).last_hidden_state
    torch.testing.assert_close(routed, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(by_name, routed, atol=0, rtol=0)


def test_multi_task_needs_task_ids_that_fit():
    model = model_with("bert", CASES["bottleneck"])
    model.set_active_adapters(MultiTask("t0", "t1"))
    inputs = batch("bert")
    with pytest.raises(CompositionError, match="task_ids"):
        model(**inputs)
    with pytest.raises(CompositionError, match="per example"):
        model(**inputs, task_ids=[0, 1])
    with pytest.raises(CompositionError, match="not in the MultiTask"):
        model(**inputs, task_ids=["t0", "t2", "t0", "t1"])

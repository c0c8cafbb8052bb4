"""Contract suite, breadth: every method × every architecture (tiny configs), one representative config per method.

Each supported cell of the matrix (``contract/matrix.py``) runs one test: the adapter changes the outputs once its
weights are random and deactivating it restores the base outputs exactly; ``train_adapter`` makes exactly its
parameters trainable and they all get gradients; save → load into a fresh model reproduces the outputs with no
missing or unexpected keys; ``delete_adapter`` restores the model exactly (keys, tensors, hooks). Fusion cells check
that the fusion layer changes the outputs and trains alone; Parallel cells that each channel equals its adapter run
alone. Each refused cell checks that ``add_adapter`` raises a typed error that gives the reason.

The config sweeps (every bottleneck / LoRA-family / prefix-prompt-ReFT config) run on the families in
``contract.configs.SWEEP_FAMILIES`` in the other contract modules.
"""

from __future__ import annotations

import pytest
import torch

import adapters
from adapters.errors import AdapterError
from adapters.methods import adapter_key_pattern
from contract.helpers import all_hooks, randomize_adapter
from contract.matrix import COLUMNS, ROWS, setup_for, support
from tiny_models import build, hidden, inputs, output

SUPPORTED = [(f, c) for f in ROWS for c in COLUMNS if support(f)[c.title] is None]
REFUSED = [(f, c) for f in ROWS for c in COLUMNS if support(f)[c.title] is not None and c.composition is None]


def _model(family: str, seed: int = 0):
    model = build(family, seed=seed)
    adapters.init(model)
    return model


def _without_dropout(model) -> None:
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0


def _check_single(family: str, column, tmp_path) -> None:
    batch = inputs(family)
    model = _model(family)
    base = output(model, batch)
    keys, tensors, hooks = list(model.state_dict()), dict(model.state_dict()), all_hooks(model)
    model.add_adapter("a", config=column.config, set_active=True)
    randomize_adapter(model, "a")
    adapted = output(model, batch)
    if column.title == "Prompt Tuning" and not model.config.is_encoder_decoder:
        assert adapted.shape[1] == base.shape[1] + 3
    else:  # encoder-decoder prompt tuning: the prompt joins the encoder input, the decoder output keeps its length
        assert adapted.shape == base.shape and (adapted - base).abs().max() > 1e-4
    model.set_active_adapters(None)
    assert torch.equal(output(model, batch), base)

    model.train_adapter("a")
    _without_dropout(model)
    pattern = adapter_key_pattern("a")
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and trainable == {n for n, _ in model.named_parameters() if pattern.search(n)}
    hidden(model(**batch)).pow(2).sum().backward()
    unused = {n for n, p in model.named_parameters() if n in trainable and p.grad is None}
    assert not {n for n in unused if ".units.1." not in n}, unused  # LoReFT's suffix unit is unused by design
    model.eval()

    model.save_adapter(tmp_path / "a", "a")
    fresh = _model(family)
    info: dict = {}
    assert fresh.load_adapter(str(tmp_path / "a"), set_active=True, loading_info=info) == "a"
    assert info == {"missing_keys": [], "unexpected_keys": []}
    torch.testing.assert_close(output(fresh, batch), adapted, atol=1e-6, rtol=0)

    model.delete_adapter("a")
    assert list(model.state_dict()) == keys and all_hooks(model) == hooks
    assert all(model.state_dict()[k].data_ptr() == t.data_ptr() for k, t in tensors.items())
    assert torch.equal(output(model, batch), base)


def _two_adapters(family: str, column):
    model = _model(family)
    for name in ("a", "b"):
        model.add_adapter(name, config=column.config)
        randomize_adapter(model, name, seed=ord(name))
    return model


def _check_fusion(family: str, column) -> None:
    batch, model = inputs(family), _two_adapters(family, column)
    model.add_adapter_fusion(adapters.Fuse("a", "b"))
    model.set_active_adapters(adapters.Stack("a"))
    single = output(model, batch)
    model.train_adapter_fusion(adapters.Fuse("a", "b"))
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("adapter_fusion_layer" in n for n in trainable)
    model.eval()
    fused = output(model, batch)
    assert fused.shape == single.shape and (fused - single).abs().max() > 1e-5
    model.delete_adapter_fusion(adapters.Fuse("a", "b"))
    assert not any("adapter_fusion_layer" in n for n, _ in model.named_parameters())


def _check_parallel(family: str, column) -> None:
    batch, model = inputs(family), _two_adapters(family, column)
    alone = {}
    for name in ("a", "b"):
        model.set_active_adapters(name)
        alone[name] = output(model, batch)
    model.set_active_adapters(setup_for(column))
    both = output(model, batch)
    rows = alone["a"].shape[0]
    assert both.shape[0] == 2 * rows
    torch.testing.assert_close(both[:rows], alone["a"], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(both[rows:], alone["b"], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(("family", "column"), SUPPORTED, ids=[f"{f}-{c.title}" for f, c in SUPPORTED])
def test_supported_cell(family, column, tmp_path):
    if column.composition == "fuse":
        _check_fusion(family, column)
    elif column.composition == "parallel":
        _check_parallel(family, column)
    else:
        _check_single(family, column, tmp_path)


@pytest.mark.parametrize(("family", "column"), REFUSED, ids=[f"{f}-{c.title}" for f, c in REFUSED])
def test_refused_cell_raises_a_typed_error_with_the_reason(family, column):
    model = _model(family)
    keys = list(model.state_dict())
    with pytest.raises(AdapterError) as raised:
        model.add_adapter("a", config=column.config)
    assert support(family)[column.title] in str(raised.value)
    assert list(model.state_dict()) == keys and "a" not in model.adapters_config.adapters

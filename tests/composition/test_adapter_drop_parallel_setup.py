"""AdapterDrop (skip_layers and the training callback), Parallel generation, saving and loading a whole setup."""

from __future__ import annotations

import torch
from transformers import TrainerControl, TrainerState, TrainingArguments

import adapters
from adapters import AdapterSetup, Fuse, Parallel, Stack
from adapters.training import AdapterDropTrainerCallback
from contract.helpers import adapter_model, randomize_adapter
from heads.head_inputs import batch_for, head_config
from tiny_models import VOCAB, build, inputs, output


def _layer_outputs(model, batch):
    seen, handles = {}, []
    for index, layer in model.iter_layers():
        handles.append(layer.register_forward_hook(lambda m, a, o, i=index: seen.__setitem__(i, o)))
    output(model, batch)
    for handle in handles:
        handle.remove()
    return seen


def test_skip_layers_leave_those_layers_bare():
    batch = inputs("llama")
    bare = build("llama")
    adapters.init(bare)
    expected = _layer_outputs(bare, batch)
    model = adapter_model("llama")
    model.add_adapter("a", config="double_seq_bn")
    model.add_adapter("b", config="lora")
    for name in ("a", "b"):
        randomize_adapter(model, name)
    model.set_active_adapters(Stack("a", "b"), skip_layers=[0, 1])
    skipped = _layer_outputs(model, batch)
    for index in (0, 1):
        torch.testing.assert_close(skipped[index], expected[index], atol=0, rtol=0)
    model.set_active_adapters(Stack("a", "b"))
    assert (_layer_outputs(model, batch)[0] - expected[0]).abs().max() > 1e-3
    with AdapterSetup(Stack("a", "b"), skip_layers=[0]):
        in_context = _layer_outputs(model, batch)
    torch.testing.assert_close(in_context[0], expected[0], atol=0, rtol=0)


def test_adapter_drop_callback_randomises_skipped_layers():
    model = adapter_model("bert")
    model.add_adapter("rotten_tomatoes")
    callback = AdapterDropTrainerCallback("rotten_tomatoes", seed=0)
    args, state, control = TrainingArguments(output_dir="unused", report_to=[]), TrainerState(), TrainerControl()
    seen = set()
    for _ in range(20):
        callback.on_step_begin(args, state, control, model=model)
        assert model.active_adapters == Stack("rotten_tomatoes")
        skipped = model._adapter_runtime.skip_layers
        assert list(skipped) == list(range(len(skipped))) and len(skipped) < 2
        seen.add(len(skipped))
    assert seen == {0, 1}
    callback.on_evaluate(args, state, control, model=model)
    assert model._adapter_runtime.skip_layers == frozenset()


def test_parallel_generate_equals_separate_generates():
    torch.manual_seed(0)
    model = adapters.AutoAdapterModel.from_config(head_config("gpt2")).eval()
    for name, seed in (("a", 1), ("b", 2)):
        model.add_adapter(name)
        randomize_adapter(model, name, seed=seed)
        model.add_causal_lm_head(name)
    ids = torch.randint(3, VOCAB, (2, 5), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    model.set_active_adapters(Parallel("a", "b"))
    both = model.generate(ids, attention_mask=mask, max_new_tokens=6, do_sample=False)
    separate = []
    for name in ("a", "b"):
        model.set_active_adapters(name)
        separate.append(model.generate(ids, attention_mask=mask, max_new_tokens=6, do_sample=False))
    assert both.shape == (4, 11)
    assert torch.equal(both[:2], separate[0]) and torch.equal(both[2:], separate[1])
    assert not torch.equal(separate[0], separate[1])


def test_adapter_setup_roundtrip(tmp_path):
    torch.manual_seed(0)
    model = adapters.AutoAdapterModel.from_config(head_config("bert")).eval()
    for index, name in enumerate(("a", "b", "c")):
        model.add_adapter(name)
        randomize_adapter(model, name, seed=index)
    model.add_adapter_fusion(Fuse("a", "b"))
    model.add_classification_head("c", num_labels=3)
    setup = Stack(Fuse("a", "b"), "c")
    model.set_active_adapters(setup)
    batch = batch_for("bert", "classification")
    expected = model(**batch).logits
    model.save_adapter_setup(str(tmp_path), setup, head_setup="c")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "a,b", "adapter_setup.json", "b", "c"]
    fresh = adapters.AutoAdapterModel.from_config(head_config("bert")).eval()
    fresh.load_state_dict(model.state_dict(), strict=False)
    loaded_setup, head_setup = fresh.load_adapter_setup(str(tmp_path), set_active=True)
    assert loaded_setup == setup and head_setup == "c" and fresh.active_head == "c"
    torch.testing.assert_close(fresh(**batch).logits, expected, atol=0, rtol=0)

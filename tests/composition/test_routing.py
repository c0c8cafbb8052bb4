"""Per-row routing (``model(**batch, adapter_names=[...])``, item 1 of issue 17): every row of a routed batch equals
that row run alone with its adapter (or with none), padding included, for every method family, mixed methods, mixed
head types and generation; names that do not fit fail before any computation."""

from __future__ import annotations

import pytest
import torch
import transformers as tf

import adapters
from adapters import AutoAdapterModel, Fuse, MultiTask, RoutedOutput
from adapters.errors import AdapterNotFoundError, RoutingError
from contract.helpers import randomize_adapter
from tiny_models import build, config, hidden

METHODS = {
    "seq_bn": ("seq_bn", "seq_bn[reduction_factor=4]"),
    "par_bn": ("par_bn", "par_bn[reduction_factor=4]"),
    "lora": ("lora", "lora[r=4, alpha=4]"),
    "ia3": ("ia3", "ia3[intermediate_lora=False]"),
    "prefix_tuning": ("prefix_tuning[prefix_length=3]", "prefix_tuning[prefix_length=5]"),
    "prompt_tuning": ("prompt_tuning[prompt_length=3]", "prompt_tuning[prompt_length=5, combine='prefix_after_bos']"),
    "loreft": ("loreft", "loreft[prefix_positions=1, suffix_positions=2]"),
}
# the mixed batch: every family at once, one adapter each
MIXED = {
    "lo": "lora",
    "bn": "seq_bn",
    "px": "prefix_tuning[prefix_length=2]",
    "pt": "prompt_tuning[prompt_length=4]",
    "rf": "loreft",
    "ia": "ia3",
    "pb": "par_bn",
}
NAMES = ["t1", None, "t0", "t1", None, "t0"]  # any order, repeats, rows without adapter


def _batch(rows: int, left: bool, seed: int = 5) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, 90, (rows, 6), generator=generator)
    mask = torch.ones(rows, 6, dtype=torch.long)
    for row, pad in ((1, 2), (2, 1), (rows - 1, 3)):
        if left:
            mask[row, :pad] = 0
        else:
            mask[row, -pad:] = 0
    return {"input_ids": ids, "attention_mask": mask}


def _model(family: str, configs: dict[str, str]):
    model = adapters.init(build(family))
    for index, (name, adapter_config) in enumerate(configs.items()):
        model.add_adapter(name, config=adapter_config)
        randomize_adapter(model, name, seed=index + 1)
    return model


def _row(batch: dict, row: int) -> dict:
    return {k: v[row : row + 1] for k, v in batch.items()}


def _assert_rows_alone(model, batch: dict, names: list, run=lambda m, b: hidden(m(**b))):
    """Each row of the routed output equals the row run alone (the routed row may have leading masked columns from
    prompts of other rows); adapter rows differ from the base model's."""
    with torch.no_grad():
        routed = run(model, {**batch, "adapter_names": names})
        for row, name in enumerate(names):
            with adapters.AdapterSetup(name):
                alone = run(model, _row(batch, row))
            torch.testing.assert_close(routed[row : row + 1, -alone.shape[1] :], alone, atol=1e-5, rtol=1e-5)
            if name is not None:
                with adapters.AdapterSetup(None):
                    base = run(model, _row(batch, row))
                assert alone.shape != base.shape or not torch.allclose(alone, base, atol=1e-4), name


CASES = [(f, m) for f in ("bert", "llama", "bart") for m in METHODS if not (f == "bart" and m == "prompt_tuning")]


@pytest.mark.parametrize(("family", "method"), CASES)
def test_routed_rows_equal_each_row_alone(family, method):
    model = _model(family, {"t0": METHODS[method][0], "t1": METHODS[method][1]})
    batch = _batch(6, left=family == "llama")
    if family == "bart":
        batch["decoder_input_ids"] = torch.randint(3, 90, (6, 4), generator=torch.Generator().manual_seed(2))
    _assert_rows_alone(model, batch, NAMES)


@pytest.mark.parametrize("family", ["bert", "gpt2"])
def test_mixed_methods_in_one_batch(family):
    model = _model(family, MIXED)
    names = ["pt", None, "lo", "rf", "bn", "px", "ia", "pb", "lo", "pt"]
    _assert_rows_alone(model, _batch(len(names), left=family == "gpt2"), names)


def test_invertible_adapters_route_rows():
    model = _model("bert", {"t0": "seq_bn_inv", "t1": "double_seq_bn_inv"})
    _assert_rows_alone(model, _batch(6, left=False), NAMES)


def test_multi_task_routes_prompts_and_interventions_with_rows_without_adapter():
    model = _model("gpt2", {"t0": "prompt_tuning[prompt_length=2]", "t1": "loreft", "t2": "prompt_tuning"})
    model.set_active_adapters(MultiTask("t0", "t1", "t2"))
    batch = _batch(4, left=True)
    with torch.no_grad():
        by_ids = hidden(model(**batch, task_ids=[2, None, 0, 1]))
        by_tensor = hidden(model(**batch, task_ids=torch.tensor([2, -1, 0, 1])))
        model.set_active_adapters(None)
        routed = hidden(model(**batch, adapter_names=["t2", None, "t0", "t1"]))
    torch.testing.assert_close(by_ids, routed, atol=0, rtol=0)
    torch.testing.assert_close(by_tensor, routed, atol=0, rtol=0)


# heads ---------------------------------------------------------------------------------------------------------
def _head_model():
    torch.manual_seed(0)
    model = AutoAdapterModel.from_config(config("bert")).eval()
    for index, (name, adapter_config) in enumerate(
        {"sent": "seq_bn", "ner": "lora", "topics": "prompt_tuning[prompt_length=3]", "qa": "prefix_tuning"}.items()
    ):
        model.add_adapter(name, config=adapter_config)
        randomize_adapter(model, name, seed=index + 1)
    model.add_classification_head("sent", num_labels=2)
    model.add_tagging_head("ner", num_labels=5)
    model.add_classification_head("topics", num_labels=4, multilabel=True)
    model.add_qa_head("qa")
    with torch.no_grad():  # visible head outputs
        for param in model.heads.parameters():
            param.normal_(0, 0.5)
    return model


def test_mixed_head_types_give_one_output_per_row_in_request_order():
    model = _head_model()
    names = ["ner", "topics", "sent", "qa", "topics", "ner", "sent"]
    batch = _batch(len(names), left=False)
    with torch.no_grad():
        out = model(**batch, adapter_names=names)
        assert isinstance(out, RoutedOutput)
        assert out.head_names == names and out.adapter_names == names
        assert out.logits is None  # head outputs of different shapes are not stacked
        for row, name in enumerate(names):
            with adapters.AdapterSetup(name):
                alone = model(**_row(batch, row), head=name)
            assert type(out[row]) is type(alone)
            for key, value in alone.items():
                if isinstance(value, torch.Tensor):
                    torch.testing.assert_close(out.head_outputs[row][key], value, atol=1e-5, rtol=1e-5)
        assert out[0].logits.shape == (1, 6, 5) and out[1].logits.shape == (1, 4) and out[2].logits.shape == (1, 2)


def test_rows_without_a_head_need_head_argument():
    model = _head_model()
    batch = _batch(3, left=False)
    with pytest.raises(RoutingError, match=r"Rows 1 \(None\) have no head.*head=NAME"):
        model(**batch, adapter_names=["sent", None, "sent"])
    with torch.no_grad():
        out = model(**batch, adapter_names=["sent", None, "sent"], head="sent")
        with adapters.AdapterSetup(None):
            base = model(**_row(batch, 1), head="sent")
    assert out.head_names == ["sent", "sent", "sent"]
    assert out.logits.shape == (3, 2)  # one head type: logits stacked in request order
    torch.testing.assert_close(out.logits[1:2], base.logits, atol=1e-5, rtol=1e-5)
    with pytest.raises(RoutingError, match="single head name"):
        model(**batch, adapter_names=["sent", None, "sent"], head=["sent", "ner"])


def test_loss_is_the_sum_of_the_head_groups_losses_and_trains_each_adapter():
    model = _head_model()
    batch, labels = _batch(3, left=False), torch.tensor([1, 0, 1])
    out = model(**batch, adapter_names=["sent", None, "sent"], head="sent", labels=labels)
    rows = {k: v[[0, 2]] for k, v in batch.items()}
    with adapters.AdapterSetup("sent"):
        first = model(**rows, head="sent", labels=labels[[0, 2]]).loss
    with adapters.AdapterSetup(None):
        second = model(**_row(batch, 1), head="sent", labels=labels[1:2]).loss
    torch.testing.assert_close(out.loss, first + second, atol=1e-5, rtol=1e-5)
    out.loss.backward()
    grads = [p.grad for _, p in model._adapter_parameters("sent")]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
    assert all(p.grad is None for _, p in model._adapter_parameters("ner"))


# generation ----------------------------------------------------------------------------------------------------
GENERATE = {"max_new_tokens": 4, "do_sample": False, "pad_token_id": 0}


def test_generate_routes_every_step():
    torch.manual_seed(0)
    model = adapters.init(tf.AutoModelForCausalLM.from_config(config("llama")).eval())
    for index, (name, adapter_config) in enumerate(
        {"pt": "prompt_tuning[prompt_length=3]", "lo": "lora", "px": "prefix_tuning[prefix_length=2]"}.items()
    ):
        model.add_adapter(name, config=adapter_config)
        randomize_adapter(model, name, seed=index + 1)
    names = ["pt", None, "lo", "px", "pt"]
    batch = _batch(len(names), left=True)
    with torch.no_grad():
        routed = model.generate(**batch, adapter_names=names, **GENERATE)
        beams = model.generate(**batch, adapter_names=names, num_beams=2, num_return_sequences=2, **GENERATE)
        for row, name in enumerate(names):
            with adapters.AdapterSetup(name):
                alone = model.generate(**_row(batch, row), **GENERATE)
                alone_beams = model.generate(**_row(batch, row), num_beams=2, num_return_sequences=2, **GENERATE)
            assert routed[row].tolist() == alone[0].tolist(), name
            assert beams[2 * row : 2 * row + 2].tolist() == alone_beams.tolist(), name


def test_generate_with_causal_lm_heads_of_the_adapters():
    torch.manual_seed(0)
    model = AutoAdapterModel.from_config(config("gpt2")).eval()
    for index, name in enumerate(("chat", "code")):
        model.add_adapter(name, config="lora" if index else "prefix_tuning[prefix_length=2]")
        randomize_adapter(model, name, seed=index + 1)
        model.add_causal_lm_head(name)
    names = ["code", "chat", "code"]
    batch = _batch(3, left=True)
    with torch.no_grad():
        routed = model.generate(**batch, adapter_names=names, **GENERATE)
        for row, name in enumerate(names):
            with adapters.AdapterSetup(name):
                alone = model.generate(**_row(batch, row), head=name, **GENERATE)
            assert routed[row].tolist() == alone[0].tolist(), name


# errors --------------------------------------------------------------------------------------------------------
def test_names_that_do_not_fit_fail_before_any_computation():
    model = _model("bert", {"t0": "seq_bn", "t1": "lora"})
    calls = []
    model.embeddings.register_forward_hook(lambda *args: calls.append(1))
    batch = _batch(3, left=False)
    with pytest.raises(AdapterNotFoundError, match="'nope'.*Adapters on this model: t0, t1"):
        model(**batch, adapter_names=["t0", "nope", None])
    with pytest.raises(RoutingError, match="2 entries but the batch has 3 rows"):
        model(**batch, adapter_names=["t0", "t1"])
    with pytest.raises(RoutingError, match="a list with one adapter name"):
        model(**batch, adapter_names="t0")
    with pytest.raises(RoutingError, match="fusion setups per row are not supported"):
        model(**batch, adapter_names=[Fuse("t0", "t1"), None, None])
    assert calls == []
    with torch.no_grad():  # the model is unchanged and the next call works
        assert model(**batch, adapter_names=["t1", None, "t0"]).last_hidden_state.shape == (3, 6, 32)


def test_fusion_names_are_refused_with_the_reason():
    model = _model("bert", {"t0": "seq_bn", "t1": "seq_bn"})
    model.add_adapter_fusion(Fuse("t0", "t1"))
    with pytest.raises(RoutingError, match="fusion 't0,t1'.*not supported"):
        model(**_batch(3, left=False), adapter_names=["t0,t1", None, "t0"])

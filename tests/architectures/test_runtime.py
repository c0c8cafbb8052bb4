"""The per-call runtime: every site reads the call's record, so results do not depend on what else runs.

* gradient checkpointing (both ``use_reentrant`` modes) with ``AdapterSetup`` around the forward only and
  ``backward`` after the block gives the gradients of the run without checkpointing;
* two forwards, then two backwards, give the gradients of one forward and backward at a time (MTL-LoRA routes each
  call by its own ``task_ids``; Fuse uses the temperature of its own call);
* 8 threads running one model under 4 different setups give the serial results.
"""

from __future__ import annotations

import threading

import pytest
import torch
from transformers import LogitsProcessor, LogitsProcessorList

from adapters import AdapterSetup, AutoAdapterModel, Fuse, MultiTask, Parallel, Stack
from adapters.methods import method_for_config, registered_methods
from contract.helpers import adapter_model, make_trainable, randomize_adapter
from heads.head_inputs import head_config
from tiny_models import VOCAB, inputs

pytestmark = pytest.mark.filterwarnings("ignore:.*gradient_checkpointing_enable.*:FutureWarning")


def _bottleneck(model):
    model.add_adapter("a", config="seq_bn[reduction_factor=4]")
    return ["a"], "a", [{}, {}]


def _lora(model):
    model.add_adapter("a", config="lora[r=4, alpha=8]")
    return ["a"], "a", [{}, {}]


def _prefix(model):
    model.add_adapter("a", config="prefix_tuning[prefix_length=3, bottleneck_size=8]")
    return ["a"], "a", [{}, {}]


def _prompt(model):
    model.add_adapter("a", config="prompt_tuning[prompt_length=3]")
    return ["a"], "a", [{}, {}]


def _reft(model):
    model.add_adapter("a", config="loreft[r=2]")
    return ["a"], "a", [{}, {}]


def _mtl_lora(model):
    for name in ("t0", "t1"):
        model.add_adapter(name, config="mtl_lora[r=4, alpha=8]")
    return ["t0", "t1"], MultiTask("t0", "t1"), [{"task_ids": [0, 0]}, {"task_ids": [1, 1]}]


def _fuse(model):
    for name in ("x", "y"):
        model.add_adapter(name, config="seq_bn[reduction_factor=4]")
    model.add_adapter_fusion(["x", "y"], config="dynamic[temperature=True]")
    return ["x", "y"], Fuse("x", "y"), [{}, {}]


CASES = {
    "bottleneck": _bottleneck,
    "lora": _lora,
    "prefix": _prefix,
    "prompt": _prompt,
    "reft": _reft,
    "mtl_lora": _mtl_lora,
    "fuse": _fuse,
}
FAMILIES = ("bert", "llama")


def _trainable_model(family: str, case: str, checkpointing: dict | None):
    model = adapter_model(family)
    names, setup, call_kwargs = CASES[case](model)
    for name in names:
        randomize_adapter(model, name)
    make_trainable(model, names, checkpointing)
    return model, setup, call_kwargs


def _loss(model, family: str, setup, call_kwargs: dict, seed: int) -> torch.Tensor:
    with AdapterSetup(setup):
        hidden = model(**inputs(family, seed=seed), **call_kwargs).last_hidden_state
    return hidden.pow(2).mean()  # backward runs after the block, as a trainer does


def _grads(model) -> dict[str, torch.Tensor]:
    grads = {n: None if p.grad is None else p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
    model.zero_grad(set_to_none=True)
    return grads


def _assert_same(expected: dict, actual: dict) -> None:
    """Equal gradients; a parameter the call does not use (e.g. ReFT's suffix unit without suffix positions) has
    none in both runs."""
    assert expected.keys() == actual.keys() and expected
    differ = [name for name in expected if (expected[name] is None) != (actual[name] is None)]
    assert not differ, f"gradient in one run only: {differ[:3]}"
    for name, grad in expected.items():
        if grad is not None:
            torch.testing.assert_close(actual[name], grad, atol=1e-5, rtol=1e-4, msg=name)
    assert any(grad is not None and grad.abs().max() > 0 for grad in expected.values())


def test_the_cases_cover_every_registered_method():
    covered = set()
    for case in CASES.values():
        model = adapter_model("bert")
        case(model)
        for name in model.adapters_config.adapters:
            covered |= {method_for_config(m).name for m in model.adapters_config.get(name).members()}
    assert covered == {method.name for method in registered_methods()}


@pytest.mark.parametrize("use_reentrant", [True, False])
def test_checkpointed_backward_on_another_thread(use_reentrant):
    plain, setup, call_kwargs = _trainable_model("bert", "bottleneck", None)
    _loss(plain, "bert", setup, call_kwargs[0], seed=1).backward()
    checkpointed, _, _ = _trainable_model("bert", "bottleneck", {"use_reentrant": use_reentrant})
    loss = _loss(checkpointed, "bert", setup, call_kwargs[0], seed=1)
    thread = threading.Thread(target=loss.backward)  # the recompute runs on a thread that never saw the block
    thread.start()
    thread.join(timeout=120)
    _assert_same(_grads(plain), _grads(checkpointed))


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("use_reentrant", [True, False])
def test_checkpointing_with_adapter_setup_around_the_forward_only(family, case, use_reentrant):
    plain, setup, call_kwargs = _trainable_model(family, case, None)
    _loss(plain, family, setup, call_kwargs[0], seed=1).backward()
    checkpointed, _, _ = _trainable_model(family, case, {"use_reentrant": use_reentrant})
    _loss(checkpointed, family, setup, call_kwargs[0], seed=1).backward()
    _assert_same(_grads(plain), _grads(checkpointed))


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("checkpointing", [None, True, False], ids=["plain", "reentrant", "non-reentrant"])
def test_two_forwards_then_two_backwards_equal_one_at_a_time(family, case, checkpointing):
    gc = None if checkpointing is None else {"use_reentrant": checkpointing}
    model, setup, call_kwargs = _trainable_model(family, case, gc)
    expected = []
    for index, kwargs in enumerate(call_kwargs):
        _loss(model, family, setup, kwargs, seed=index + 1).backward()
        expected.append(_grads(model))
    model, _, _ = _trainable_model(family, case, gc)
    losses = [_loss(model, family, setup, kwargs, seed=index + 1) for index, kwargs in enumerate(call_kwargs)]
    for loss, grads in zip(losses, expected):
        loss.backward()
        _assert_same(grads, _grads(model))


def test_changing_the_model_between_a_checkpointed_forward_and_its_backward_warns():
    model, setup, call_kwargs = _trainable_model("bert", "lora", {"use_reentrant": False})
    loss = _loss(model, "bert", setup, call_kwargs[0], seed=1)
    model.add_adapter("other", config="seq_bn[reduction_factor=4]")  # new hooks the recompute now passes
    with pytest.warns(RuntimeWarning, match="adapters changed while a forward call was running"):
        loss.backward()
    assert all(param.grad is not None for _, param in model._adapter_parameters("a"))


# variants of the registered methods whose sites keep other per-call values (parallel residual, invertible adapter,
# PHM, (IA)³ scaling, DoRA norm, the gates of a union of bottleneck, LoRA and prefix tuning)
VARIANTS = ("par_bn", "seq_bn_inv", "compacter[reduction_factor=8]", "ia3", "dora", "unipelt")


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("checkpointing", [None, False], ids=["plain", "non-reentrant"])
def test_two_forwards_then_two_backwards_for_method_variants(variant, checkpointing, monkeypatch):
    def case(model):
        model.add_adapter("a", config=variant)
        return ["a"], "a", [{}, {}]

    monkeypatch.setitem(CASES, "variant", case)
    gc = None if checkpointing is None else {"use_reentrant": checkpointing}
    expected = []
    model, setup, _ = _trainable_model("bert", "variant", gc)
    for seed in (1, 2):
        _loss(model, "bert", setup, {}, seed=seed).backward()
        expected.append(_grads(model))
    model, _, _ = _trainable_model("bert", "variant", gc)
    losses = [_loss(model, "bert", setup, {}, seed=seed) for seed in (1, 2)]
    for loss, grads in zip(losses, expected):
        loss.backward()
        _assert_same(grads, _grads(model))


def test_threads_under_different_setups_equal_serial_runs():
    model = adapter_model("bert")
    model.add_adapter("bn", config="seq_bn[reduction_factor=4]")
    model.add_adapter("lora", config="lora[r=4, alpha=8]")
    model.add_adapter("prefix", config="prefix_tuning[prefix_length=3, bottleneck_size=8]")
    model.add_adapter("prompt", config="prompt_tuning[prompt_length=2]")
    for name in ("bn", "lora", "prefix", "prompt"):
        randomize_adapter(model, name)
    setups = ["bn", Stack("prefix", "lora"), "prompt", None]
    batch = inputs("bert")

    def run(setup):
        with torch.no_grad(), AdapterSetup(setup):
            return model(**batch).last_hidden_state

    serial = [run(setup) for setup in setups]
    assert all(not torch.equal(serial[i], serial[-1]) for i in range(3))
    results, errors = {}, []

    def worker(index: int) -> None:
        try:
            for round_ in range(6):
                setup_index = (index + round_) % len(setups)
                results[(index, round_)] = (setup_index, run(setups[setup_index]))
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors and len(results) == 48
    for setup_index, output in results.values():
        torch.testing.assert_close(output, serial[setup_index], atol=1e-6, rtol=0)


def test_parallel_generate_leaves_calls_on_other_threads_replicating():
    """``generate()`` with ``Parallel`` replicates its inputs once up front, for its own calls only: a forward on
    another thread meanwhile still replicates its batch."""
    model = AutoAdapterModel.from_config(head_config("gpt2")).eval()
    for name, seed in (("a", 1), ("b", 2)):
        model.add_adapter(name)
        randomize_adapter(model, name, seed=seed)
        model.add_causal_lm_head(name)
    model.set_active_adapters(Parallel("a", "b"))
    ids = torch.randint(3, VOCAB, (2, 5), generator=torch.Generator().manual_seed(1))

    def logits():
        with torch.no_grad():
            return torch.cat([head.logits for head in model(ids, attention_mask=torch.ones_like(ids))])

    expected, seen = logits(), []

    class OtherThread(LogitsProcessor):
        def __call__(self, input_ids, scores):
            if not seen:
                thread = threading.Thread(target=lambda: seen.append(logits()))
                thread.start()
                thread.join(timeout=120)
            return scores

    out = model.generate(ids, max_new_tokens=2, do_sample=False, logits_processor=LogitsProcessorList([OtherThread()]))
    assert out.shape == (4, 7) and expected.shape[0] == 4
    assert torch.equal(seen[0], expected)


def test_records_of_concurrent_calls_stay_apart():
    model = adapter_model("bert")
    model.add_adapter("g", config="seq_bn[use_gating=True, reduction_factor=4]")
    randomize_adapter(model, "g")
    model.set_active_adapters("g")
    batch = inputs("bert")
    with torch.no_grad():
        first = model(**batch, output_adapter_gating_scores=True)
        second = model(**batch)
    assert set(first.adapter_gating_scores["g"]) == {0, 1}
    assert "adapter_gating_scores" not in second
    assert model._adapter_runtime.current() is None  # nothing of a call survives it


def test_a_failing_call_leaves_no_record_behind():
    model = adapter_model("bert")
    for name in ("t0", "t1"):
        model.add_adapter(name, config="mtl_lora[r=2]")
    model.set_active_adapters(MultiTask("t0", "t1"))
    with pytest.raises(Exception, match="task_ids"):
        model(**inputs("bert"))  # no task_ids
    runtime = model._adapter_runtime
    assert runtime.current() is None and getattr(runtime._local, "depth", 0) == 0
    with torch.no_grad():
        assert model(**inputs("bert"), task_ids=[1, 0]).last_hidden_state.shape == (2, 7, 32)

"""Contract suite: gradient checkpointing for every method on every family of the contract suite.

Every row of the method × architecture matrix (``contract.matrix.ROWS``: every model type with a spec and the
generic-fallback rows) runs every method it supports: each bottleneck kind (sequential, parallel, Compacter,
invertible), each LoRA-family kind (LoRA, (IA)³, DoRA, VeRA, MTL-LoRA as a ``MultiTask`` with ``task_ids``), prefix
tuning, prompt tuning, ReFT, a union (UniPELT), Fuse and Parallel. With ``use_reentrant`` True and False, an
``AdapterSetup`` block around the forward only and ``backward`` after it (as trainers do), the gradients equal those
of the run without checkpointing, and the checkpointed layers really ran again during backward. The adapters of one
family share one model (only the one under test is active), so a family costs one model build. ALBERT and MPNet are
the exception: transformers has no gradient checkpointing for them (``NO_CHECKPOINTING``).
"""

from __future__ import annotations

import pytest
import torch
from transformers.modeling_layers import GradientCheckpointingLayer

import adapters
from adapters import AdapterSetup, Fuse, MultiTask, Parallel
from contract.configs import _group, load, registered_groups
from contract.helpers import randomize_adapter
from contract.matrix import ROWS
from tiny_models import build, hidden, inputs

# method -> (config, the adapters it adds, the setup that activates it, extra forward kwargs)
METHODS: dict[str, tuple[str, tuple[str, ...], object, dict]] = {
    "seq_bn": ("seq_bn", ("seq_bn",), "seq_bn", {}),
    "par_bn": ("par_bn", ("par_bn",), "par_bn", {}),
    "compacter": ("compacter[reduction_factor=4]", ("compacter",), "compacter", {}),
    "invertible": ("seq_bn_inv", ("invertible",), "invertible", {}),
    "lora": ("lora[r=4, alpha=8, intermediate_lora=True]", ("lora",), "lora", {}),
    "ia3": ("ia3", ("ia3",), "ia3", {}),
    "dora": ("dora", ("dora",), "dora", {}),
    "vera": ("vera", ("vera",), "vera", {}),
    "mtl_lora": ("mtl_lora", ("t0", "t1"), MultiTask("t0", "t1"), {"task_ids": [1, 0]}),
    "prefix_tuning": ("prefix_tuning[prefix_length=3, bottleneck_size=16]", ("prefix",), "prefix", {}),
    "prompt_tuning": ("prompt_tuning[prompt_length=3]", ("prompt",), "prompt", {}),
    "reft": ("loreft[r=2]", ("reft",), "reft", {}),
    "unipelt": ("unipelt", ("unipelt",), "unipelt", {}),
    "fuse": ("seq_bn[reduction_factor=4]", ("fx", "fy"), Fuse("fx", "fy"), {}),
    "parallel": ("seq_bn[reduction_factor=4]", ("px", "py"), Parallel("px", "py"), {}),
}


# transformers' own model classes of these families have no gradient checkpointing (``supports_gradient_checkpointing``
# is False: enabling it raises), so there is nothing to checkpoint; their test checks that refusal
NO_CHECKPOINTING = ("albert", "mpnet")


def test_every_registered_method_is_checkpointed():
    groups = {_group(load(config)) for config, *_ in METHODS.values()}
    assert registered_groups() <= groups


def _add_all(model) -> list[str]:
    """Add every method the model supports; returns their keys in METHODS."""
    added = []
    for method, (config, names, setup, _) in METHODS.items():
        if model._support_problem(load(config)) is not None:
            continue
        try:
            for name in names:
                model.add_adapter(name, config=load(config))
            if method == "fuse":
                model.add_adapter_fusion(setup, config="dynamic[temperature=True]")
            if method == "parallel":
                model.set_active_adapters(setup)  # refused where the model cannot run Parallel
                model.set_active_adapters(None)
        except adapters.errors.AdapterError:
            if method not in ("fuse", "parallel"):  # only a composition may be refused here
                raise
            for name in names:
                if name in model.adapters_config.adapters:
                    model.delete_adapter(name)
            continue
        added.append(method)
    return added


def _grads(model, family: str, method: str, checkpointing: dict | None) -> tuple[dict, int]:
    """``({parameter: gradient}, layer forward calls)`` of one forward and backward with ``method`` active."""
    _, _, setup, kwargs = METHODS[method]
    model.zero_grad(set_to_none=True)
    if checkpointing is None:
        model.activation_checkpointing_disable()
    else:
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=checkpointing)
    model.train()
    torch.manual_seed(0)  # the same random draws in every run (ReFT's dropout, BEiT's stochastic depth)
    calls = [0]
    # transformers checkpoints a layer's forward (its own hooks stay outside): count calls of the modules inside
    inner = [
        sub
        for layer in model.modules()
        if isinstance(layer, GradientCheckpointingLayer)
        for sub in layer.modules()
        if sub is not layer
    ]
    handles = [m.register_forward_pre_hook(lambda *_: calls.__setitem__(0, calls[0] + 1)) for m in inner]
    try:
        with AdapterSetup(setup):
            out = hidden(model(**inputs(family), **kwargs))
        out.pow(2).mean().backward()
    finally:
        for handle in handles:
            handle.remove()
    return {
        n: None if p.grad is None else p.grad.clone() for n, p in model.named_parameters() if p.requires_grad
    }, calls[0]


@pytest.mark.parametrize("family", ROWS)
def test_checkpointing_gives_the_gradients_of_the_plain_run(family):
    model = build(family, seed=0)
    base_keys = {n for n, _ in model.named_parameters()}
    adapters.init(model)
    methods = _add_all(model)
    assert {"seq_bn", "lora"} <= set(methods), methods
    for method in methods:
        for name in METHODS[method][1]:
            randomize_adapter(model, name)
    for name, param in model.named_parameters():
        param.requires_grad_(name not in base_keys)
    for module in model.modules():  # deterministic: no dropout
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    if family in NO_CHECKPOINTING:
        assert not model.supports_gradient_checkpointing
        with pytest.raises(ValueError, match="does not support (gradient|activation) checkpointing"):
            model.activation_checkpointing_enable()
        return
    for method in methods:
        plain, plain_calls = _grads(model, family, method, None)
        active = {n for n, g in plain.items() if g is not None and g.abs().max() > 0}
        assert active, f"{family}-{method}: no adapter gradient"
        for use_reentrant in (True, False):
            checkpointed, calls = _grads(model, family, method, {"use_reentrant": use_reentrant})
            where = f"{family}-{method}-use_reentrant={use_reentrant}"
            assert calls > plain_calls > 0, f"{where}: the layers were not recomputed ({calls} vs {plain_calls})"
            assert [n for n in plain if plain[n] is None] == [n for n in checkpointed if checkpointed[n] is None], (
                where
            )
            for name, grad in plain.items():
                if grad is not None:
                    torch.testing.assert_close(checkpointed[name], grad, atol=1e-6, rtol=1e-4, msg=f"{where}: {name}")

"""Adapters on bfloat16 models: in the model's dtype (the default) or kept in float32 (``add_adapter(dtype=...)``).

Every method runs on a bfloat16 model in both modes and is compared with the same adapter weights on the float32
model; the residual stream stays bfloat16 (casts happen where an adapter reads and writes it), and a training step
on a bfloat16 base with float32 adapters changes the adapters only.
"""

from __future__ import annotations

import functools
import logging

import pytest
import torch

import adapters
from adapters.errors import AdapterConfigError
from precision.helpers import BF16_TOLERANCE, added_state, copy_added_state, perturb_adapters
from tiny_models import build, inputs, output

BF16 = torch.bfloat16
MODES = {"bf16": None, "fp32-adapters": torch.float32}

# every method (bottleneck incl. Compacter and invertible adapters, the LoRA family, prefix, prompt, ReFT) on a
# pre-LN model with a fused Conv1D q|k|v (GPT-2) and on Llama (RMSNorm, grouped-query attention); the post-LN path
# (BERT: the adapter runs inside the LayerNorm hook) with the methods whose effect there is clearly visible
ALL_METHODS = (
    "seq_bn[use_gating=True, ln_after=True]",
    "par_bn",
    "compacter[reduction_factor=4]",
    "seq_bn_inv",
    "lora[intermediate_lora=True]",
    "ia3",
    "dora",
    "vera",
    "mtl_lora",
    "prefix_tuning[prefix_length=3, bottleneck_size=8, use_gating=True]",
    "prompt_tuning[prompt_length=3]",
    "loreft",
    "noreft",
)
BERT_METHODS = (
    "seq_bn[use_gating=True, ln_after=True]",
    "compacter[reduction_factor=4]",
    "seq_bn_inv",
    "lora",
    "vera",
)
CASES = [(family, config) for family in ("gpt2", "llama") for config in ALL_METHODS] + [
    ("bert", config) for config in BERT_METHODS
]


@pytest.fixture(autouse=True)
def _quiet():
    logging.disable(logging.WARNING)  # ReFT says its orthogonal projection stays float32 on bf16 models
    yield
    logging.disable(logging.NOTSET)


@functools.lru_cache(maxsize=1)  # both modes of a case compare with the same reference
def _float32_reference(family: str, config: str):
    """``(adapter state, output with the adapter, output without)`` of the float32 model with perturbed weights."""
    model = build(family)
    base_keys = set(model.state_dict())
    adapters.init(model)
    model.add_adapter("a", config=config, set_active=True)
    perturb_adapters(model, base_keys)
    batch = inputs(family)
    adapted = output(model, batch)
    model.set_active_adapters(None)
    return added_state(model, base_keys), adapted, output(model, batch)


def _layer_output_dtypes(model, run) -> set[torch.dtype]:
    """The dtypes of the residual stream between layers (every layer's output) while ``run()`` runs."""
    seen: set[torch.dtype] = set()

    def record(module, args, out):
        seen.add((out[0] if isinstance(out, tuple) else out).dtype)

    handles = [ref.module.register_forward_hook(record) for ref in model._adapter_runtime.iter_layers()]
    try:
        run()
    finally:
        for handle in handles:
            handle.remove()
    return seen


def _adapter_param_dtypes(model, name: str = "a") -> dict[str, torch.dtype]:
    return {key: param.dtype for key, param in model._adapter_parameters(name)}


@pytest.mark.parametrize(("family", "config", "mode"), [(*case, mode) for case in CASES for mode in MODES])
def test_bfloat16_model_matches_float32(family, config, mode):
    state, expected, unadapted = _float32_reference(family, config)
    length = unadapted.shape[1]  # prompt tuning adds positions in front
    assert (expected[:, -length:] - unadapted).abs().max() > 3 * BF16_TOLERANCE  # the adapter matters

    model = build(family).to(BF16)
    adapters.init(model)
    model.add_adapter("a", config=config, dtype=MODES[mode], set_active=True)
    copy_added_state(model, state)
    dtypes = _adapter_param_dtypes(model)
    wanted = MODES[mode] or BF16
    # ReFT's orthogonal parametrization needs float32 and keeps its projection there (a logged exception)
    assert {k: d for k, d in dtypes.items() if d != wanted and "parametrizations" not in k} == {}

    batch = inputs(family)
    result = {}
    stream = _layer_output_dtypes(model, lambda: result.setdefault("out", output(model, batch)))
    out = result["out"]
    assert stream == {BF16}  # no silent float32 upcast of the hidden states between layers
    assert out.dtype == BF16 and bool(out.isfinite().all())
    assert (out.float() - expected).abs().max() < BF16_TOLERANCE


@pytest.mark.parametrize("mode", MODES)
def test_fusion_on_bfloat16_model(mode):
    def fused(model, dtype):
        adapters.init(model)
        for name in ("x", "y"):
            model.add_adapter(name, config="seq_bn", dtype=dtype)
        model.add_adapter_fusion(["x", "y"], set_active=True)
        return model

    reference = build("bert")
    base_keys = set(reference.state_dict())
    fused(reference, None)
    fusion_keys = {n for n, _ in reference.named_parameters() if "adapter_fusion_layer" in n}
    perturb_adapters(reference, base_keys | fusion_keys)
    # fusion weights at a trained-like scale: with noise of 0.5 the attention scores reach the hundreds and the
    # softmax turns one bfloat16 rounding step of a score into a visible change of the output
    perturb_adapters(reference, set(reference.state_dict()) - fusion_keys, scale=0.05, seed=1)
    batch = inputs("bert")
    expected = output(reference, batch)

    model = fused(build("bert").to(BF16), MODES[mode])
    copy_added_state(model, added_state(reference, base_keys))
    fusion_dtypes = {p.dtype for n, p in model.named_parameters() if "adapter_fusion_layer" in n}
    assert fusion_dtypes == {MODES[mode] or BF16}  # a fusion layer follows the adapters it fuses
    out = output(model, batch)
    assert out.dtype == BF16 and bool(out.isfinite().all())
    assert (out.float() - expected).abs().max() < BF16_TOLERANCE


@pytest.mark.parametrize("mode", MODES)
def test_heads_on_bfloat16_model(mode):
    from heads.head_inputs import batch_for, head_config

    def with_head(dtype_of_model, adapter_dtype):
        torch.manual_seed(0)
        model = adapters.AutoAdapterModel.from_config(head_config("bert")).eval().to(dtype_of_model)
        model.add_adapter("a", config="lora[r=4, intermediate_lora=True]", dtype=adapter_dtype)
        model.add_classification_head("a", num_labels=3)
        model.set_active_adapters("a")
        return model

    reference = with_head(torch.float32, None)
    base_keys = {k for k in reference.state_dict() if ".loras." not in k}
    perturb_adapters(reference, base_keys)
    batch = {k: v for k, v in batch_for("bert", "classification").items() if k != "labels"}
    with torch.no_grad():
        expected = reference(**batch).logits

    model = with_head(BF16, MODES[mode])
    copy_added_state(model, added_state(reference, base_keys))
    assert {p.dtype for p in model.heads["a"].parameters()} == {BF16}  # heads follow the model
    with torch.no_grad():
        logits = model(**batch).logits
    assert logits.dtype == BF16 and bool(logits.isfinite().all())
    assert (logits.float() - expected).abs().max() < BF16_TOLERANCE


TRAINED = (
    "seq_bn[use_gating=True]",
    "compacter[reduction_factor=4]",
    "lora[intermediate_lora=True]",
    "dora",
    "ia3",
    "vera",
    "prefix_tuning[prefix_length=3, bottleneck_size=8]",
    "prompt_tuning[prompt_length=3]",
    "loreft",
)


@pytest.mark.parametrize("config", TRAINED)
def test_bfloat16_base_with_float32_adapters_trains(config):
    model = build("llama").to(BF16)
    base_keys = set(model.state_dict())
    adapters.init(model)
    model.add_adapter("a", config=config, dtype=torch.float32)
    perturb_adapters(model, base_keys, scale=0.1)
    model.train_adapter("a")
    adapter_keys = {n for n, _ in model.named_parameters() if n not in base_keys}
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert set(trainable) == adapter_keys and {p.dtype for p in trainable.values()} == {torch.float32}
    before = {n: p.detach().clone() for n, p in model.named_parameters()}

    hidden = model(**inputs("llama")).last_hidden_state
    assert hidden.dtype == BF16
    hidden.float().pow(2).mean().backward()
    grads = {n: p.grad for n, p in trainable.items() if p.grad is not None}  # LoReFT's unused suffix unit has none
    assert grads and all(g.dtype == torch.float32 and bool(g.isfinite().all()) for g in grads.values())
    torch.optim.AdamW(trainable.values(), lr=1e-2, weight_decay=0.0).step()

    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and changed <= adapter_keys  # the base (bfloat16) weights are bit-for-bit unchanged
    assert {n for n, g in grads.items() if g.abs().sum() > 0} <= changed


def test_adapters_follow_the_dtype_of_the_module_they_attach_to():
    """T5 keeps ``wo`` in float32 when loaded in half precision (``_keep_in_fp32_modules``); LoRA on ``wo`` follows
    it, LoRA on the bfloat16 attention and the bottleneck adapters follow theirs."""
    model = build("t5").to(BF16)
    for name, module in model.named_modules():
        if name.endswith("DenseReluDense.wo"):
            module.float()
    adapters.init(model)
    model.add_adapter("l", config="lora[output_lora=True]")
    model.add_adapter("b", config="seq_bn")
    dtypes = {name: p.dtype for name, p in model.named_parameters() if ".loras." in name or ".adapters." in name}
    assert {d for n, d in dtypes.items() if ".wo.loras." in n} == {torch.float32}
    assert {d for n, d in dtypes.items() if ".wo.loras." not in n} == {BF16}
    model.set_active_adapters(adapters.Stack("l", "b"))
    out = output(model, inputs("t5"))
    assert bool(out.isfinite().all())


def test_dtype_option_names_and_conflicts():
    model = build("gpt2").to(BF16)
    adapters.init(model)
    model.add_adapter("by_name", config="lora", dtype="float32")
    model.add_adapter("by_config", config="lora[dtype='float32']")
    model.add_adapter("same", config="noreft[dtype='float32', layers=[0]]", dtype=torch.float32)
    for name in ("by_name", "by_config", "same"):
        assert set(_adapter_param_dtypes(model, name).values()) == {torch.float32}
    keys = set(model.state_dict())
    with pytest.raises(AdapterConfigError, match="int8"):
        model.add_adapter("bad", config="seq_bn", dtype=torch.int8)
    with pytest.raises(AdapterConfigError, match="contradicts"):
        model.add_adapter("bad", config="lora[dtype='bfloat16']", dtype=torch.float32)
    with pytest.raises(AdapterConfigError, match="float33"):
        model.add_adapter("bad", config="lora[dtype='float33']")
    assert set(model.state_dict()) == keys and "bad" not in model.adapters_config


def test_load_adapter_with_dtype(tmp_path):
    source = build("llama")
    base_keys = set(source.state_dict())
    adapters.init(source)
    source.add_adapter("a", config="seq_bn", set_active=True)
    perturb_adapters(source, base_keys)
    expected = output(source, inputs("llama"))
    source.save_adapter(str(tmp_path), "a")

    model = build("llama").to(BF16)
    adapters.init(model)
    model.load_adapter(str(tmp_path), dtype=torch.float32, set_active=True)
    model.load_adapter(str(tmp_path), load_as="b")
    assert set(_adapter_param_dtypes(model, "a").values()) == {torch.float32}
    assert set(_adapter_param_dtypes(model, "b").values()) == {BF16}
    out = output(model, inputs("llama"))
    assert out.dtype == BF16 and (out.float() - expected).abs().max() < BF16_TOLERANCE


DEVICE_METHODS = (
    "seq_bn",
    "par_bn",
    "compacter[reduction_factor=4]",
    "seq_bn_inv",
    "lora[intermediate_lora=True, output_lora=True]",
    "ia3",
    "dora",
    "vera",
    "mtl_lora",
    "prefix_tuning[prefix_length=3, bottleneck_size=8]",
    "prompt_tuning[prompt_length=3]",
    "loreft",
)


@pytest.mark.parametrize("config", DEVICE_METHODS)
def test_adapters_follow_the_device_of_the_module_they_attach_to(config):
    """A model split over two devices (layer 1 on ``meta``, the only second device here): adapters inside a layer
    are created on that layer's device; model-level parts (prefix pool, prompt, invertible adapter, shared Compacter
    and VeRA matrices) on the embeddings' device."""
    model = build("llama")
    base_keys = set(model.state_dict())
    model.layers[1].to("meta")
    adapters.init(model)
    model.add_adapter("a", config=config)
    devices: dict[str, set[str]] = {}
    for name, param in model.named_parameters():
        if name not in base_keys:
            where = name.split(".")[0] + ("." + name.split(".")[1] if name.startswith("layers.") else "")
            devices.setdefault(where, set()).add(param.device.type)
    per_layer = {"layers.0": {"cpu"}, "layers.1": {"meta"}}
    model_level = {k: v for k, v in devices.items() if not k.startswith("layers.")}
    if config.startswith(("prefix", "prompt")):  # one model-level module
        assert set(devices) == set(model_level) and model_level
    else:
        assert {k: v for k, v in devices.items() if k.startswith("layers.")} == per_layer
    assert set().union(*model_level.values()) <= {"cpu"}

"""LoRA, DoRA and bottleneck adapters on bitsandbytes 4-bit (nf4, fp4) and 8-bit base layers (its CPU backend).

The quantized models are loaded with transformers' ``BitsAndBytesConfig`` from tiny float32 checkpoints and compared
with the float32 model carrying the same adapter weights. Sizes are multiples of 32 because bitsandbytes' CPU
inference path repacks 4-bit weights in blocks of 32 rows.
"""

from __future__ import annotations

import re

import pytest
import torch
import transformers as tf
from safetensors.torch import load_file

import adapters
from adapters.errors import UnsupportedMethodError
from adapters.methods.quantized import dequantized_weight, quantization_kind
from precision.helpers import added_state, base_keys_of, copy_added_state, perturb_adapters
from tiny_models import VOCAB, inputs, output

bnb = pytest.importorskip("bitsandbytes", reason="bitsandbytes is not installed (pip install '.[quantization]')")

pytestmark = pytest.mark.filterwarnings("ignore:MatMul8bitLt")

KINDS = {
    "nf4": lambda: tf.BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.float32
    ),
    "fp4": lambda: tf.BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="fp4", bnb_4bit_compute_dtype=torch.float32
    ),
    "int8": lambda: tf.BitsAndBytesConfig(load_in_8bit=True),
}
DESCRIPTION = {"nf4": "bitsandbytes 4-bit (nf4)", "fp4": "bitsandbytes 4-bit (fp4)", "int8": "bitsandbytes 8-bit"}
METHODS = {
    "lora": "lora[r=4, attn_matrices=['q', 'k', 'v'], intermediate_lora=True, output_lora=True]",
    "dora": "dora[r=4, intermediate_lora=True]",
    "seq_bn": "seq_bn[reduction_factor=4]",
}
CONFIGS = {
    "bert": lambda: tf.BertConfig(
        vocab_size=VOCAB, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128
    ),
    "llama": lambda: tf.LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=128,
    ),
}
# LoRA and the bottleneck adapter on a post-LN model with biases (BERT) and on Llama; DoRA (which reads the
# dequantized weights) on Llama
PAIRS = (("bert", "lora"), ("bert", "seq_bn"), ("llama", "lora"), ("llama", "seq_bn"), ("llama", "dora"))
CASES = [(family, kind, method) for kind in KINDS for family, method in PAIRS]
# the quantized layers compute in bfloat16 on this CPU backend (4-bit) or quantize their inputs to int8 (8-bit), so the
# adapted quantized model differs from its float32 twin (same dequantized weights, same adapter) by up to ~3% of the
# outputs' magnitude (~5) on these models; each adapter changes the outputs by more than twice this
TOLERANCE = {"nf4": 0.25, "fp4": 0.25, "int8": 0.1}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """Tiny float32 checkpoints by family; skips the module (saying why) if bitsandbytes cannot run here."""
    root = tmp_path_factory.mktemp("bnb")
    paths = {}
    for family, make in CONFIGS.items():
        torch.manual_seed(0)
        tf.AutoModel.from_config(make()).save_pretrained(root / family)
        paths[family] = root / family
    try:
        for kind in KINDS:
            model = _quantized(paths["bert"], kind).train()
            model(**inputs("bert")).last_hidden_state.sum().backward()
    except Exception as error:  # bitsandbytes' CPU backend is missing or broken on this machine
        pytest.skip(f"bitsandbytes {bnb.__version__} cannot run here: {type(error).__name__}: {error}")
    return paths


def _quantized(path, kind: str):
    model = tf.AutoModel.from_pretrained(path, quantization_config=KINDS[kind](), device_map="cpu")
    return model.eval()


def _float32(path):
    return tf.AutoModel.from_pretrained(path).eval()


def _dequantized_twin(model, path):
    """The float32 model whose weights are ``model``'s dequantized ones: the same function as the quantized base,
    computed in float32 (run ``model`` once before, so bitsandbytes has repacked its 4-bit weights)."""
    twin = _float32(path)
    with torch.no_grad():
        for name, module in twin.named_modules():
            quantized = model.get_submodule(name)
            if quantization_kind(quantized) is not None:
                module.weight.copy_(dequantized_weight(quantized))
    return twin


def _quantized_layers(model) -> list[torch.nn.Module]:
    return [m for m in model.modules() if isinstance(m, (bnb.nn.Linear4bit, bnb.nn.Linear8bitLt))]


@pytest.mark.parametrize(("family", "kind", "method"), CASES)
def test_adapter_on_quantized_base(checkpoints, family, kind, method):
    model = _quantized(checkpoints[family], kind)
    assert _quantized_layers(model)
    batch = inputs(family)
    output(model, batch)  # bitsandbytes repacks 4-bit weights at the first inference forward
    quantized_keys = base_keys_of(model)
    reference = _dequantized_twin(model, checkpoints[family])
    base_keys = base_keys_of(reference)
    adapters.init(reference)
    reference.add_adapter("a", config=METHODS[method], set_active=True)
    perturb_adapters(reference, base_keys, scale=0.3)
    expected = output(reference, batch)
    reference.set_active_adapters(None)
    assert (expected - output(reference, batch)).abs().max() > 2 * TOLERANCE[kind]  # the adapter matters

    adapters.init(model)
    model.add_adapter("a", config=METHODS[method], set_active=True)
    state = added_state(reference, base_keys)
    # sizes come from the modules, not from the packed weights
    shapes = {k: v.shape for k, v in added_state(model, quantized_keys).items()}
    assert shapes == {k: v.shape for k, v in state.items()}
    copy_added_state(model, state)
    out = output(model, batch)
    assert bool(out.isfinite().all()) and (out - expected).abs().max() < TOLERANCE[kind]


@pytest.mark.parametrize("kind", KINDS)
def test_training_through_quantized_layers(checkpoints, kind):
    """Gradients reach LoRA and bottleneck adapters through the quantized layers; the quantized weights stay as
    they were. (A fresh model: after an inference forward, bitsandbytes 0.50.2's repacked CPU weights cannot run
    backward, see docs/precision.md.)"""
    model = _quantized(checkpoints["llama"], kind)
    quantized_keys = base_keys_of(model)
    adapters.init(model)
    model.add_adapter("l", config=METHODS["lora"])
    model.add_adapter("b", config=METHODS["seq_bn"])
    perturb_adapters(model, quantized_keys, scale=0.3)
    model.train_adapter(adapters.Stack("l", "b"))
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert not set(trainable) & quantized_keys
    assert any(".loras.l." in n for n in trainable) and any(".adapters.b." in n for n in trainable)
    before = {k: v.clone() for k, v in added_state(model, set()).items()}
    hidden = model(**inputs("llama")).last_hidden_state
    direction = torch.randn(hidden.shape, generator=torch.Generator().manual_seed(0))
    (hidden * direction).sum().backward()
    assert all(p.grad is not None and bool(p.grad.isfinite().all()) for p in trainable.values())
    main = [n for n in trainable if n.endswith(("lora_B", "adapter_up.weight"))]  # both adapters' output weights
    assert main and all(float(trainable[n].grad.abs().sum()) > 0 for n in main)
    torch.optim.SGD(trainable.values(), lr=0.1).step()
    after = added_state(model, set())
    assert all(torch.equal(before[k], after[k]) for k in quantized_keys)
    assert all(not torch.equal(before[k], after[k]) for k in main)


@pytest.mark.parametrize("kind", KINDS)
def test_save_and_load_with_quantized_base(checkpoints, kind, tmp_path):
    model = _quantized(checkpoints["bert"], kind)
    base_keys = base_keys_of(model)
    adapters.init(model)
    for name in ("lora", "seq_bn"):
        model.add_adapter(name, config=METHODS[name])
    perturb_adapters(model, base_keys, scale=0.3)
    batch = inputs("bert")
    expected = {}
    for name in ("lora", "seq_bn"):
        model.set_active_adapters(name)
        expected[name] = output(model, batch)
        model.save_adapter(str(tmp_path / name), name)

    fresh = _quantized(checkpoints["bert"], kind)
    output(fresh, batch)
    twin = _dequantized_twin(fresh, checkpoints["bert"])  # loads into an unquantized model too
    for target in (fresh, twin):
        adapters.init(target)
    for name in ("lora", "seq_bn"):
        for target in (fresh, twin):
            target.load_adapter(str(tmp_path / name), set_active=True)
        torch.testing.assert_close(output(fresh, batch), expected[name], rtol=0, atol=1e-6)
        assert (output(twin, batch) - expected[name]).abs().max() < TOLERANCE[kind]
    for name, container in (("lora", ".loras.lora."), ("seq_bn", ".adapters.seq_bn.")):
        saved = load_file(next((tmp_path / name).glob("*.safetensors")))
        assert saved and all(container in key for key in saved)  # adapter weights only, no quantization state


@pytest.mark.parametrize("kind", KINDS)
def test_merge_is_refused_on_quantized_layers(checkpoints, kind):
    model = _quantized(checkpoints["bert"], kind)
    adapters.init(model)
    model.add_adapter("a", config=METHODS["lora"], set_active=True)
    perturb_adapters(model, {k for k in base_keys_of(model) if ".loras." not in k}, scale=0.3)
    batch = inputs("bert")
    expected = output(model, batch)
    state = {k: v.clone() for k, v in added_state(model, set()).items()}
    with pytest.raises(UnsupportedMethodError, match=rf"Cannot merge adapter 'a'.*{re.escape(DESCRIPTION[kind])}"):
        model.merge_adapter("a")
    assert all(torch.equal(v, added_state(model, set())[k]) for k, v in state.items())  # nothing changed
    torch.testing.assert_close(output(model, batch), expected, rtol=0, atol=0)


@pytest.mark.parametrize("kind", KINDS)
def test_dequantized_weight_is_what_the_layer_applies(checkpoints, kind):
    """DoRA reads the base weight's values: they must be the ones the quantized layer multiplies with, also after
    bitsandbytes repacked a 4-bit weight for CPU inference (its first no-grad forward in eval mode)."""
    model = _quantized(checkpoints["llama"], kind)
    full = dict(_float32(checkpoints["llama"]).named_modules())
    x = torch.randn(3, 64, generator=torch.Generator().manual_seed(0))
    for name, layer in [(n, m) for n, m in model.named_modules() if m in _quantized_layers(model)][:3]:
        assert quantization_kind(layer) == DESCRIPTION[kind]
        assert quantization_kind(full[name]) is None
        fresh = dequantized_weight(layer).float().clone()
        assert fresh.shape == full[name].weight.shape
        assert (fresh - full[name].weight).abs().max() < 0.2  # within quantization error of the float weights
        with torch.no_grad():
            applied = layer(x[:, : layer.in_features])
        weight = dequantized_weight(layer).float()
        assert (weight - fresh).abs().max() < 1e-3  # repacking rounds its scales to bfloat16 at most
        torch.testing.assert_close(applied, x[:, : layer.in_features] @ weight.t(), rtol=0, atol=1e-2)


def test_dora_starts_as_the_quantized_base(checkpoints):
    """DoRA's magnitude starts at the row norms of the dequantized weight, so the model is unchanged at first."""
    model = _quantized(checkpoints["llama"], "nf4")
    batch = inputs("llama")
    base = output(model, batch)  # packs the 4-bit weights for CPU inference first
    adapters.init(model)
    model.add_adapter("d", config=METHODS["dora"], set_active=True)
    torch.testing.assert_close(output(model, batch), base, rtol=0, atol=1e-5)

"""PEFT checkpoints both ways, verified against the real ``peft`` library (a dev dependency): a PEFT-made LoRA,
DoRA or (IA)³ loads here with PEFT's outputs, and our LoRA-family adapters exported to PEFT's format load in PEFT
with ours, within 1e-5, on BERT and Llama (and GPT-2's fused projection). What cannot convert raises why."""

from __future__ import annotations

import copy
import json

import peft
import pytest
import torch
import transformers as tf
from safetensors.torch import load_file, save_file

import adapters
from adapters.errors import UnsupportedMethodError
from adapters.io.peft_export import export_to_peft
from contract.helpers import adapter_model, randomize_adapter
from tiny_models import build, config, inputs

ATOL = 1e-5
BERT_ALL = r".*\.(query|key|value)|.*layer\.\d+\.(intermediate|output)\.dense"
LLAMA_ALL = ["q_proj", "k_proj", "v_proj", "up_proj", "down_proj"]


def _run(model, family: str) -> torch.Tensor:
    with torch.no_grad():
        out = model(**inputs(family))
    return out.logits if getattr(out, "logits", None) is not None else out.last_hidden_state


def _causal_llama() -> torch.nn.Module:
    torch.manual_seed(0)
    return tf.LlamaForCausalLM(config("llama")).eval()


def _base(family: str) -> torch.nn.Module:
    """The tiny base model; BERT's linear biases get random values (transformers initialises them to zero, which
    would hide how the bias is treated, e.g. by DoRA)."""
    if family == "causal-llama":
        return _causal_llama()
    model = build(family)
    if family == "bert":
        generator = torch.Generator().manual_seed(5)
        with torch.no_grad():
            for module in model.modules():
                if isinstance(module, torch.nn.Linear) and module.bias is not None:
                    module.bias.copy_(torch.randn(module.bias.shape, generator=generator) * 0.5)
    return model


def _peft_made(base, peft_config, folder) -> torch.Tensor:
    """Wrap a copy of ``base`` with PEFT, give every adapter weight a random value, save, return its output."""
    torch.manual_seed(7)
    model = peft.get_peft_model(copy.deepcopy(base), peft_config)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if any(k in name for k in ("lora_A", "lora_B")):
                param.copy_(torch.randn_like(param) * 0.2)
            elif "ia3_l" in name:
                param.mul_(1 + 0.6 * torch.randn_like(param))
            elif "lora_magnitude_vector" in name:
                param.mul_(1 + 0.3 * torch.rand_like(param))
    model.eval()
    model.save_pretrained(folder)
    return model


def _ours(base) -> torch.nn.Module:
    model = copy.deepcopy(base)
    adapters.init(model)
    return model


PEFT_TO_OURS = {
    "bert q,v": ("bert", lambda: peft.LoraConfig(target_modules=["query", "value"], r=4, lora_alpha=8)),
    "bert all adaptable, rsLoRA": (
        "bert",
        lambda: peft.LoraConfig(target_modules=BERT_ALL, r=4, lora_alpha=16, use_rslora=True),
    ),
    "bert q,v in layer 1": (
        "bert",
        lambda: peft.LoraConfig(target_modules=["query", "value"], layers_to_transform=[1], r=2, lora_alpha=4),
    ),
    "llama q,v": ("llama", lambda: peft.LoraConfig(target_modules=["q_proj", "v_proj"], r=4, lora_alpha=8)),
    "llama all adaptable": ("llama", lambda: peft.LoraConfig(target_modules=LLAMA_ALL, r=4, lora_alpha=32)),
    "llama DoRA": (
        "llama",
        lambda: peft.LoraConfig(target_modules=["q_proj", "v_proj"], r=4, lora_alpha=16, use_dora=True),
    ),
    "llama DoRA all adaptable": (
        "llama",
        lambda: peft.LoraConfig(target_modules=LLAMA_ALL, r=4, lora_alpha=8, use_dora=True),
    ),
    "bert DoRA q,v (biased layers)": (
        "bert",
        lambda: peft.LoraConfig(target_modules=["query", "value"], r=4, lora_alpha=8, use_dora=True),
    ),
    "bert DoRA all adaptable (biased layers)": (
        "bert",
        lambda: peft.LoraConfig(target_modules=BERT_ALL, r=4, lora_alpha=4, use_dora=True),
    ),
    "bert IA3 q,v": ("bert", lambda: peft.IA3Config(target_modules=["query", "value"], feedforward_modules=[])),
    "bert IA3 all adaptable": ("bert", lambda: peft.IA3Config(target_modules=BERT_ALL, feedforward_modules=[])),
    "llama IA3 (PEFT defaults)": ("llama", lambda: peft.IA3Config()),
    "llama IA3 q,v": ("llama", lambda: peft.IA3Config(target_modules=["q_proj", "v_proj"], feedforward_modules=[])),
    "llama IA3 all adaptable": ("llama", lambda: peft.IA3Config(target_modules=LLAMA_ALL, feedforward_modules=[])),
    "llama IA3 all adaptable, down_proj as feed-forward": (
        "llama",
        lambda: peft.IA3Config(target_modules=LLAMA_ALL, feedforward_modules=["down_proj"]),
    ),
    "causal llama all adaptable": (
        "causal-llama",
        lambda: peft.LoraConfig(target_modules=LLAMA_ALL, r=4, lora_alpha=8),
    ),
    "gpt2 fused c_attn": ("gpt2", lambda: peft.LoraConfig(target_modules=["c_attn"], r=4, lora_alpha=8)),
}


@pytest.mark.parametrize("case", list(PEFT_TO_OURS))
def test_peft_made_adapters_load_with_the_same_outputs(tmp_path, case):
    family, make_config = PEFT_TO_OURS[case]
    base = _base(family)
    family = family.removeprefix("causal-")
    expected = _run(_peft_made(base, make_config(), tmp_path / "peft-adapter"), family)
    model = _ours(base)
    assert model.load_adapter(str(tmp_path / "peft-adapter"), set_active=True) == "peft-adapter"
    assert (_run(model, family) - _run(base, family)).abs().max() > 1e-2  # the adapter does something
    torch.testing.assert_close(_run(model, family), expected, atol=ATOL, rtol=0)


def test_a_peft_adapter_made_on_the_base_model_loads_into_a_model_with_a_head(tmp_path):
    base = _causal_llama()
    peft_model = _peft_made(base.model, peft.LoraConfig(target_modules=["q_proj", "v_proj"]), tmp_path / "a")
    model = _ours(base)
    model.load_adapter(str(tmp_path / "a"), set_active=True)
    torch.testing.assert_close(_run(model.model, "llama"), _run(peft_model, "llama"), atol=ATOL, rtol=0)


def test_converted_configs_describe_the_peft_adapter(tmp_path):
    base = build("bert")
    _peft_made(base, peft.LoraConfig(target_modules=["query", "value"], layers_to_transform=[1], r=2), tmp_path / "a")
    model = _ours(base)
    model.load_adapter(str(tmp_path / "a"), load_as="mine")
    config_ = model.adapters_config.get("mine")
    assert (config_.r, config_.alpha, config_.attn_matrices, config_.leave_out) == (2, 8.0, ["q", "v"], [0])
    assert not config_.intermediate_lora and not config_.output_lora
    base = build("llama")
    _peft_made(base, peft.IA3Config(), tmp_path / "b")
    model = _ours(base)
    model.load_adapter(str(tmp_path / "b"), load_as="ia3")
    ia3 = model.adapters_config.get("ia3")
    assert type(ia3).__name__ == "IA3Config" and ia3.attn_matrices == ["k", "v"] and ia3.output_lora  # up_proj


OURS_TO_PEFT = {
    "bert lora q,v": ("bert", "lora"),
    "bert lora all adaptable": (
        "bert",
        "lora[r=4,alpha=16,attn_matrices=['q','k','v'],intermediate_lora=True,output_lora=True]",
    ),
    "bert dora q,v, bias after the scaling": ("bert", "dora[dora_unscaled_bias=True]"),
    "bert dora all adaptable, bias after the scaling": (
        "bert",
        "dora[dora_unscaled_bias=True,attn_matrices=['q','k','v'],intermediate_lora=True,output_lora=True]",
    ),
    "bert ia3": ("bert", "ia3"),
    "bert ia3 q,v": ("bert", "ia3[attn_matrices=['q','v'],intermediate_lora=False]"),
    "bert ia3 all adaptable": ("bert", "ia3[attn_matrices=['q','k','v'],intermediate_lora=True,output_lora=True]"),
    "llama lora q,v": ("llama", "lora[leave_out=[0]]"),
    "llama lora all adaptable": ("llama", "lora[attn_matrices=['q','k','v'],intermediate_lora=True,output_lora=True]"),
    "llama dora": ("llama", "dora"),
    "llama dora all adaptable": ("llama", "dora[attn_matrices=['q','k','v'],intermediate_lora=True,output_lora=True]"),
    "llama ia3": ("llama", "ia3"),
    "llama ia3 q,v": ("llama", "ia3[attn_matrices=['q','v'],intermediate_lora=False]"),
    "llama ia3 all adaptable": ("llama", "ia3[attn_matrices=['q','k','v'],intermediate_lora=True,output_lora=True]"),
    "gpt2 lora on the fused q,v": ("gpt2", "lora"),
}


@pytest.mark.parametrize("case", list(OURS_TO_PEFT))
def test_exported_adapters_give_the_same_outputs_in_peft(tmp_path, case):
    family, adapter_config = OURS_TO_PEFT[case]
    base = _base(family)
    model = _ours(base)
    model.add_adapter("a", config=adapter_config, set_active=True)
    randomize_adapter(model, "a")
    export_to_peft(model, "a", tmp_path / "exported")
    data = json.loads((tmp_path / "exported" / "adapter_config.json").read_text())
    assert data["peft_type"] in ("LORA", "IA3")
    assert all(
        k.startswith("base_model.model.") for k in load_file(tmp_path / "exported" / "adapter_model.safetensors")
    )
    in_peft = peft.PeftModel.from_pretrained(copy.deepcopy(base), tmp_path / "exported").eval()
    assert (_run(model, family) - _run(base, family)).abs().max() > 1e-2
    torch.testing.assert_close(_run(in_peft, family), _run(model, family), atol=ATOL, rtol=0)
    back = _ours(base)  # and back again
    back.load_adapter(str(tmp_path / "exported"), set_active=True)
    torch.testing.assert_close(_run(back, family), _run(model, family), atol=ATOL, rtol=0)


@pytest.mark.parametrize(
    ("family", "make_config", "message"),
    [
        ("bert", lambda: peft.LoraConfig(target_modules="all-linear"), r"attention\.output\.dense.*pooler\.dense"),
        ("llama", lambda: peft.LoraConfig(target_modules="all-linear"), r"layers\.0\.mlp\.gate_proj.*o_proj"),
        ("bert", lambda: peft.IA3Config(), "scales the input of its feed-forward modules"),
        (
            "bert",
            lambda: peft.LoraConfig(target_modules=r"encoder\.layer\.0\.attention\.self\.query|.*value"),
            "different layer kinds",
        ),
        ("bert", lambda: peft.LoraConfig(target_modules=["query"], modules_to_save=["pooler"]), "modules_to_save"),
        (
            "bert",
            lambda: peft.LoraConfig(target_modules=["query", "value"], rank_pattern={"value": 2}),
            "rank_pattern",
        ),
    ],
)
def test_peft_adapters_that_cannot_be_represented_raise_why(tmp_path, family, make_config, message):
    base = build(family)
    _peft_made(base, make_config(), tmp_path / "p")
    model = _ours(base)
    keys = list(model.state_dict())
    with pytest.raises(UnsupportedMethodError, match=message):
        model.load_adapter(str(tmp_path / "p"))
    assert list(model.state_dict()) == keys and not model.has_adapters()


def test_other_peft_types_raise(tmp_path):
    folder = tmp_path / "loha"
    folder.mkdir()
    (folder / "adapter_config.json").write_text(json.dumps({"peft_type": "LOHA", "target_modules": ["query"]}))
    save_file({"base_model.model.x.hada_w1_a": torch.zeros(1)}, folder / "adapter_model.safetensors")
    with pytest.raises(UnsupportedMethodError, match="type 'LOHA' cannot be loaded; supported: LORA"):
        adapter_model("bert").load_adapter(str(folder))


@pytest.mark.parametrize(
    ("adapter_config", "message"),
    [
        ("seq_bn", "PEFT has no bottleneck adapters"),
        ("prefix_tuning", "PEFT has no bottleneck adapters"),
        ("vera", "VeRA"),
        ("mtl_lora", "MTL-LoRA"),
        ("lora[use_gating=True]", "gate depends on the input"),
        ("dora[alpha=16]", "alpha == r"),
        ("mam", "MAMConfig; PEFT has no bottleneck adapters, fusion or unions"),
    ],
)
def test_exporting_what_peft_cannot_represent_raises_and_writes_nothing(tmp_path, adapter_config, message):
    model = adapter_model("bert")
    model.add_adapter("a", config=adapter_config)
    with pytest.raises(UnsupportedMethodError, match=message):
        export_to_peft(model, "a", tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("family", "adapter_config", "message"),
    [
        ("bert", "dora", "dora_unscaled_bias=False .* adds the bias after the magnitude scaling"),
        ("gpt2", "dora[dora_unscaled_bias=True]", "fused projections"),
    ],
)
def test_exporting_dora_on_layers_with_a_bias_or_fused_raises(tmp_path, family, adapter_config, message):
    model = adapter_model(family)
    model.add_adapter("a", config=adapter_config)
    with pytest.raises(UnsupportedMethodError, match=message):
        export_to_peft(model, "a", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_peft_dora_on_biased_layers_loads_with_the_bias_after_the_scaling(tmp_path):
    base = _base("bert")
    config_ = peft.LoraConfig(target_modules=["query", "value"], r=2, use_dora=True)
    expected = _run(_peft_made(base, config_, tmp_path / "d"), "bert")
    model = _ours(base)
    model.load_adapter(str(tmp_path / "d"), load_as="d", set_active=True)
    loaded = model.adapters_config.get("d")
    assert loaded.use_dora and loaded.dora_unscaled_bias and (loaded.r, loaded.alpha) == (2, 2.0)
    torch.testing.assert_close(_run(model, "bert"), expected, atol=ATOL, rtol=0)
    for module in model.modules():  # the reference's DoRA (bias scaled too) gives other outputs here
        if getattr(module, "use_dora", False) is True:
            module.dora_unscaled_bias = False
    assert (_run(model, "bert") - expected).abs().max() > 1e-3

"""Mixture-of-experts families: LoRA on the attention and on the experts that are linear layers (Qwen2-MoE's shared
expert, and the MLP of a layer the config makes dense); the routed experts are fused 3-D parameters and stay as they
are; bottleneck adapters sit on the MoE block's output."""

from __future__ import annotations

import pytest
import torch
import transformers as tf

import adapters
from contract.helpers import randomize_adapter
from tiny_models import build, config, inputs, output

FFN_LORA = "lora[r=4, alpha=8, selfattn_lora=False, intermediate_lora=True, output_lora=True]"


def _lora_keys(model, name: str = "a") -> set[str]:
    return {k.split(".loras.")[0] for k in model.state_dict() if f".loras.{name}." in k}


def test_qwen2_moe_lora_adapts_the_shared_expert_and_a_dense_layers_mlp():
    moe_config = config("qwen2_moe")
    moe_config.mlp_only_layers = [1]  # layer 1 has a dense MLP instead of experts
    torch.manual_seed(0)
    model = tf.AutoModel.from_config(moe_config).eval()
    batch = inputs("qwen2_moe")
    base = output(model, batch)
    adapters.init(model)
    model.add_adapter("a", config=FFN_LORA, set_active=True)
    assert _lora_keys(model) == {
        "layers.0.mlp.shared_expert.up_proj", "layers.0.mlp.shared_expert.down_proj",
        "layers.1.mlp.up_proj", "layers.1.mlp.down_proj",
    }  # fmt: skip
    randomize_adapter(model, "a")
    assert (output(model, batch) - base).abs().max() > 1e-4
    model.train_adapter("a")
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(".loras.a." in n for n in trainable)


@pytest.mark.parametrize("family", ["qwen3_moe", "mixtral"])
def test_routed_experts_keep_their_fused_weights_and_lora_adapts_the_attention(family):
    model = build(family)
    adapters.init(model)
    model.add_adapter("a", config="lora[r=4, alpha=8, attn_matrices=['q', 'k', 'v'], intermediate_lora=True]")
    assert _lora_keys(model) == {f"layers.{i}.self_attn.{m}_proj" for i in (0, 1) for m in "qkv"}
    experts = model.layers[0].mlp.experts
    assert not any(isinstance(m, torch.nn.Linear) for m in experts.modules()) and experts.gate_up_proj.dim() == 3


@pytest.mark.parametrize("family", ["qwen3_moe", "qwen2_moe", "mixtral"])
def test_bottleneck_adapter_sits_on_the_moe_block_output(family):
    model = build(family)
    batch = inputs(family)
    base = output(model, batch)
    adapters.init(model)
    model.add_adapter("a", config="seq_bn", set_active=True)
    assert "layers.0.output_adapters.adapters.a.adapter_up.weight" in model.state_dict()
    randomize_adapter(model, "a")
    assert (output(model, batch) - base).abs().max() > 1e-4

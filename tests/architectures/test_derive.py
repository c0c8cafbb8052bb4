"""The generic fallback (derived specs), the AdapterModelInterface, and EncoderDecoderModel specs."""

from __future__ import annotations

import json

import pytest
import torch
import transformers as tf

import adapters
from adapters.architectures.derive import derive_spec
from adapters.architectures.interface import INTERFACE_CONFIG_NAME, load_interface
from adapters.architectures.specs import spec_for_model_type
from adapters.errors import AdapterConfigError, UnsupportedMethodError, UnsupportedModelError
from contract.helpers import randomize_adapter
from tiny_models import FALLBACK_FAMILIES, build, config, inputs, output

# what the fallback must find in each held-out model type: (mh residual, mh output, mh norm) and the FFN's
EXPECTED = {
    "gemma": (("input_layernorm", "self_attn", None), ("post_attention_layernorm", "mlp", None)),
    "olmo": (("input_layernorm", "self_attn", None), ("post_attention_layernorm", "mlp", None)),
    "starcoder2": (("input_layernorm", "self_attn", None), ("post_attention_layernorm", "mlp", None)),
    "helium": (("input_layernorm", "self_attn", None), ("post_attention_layernorm", "mlp", None)),
    "stablelm": (("input_layernorm", "self_attn", None), ("post_attention_layernorm", "mlp", None)),
    "ernie": (
        ("attention.output", "attention.output.dropout", "attention.output.LayerNorm"),
        ("output", "output.dropout", "output.LayerNorm"),
    ),
}


@pytest.mark.parametrize("family", sorted(FALLBACK_FAMILIES))
def test_fallback_derives_the_sites_of_held_out_model_types(family):
    assert spec_for_model_type(family) is None  # kept out of the table on purpose
    spec = derive_spec(build(family))
    (group,) = spec.layer_groups
    assert group.path in ("layers", "encoder.layer")
    assert tuple((s.residual, s.output, s.norm) for s in group.sites) == EXPECTED[family]
    assert [s.location for s in group.lora_sites] == ["selfattn"] * 3 + ["intermediate", "output"]
    assert [s.path for s in group.attention_sites] in (["self_attn"], ["attention.self"])
    assert spec.prompt is not None and spec.invertible is not None


def test_derived_spec_matches_the_hand_written_one_for_llama():
    spec = derive_spec(build("llama"))
    table = spec_for_model_type("qwen2")  # llama's layout with up_proj as "intermediate" (the fallback's choice)
    assert spec.layer_groups[0].sites == table.layer_groups[0].sites
    assert spec.layer_groups[0].lora_sites == table.layer_groups[0].lora_sites


def test_derived_model_runs_bottleneck_adapters():
    model = build("gemma")
    batch = inputs("llama")
    base = output(model, batch)
    adapters.init(model)
    model.add_adapter("a", config="seq_bn", set_active=True)
    randomize_adapter(model, "a")
    assert (output(model, batch) - base).abs().max() > 1e-3
    assert "layers.0.output_adapters.adapters.a.adapter_up.weight" in model.state_dict()


def test_a_plain_torch_module_is_refused_with_what_to_do_and_left_as_it_was():
    module = torch.nn.Linear(4, 4)
    with pytest.raises(UnsupportedModelError, match="not a transformers model.*AdapterModelInterface"):
        adapters.init(module)
    assert type(module) is torch.nn.Linear and not hasattr(module, "add_adapter")


# --- AdapterModelInterface ---------------------------------------------------------------------------------------
def _interface(**overrides):
    fields = {
        "adapter_methods": ["bottleneck", "lora", "reft", "invertible"],
        "model_embeddings": "embed_tokens",
        "model_layers": "layers",
        "layer_self_attn": "self_attn",
        "layer_cross_attn": None,
        "attn_k_proj": "k_proj",
        "attn_q_proj": "q_proj",
        "attn_v_proj": "v_proj",
        "attn_o_proj": "o_proj",
        "layer_intermediate_proj": "mlp.up_proj",
        "layer_output_proj": "mlp.down_proj",
        "layer_pre_self_attn": "input_layernorm",
        "layer_pre_ffn": "post_attention_layernorm",
    }
    fields.update(overrides)
    return adapters.AdapterModelInterface(**fields)


def test_interface_needs_exactly_one_projection_form():
    with pytest.raises(AdapterConfigError, match="exactly one"):
        _interface(attn_qkv_proj="qkv")
    with pytest.raises(AdapterConfigError, match="exactly one"):
        _interface(attn_q_proj=None)
    with pytest.raises(AdapterConfigError, match="Unknown adapter_methods"):
        _interface(adapter_methods=["bottleneck", "magic"])


def test_interface_model_gives_the_reference_keys_and_refuses_unlisted_methods():
    model = tf.AutoModel.from_config(config("qwen2")).eval()
    batch = inputs("qwen2")
    base = output(model, batch)
    adapters.init(model, interface=_interface())
    model.add_adapter("a", config="double_seq_bn", set_active=True)
    model.add_adapter("l", config="lora")
    keys = set(model.state_dict())
    assert "layers.0.attention_adapters.adapters.a.adapter_up.weight" in keys
    assert "layers.1.output_adapters.adapters.a.adapter_down.0.weight" in keys
    assert "layers.0.self_attn.q_proj.loras.l.lora_A" in keys
    randomize_adapter(model, "a")
    assert (output(model, batch) - base).abs().max() > 1e-3
    with pytest.raises(UnsupportedMethodError, match="not in the AdapterModelInterface's adapter_methods"):
        model.add_adapter("p", config="prefix_tuning")


def test_interface_is_saved_and_load_model_restores_adapters(tmp_path):
    torch.manual_seed(0)
    model = tf.AutoModelForCausalLM.from_config(config("qwen2")).eval()
    interface = _interface(adapter_methods=["bottleneck", "lora", "prefix_tuning"])
    adapters.init(model, interface=interface)
    model.add_adapter("a", config="seq_bn", set_active=True)
    model.add_adapter("p", config="prefix_tuning[prefix_length=2]")
    for name in ("a", "p"):
        randomize_adapter(model, name)
    batch = inputs("qwen2")
    with torch.no_grad():
        expected = model(**batch).logits
    model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / INTERFACE_CONFIG_NAME).read_text())
    assert sorted(saved) == ["interface", "model_type", "version"] and saved["model_type"] == "qwen2"
    assert load_interface(tmp_path) == interface
    loaded = adapters.load_model(tmp_path, tf.AutoModelForCausalLM).eval()
    assert loaded.__dict__["_adapter_interface"] == interface
    assert list(loaded.adapters_config.adapters) == ["a", "p"]
    loaded.set_active_adapters("a")
    with torch.no_grad():
        assert torch.equal(loaded(**batch).logits, expected)


def test_init_rejects_a_non_interface():
    model = build("llama")
    with pytest.raises(AdapterConfigError, match="AdapterModelInterface"):
        adapters.init(model, interface={"model_layers": "layers"})
    assert not isinstance(model, adapters.ModelAdaptersMixin)


# --- EncoderDecoderModel -----------------------------------------------------------------------------------------
def _encoder_decoder():
    encoder = config("bert")
    decoder = config("bert")
    decoder.is_decoder, decoder.add_cross_attention = True, True
    torch.manual_seed(0)
    return tf.EncoderDecoderModel(config=tf.EncoderDecoderConfig.from_encoder_decoder_configs(encoder, decoder)).eval()


def test_encoder_decoder_model_indexes_encoder_then_decoder_layers_with_cross_adapters():
    model = _encoder_decoder()
    batch = dict(inputs("bert"), decoder_input_ids=inputs("bert")["input_ids"][:, :5])
    with torch.no_grad():
        base = model(**batch).logits
    adapters.init(model)
    model.add_adapter("a", config="seq_bn[cross_adapter=True]", set_active=True)
    randomize_adapter(model, "a")
    layers = model.get_adapter("a")
    assert sorted(layers) == [0, 1, 2, 3]
    assert set(layers[0]) == {"output_adapter"} and set(layers[2]) == {"output_adapter", "cross_adapter"}
    assert "decoder.bert.encoder.layer.0.crossattention.output.adapters.a.adapter_up.weight" in model.state_dict()
    with torch.no_grad():
        assert (model(**batch).logits - base).abs().max() > 1e-3


def test_encoder_decoder_model_prompt_tuning_joins_the_encoder_input_and_generates():
    """The prompt joins the BERT encoder's embedding output; the encoder mask and the decoder's cross-attention mask
    cover it (a padded row equals the row run alone), also in ``generate()``, which runs the encoder on its own."""
    model = _encoder_decoder()
    model.generation_config.decoder_start_token_id, model.generation_config.pad_token_id = 1, 0
    batch = dict(inputs("bert"), decoder_input_ids=inputs("bert")["input_ids"][:, :5])
    with torch.no_grad():
        plain = model(**batch)
    adapters.init(model)
    model.add_adapter("p", config="prompt_tuning[prompt_length=3]", set_active=True)
    randomize_adapter(model, "p", std=1.0)
    rows = {"input_ids": batch["input_ids"][1:, :5], "attention_mask": batch["attention_mask"][1:, :5]}
    with torch.no_grad():
        out = model(**batch)
        alone = model(**rows, decoder_input_ids=batch["decoder_input_ids"][1:])
    assert out.encoder_last_hidden_state.shape[1] == plain.encoder_last_hidden_state.shape[1] + 3
    assert (out.logits - plain.logits).abs().max() > 1e-4
    torch.testing.assert_close(out.logits[1:], alone.logits, atol=1e-5, rtol=1e-4)
    settings = {"max_new_tokens": 3, "do_sample": False}
    padded = model.generate(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], **settings)
    assert torch.equal(padded[1:], model.generate(**rows, **settings))
    generated = model.generate(**rows, **settings, output_scores=True, return_dict_in_generate=True)
    with torch.no_grad():
        forced = model(**rows, decoder_input_ids=generated.sequences[:, :-1]).logits
    torch.testing.assert_close(torch.stack(generated.scores, dim=1), forced, atol=1e-4, rtol=1e-4)


def test_encoder_decoder_model_refuses_prompt_tuning_when_its_encoder_has_no_prompt_site():
    decoder = config("bert")
    decoder.is_decoder, decoder.add_cross_attention = True, True
    composed = tf.EncoderDecoderConfig.from_encoder_decoder_configs(config("clip_text_model"), decoder)
    model = tf.EncoderDecoderModel(config=composed)
    adapters.init(model)
    with pytest.raises(UnsupportedMethodError, match="encoder that reads token embeddings"):
        model.add_adapter("p", config="prompt_tuning")
    assert "p" not in model.adapters_config.adapters


def test_encoder_decoder_with_an_unsupported_part_names_it():
    encoder = tf.GPTNeoXConfig(vocab_size=50, hidden_size=32, num_hidden_layers=1, num_attention_heads=4)
    decoder = config("bert")
    decoder.is_decoder, decoder.add_cross_attention = True, True
    model = tf.EncoderDecoderModel(config=tf.EncoderDecoderConfig.from_encoder_decoder_configs(encoder, decoder))
    with pytest.raises(UnsupportedModelError, match="encoder has model type 'gpt_neox'"):
        adapters.init(model)

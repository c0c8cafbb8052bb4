"""Every spec resolves on a tiny model of each of its model types, and key renames are bijective."""

from __future__ import annotations

import pytest

import adapters
from adapters.architectures.attach import resolve_path, spec_for_model
from adapters.architectures.spec import KeyRename
from adapters.architectures.specs import SPECS, spec_for_model_type
from adapters.errors import UnsupportedModelError
from tiny_models import ALL_FAMILIES, build, config, kind


def test_every_spec_model_type_has_a_tiny_model_in_the_suite():
    # the table (user code and docs examples may register more with register_spec); an EncoderDecoderModel's spec is
    # composed of its parts' (adapters.architectures.resolve.encoder_decoder_spec)
    tiny = {config(f).model_type for f in ALL_FAMILIES}
    assert {t for spec in SPECS for t in spec.model_types} == tiny - {"encoder-decoder"}


@pytest.mark.parametrize("family", ALL_FAMILIES)
def test_spec_paths_resolve(family):
    model = build(family)
    spec = spec_for_model(model)
    base = model.base_model
    total = 0
    for group in spec.layer_groups:
        layers, _ = resolve_path(base, group.path)
        total += len(layers)
        for layer in layers:
            for site in group.sites:
                for path in filter(
                    None, (site.residual, site.output, site.norm, site.inner_norm, site.residual_extra)
                ):
                    resolve_path(layer, path)
    expected_layers = 4 if kind(family) in ("seq2seq", "audio", "two_tower") else 2
    assert total == expected_layers
    adapters.init(model)
    assert [i for i, _ in model.iter_layers()] == list(range(expected_layers))
    if spec.invertible is not None:
        resolve_path(base, spec.invertible.first_layer)


def test_unsupported_model_names_the_model_type_and_what_is_missing():
    from transformers import AutoModel, GPTNeoXConfig

    model = AutoModel.from_config(
        GPTNeoXConfig(vocab_size=50, hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=37)
    )
    # GPT-NeoX adds attention and MLP outputs to one residual in parallel: not a standard layer the fallback knows
    with pytest.raises(UnsupportedModelError, match=r"'gpt_neox'.*could not find the attention block's residual"):
        adapters.init(model)
    assert not isinstance(model, adapters.ModelAdaptersMixin) and "_adapter_interface" not in model.__dict__


def test_resolve_path_reports_missing_attribute():
    model = build("bert")
    with pytest.raises(UnsupportedModelError, match="no attribute 'nope'"):
        resolve_path(model, "encoder.nope")


def test_negative_indices_resolve_to_concrete_paths():
    model = build("t5")
    module, path = resolve_path(model, "decoder.block.0.layer.-1")
    assert path == "decoder.block.0.layer.2" and type(module).__name__ == "T5LayerFF"


def test_key_rename_roundtrip():
    rename = KeyRename("layers.{i}.output_adapters.", "encoder.layer.{i}.output.output_adapters.")
    ours = "layers.11.output_adapters.adapters.a.adapter_up.weight"
    reference = "encoder.layer.11.output.output_adapters.adapters.a.adapter_up.weight"
    assert rename.to_reference(ours) == reference
    assert rename.from_reference(reference) == ours
    assert rename.to_reference("layers.1.attention_adapters.x") == "layers.1.attention_adapters.x"


def test_specs_are_unique_per_model_type():
    types = [t for spec in SPECS for t in spec.model_types]
    assert len(types) == len(set(types))
    assert spec_for_model_type("bert").name == "bert"
    assert spec_for_model_type("unknown") is None

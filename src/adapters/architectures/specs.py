"""The table of supported model families, as data.

Adding a family is one entry here (plus its tiny config in ``tests/conftest.py``). Layer paths are relative to the
base model (``model.base_model``); site paths are relative to one layer. See :mod:`adapters.architectures.spec`.
"""

from __future__ import annotations

from .spec import ArchitectureSpec, BottleneckSite, InvertibleSite, KeyRename, LayerGroup

__all__ = ["SPECS", "spec_for_model_type", "supported_model_types"]


def _pre_ln(location: str, store: str, pre_norm: str, sublayer: str) -> BottleneckSite:
    """A pre-LN site: the pre-norm's input is the residual and ``sublayer``'s output is ``h``."""
    return BottleneckSite(location=location, store=store, residual=pre_norm, output=sublayer)


_BERT_LAYER = (
    BottleneckSite(
        location="mh_adapter",
        store="attention.output.adapters",
        residual="attention.output",
        residual_arg=1,
        residual_kwarg="input_tensor",
        output="attention.output.dropout",
        norm="attention.output.LayerNorm",
    ),
    BottleneckSite(
        location="output_adapter",
        store="output.adapters",
        residual="output",
        residual_arg=1,
        residual_kwarg="input_tensor",
        output="output.dropout",
        norm="output.LayerNorm",
    ),
)

_DISTILBERT_LAYER = (
    BottleneckSite(
        location="mh_adapter",
        store="attention_adapters.adapters",
        residual="attention",
        output="attention",
        norm="sa_layer_norm",
    ),
    BottleneckSite(
        location="output_adapter",
        store="output_adapters.adapters",
        residual="ffn",
        residual_kwarg="input",
        output="ffn",
        norm="output_layer_norm",
    ),
)

_GPT2_LAYER = (
    _pre_ln("mh_adapter", "attention_adapters.adapters", "ln_1", "attn"),
    _pre_ln("output_adapter", "output_adapters.adapters", "ln_2", "mlp"),
)

_LLAMA_LAYER = (
    _pre_ln("mh_adapter", "attention_adapters.adapters", "input_layernorm", "self_attn"),
    _pre_ln("output_adapter", "output_adapters.adapters", "post_attention_layernorm", "mlp"),
)

_T5_SELF = _pre_ln("mh_adapter", "layer.0.adapters", "layer.0.layer_norm", "layer.0.dropout")
_T5_CROSS = _pre_ln("cross_adapter", "layer.1.adapters", "layer.1.layer_norm", "layer.1.dropout")
_T5_FF = _pre_ln("output_adapter", "layer.-1.adapters", "layer.-1.layer_norm", "layer.-1.dropout")


def _bart_site(location: str, store: str, attention: str | None, norm: str) -> BottleneckSite:
    """A post-LN BART site: ``attention`` gives both residual (input) and ``h`` (output); FFN uses fc1/fc2."""
    if attention is None:
        return BottleneckSite(
            location=location,
            store=store,
            residual="fc1",
            residual_kwarg="input",
            output="fc2",
            norm=norm,
            dropout_attr="dropout",
        )
    return BottleneckSite(
        location=location, store=store, residual=attention, output=attention, norm=norm, dropout_attr="dropout"
    )


_BART_MH = _bart_site("mh_adapter", "attention_adapters.adapters", "self_attn", "self_attn_layer_norm")
_BART_CROSS = _bart_site(
    "cross_adapter", "cross_attention_adapters.adapters", "encoder_attn", "encoder_attn_layer_norm"
)
_BART_FF = _bart_site("output_adapter", "output_adapters.adapters", None, "final_layer_norm")

_MBART_MH = _pre_ln("mh_adapter", "attention_adapters.adapters", "self_attn_layer_norm", "self_attn")
_MBART_CROSS = _pre_ln("cross_adapter", "cross_attention_adapters.adapters", "encoder_attn_layer_norm", "encoder_attn")
_MBART_FF = _pre_ln("output_adapter", "output_adapters.adapters", "final_layer_norm", "fc2")

_VIT_LAYER = (
    _pre_ln("mh_adapter", "attention_adapters.adapters", "layernorm_before", "attention"),
    _pre_ln("output_adapter", "output_adapters.adapters", "layernorm_after", "mlp"),
)

SPECS: tuple[ArchitectureSpec, ...] = (
    ArchitectureSpec(
        name="bert",
        model_types=("bert", "roberta", "xlm-roberta", "electra"),
        layer_groups=(LayerGroup("encoder.layer", _BERT_LAYER),),
        invertible=InvertibleSite(store="", first_layer="encoder.layer.0"),
    ),
    ArchitectureSpec(
        name="distilbert",
        model_types=("distilbert",),
        layer_groups=(LayerGroup("transformer.layer", _DISTILBERT_LAYER),),
        invertible=InvertibleSite(store="", first_layer="transformer.layer.0"),
    ),
    ArchitectureSpec(
        name="gpt2",
        model_types=("gpt2",),
        layer_groups=(LayerGroup("h", _GPT2_LAYER),),
        invertible=InvertibleSite(store="", first_layer="h.0"),
    ),
    ArchitectureSpec(
        name="llama",
        model_types=("llama", "mistral", "qwen2"),
        layer_groups=(LayerGroup("layers", _LLAMA_LAYER),),
        invertible=InvertibleSite(store="", first_layer="layers.0"),
    ),
    ArchitectureSpec(
        name="t5",
        model_types=("t5",),
        layer_groups=(
            LayerGroup("encoder.block", (_T5_SELF, _T5_FF)),
            LayerGroup("decoder.block", (_T5_SELF, _T5_CROSS, _T5_FF)),
        ),
        invertible=InvertibleSite(store="encoder", first_layer="encoder.block.0"),
    ),
    ArchitectureSpec(
        name="bart",
        model_types=("bart",),
        layer_groups=(
            LayerGroup("encoder.layers", (_BART_MH, _BART_FF)),
            LayerGroup("decoder.layers", (_BART_MH, _BART_CROSS, _BART_FF)),
        ),
        invertible=InvertibleSite(store="encoder", first_layer="encoder.layers.0"),
    ),
    ArchitectureSpec(
        name="mbart",
        model_types=("mbart",),
        layer_groups=(
            LayerGroup("encoder.layers", (_MBART_MH, _MBART_FF)),
            LayerGroup("decoder.layers", (_MBART_MH, _MBART_CROSS, _MBART_FF)),
        ),
        invertible=InvertibleSite(store="encoder", first_layer="encoder.layers.0"),
    ),
    ArchitectureSpec(
        name="vit",
        model_types=("vit",),
        layer_groups=(LayerGroup("layers", _VIT_LAYER),),
        invertible=InvertibleSite(store="", first_layer="layers.0"),
        checkpoint_renames=(
            KeyRename("layers.{i}.attention_adapters.", "encoder.layer.{i}.attention_adapters."),
            KeyRename("layers.{i}.output_adapters.", "encoder.layer.{i}.output.output_adapters."),
        ),
    ),
)

_BY_MODEL_TYPE = {model_type: spec for spec in SPECS for model_type in spec.model_types}


def supported_model_types() -> tuple[str, ...]:
    """All ``config.model_type`` values with a spec, sorted."""
    return tuple(sorted(_BY_MODEL_TYPE))


def spec_for_model_type(model_type: str) -> ArchitectureSpec | None:
    """The spec registered for ``model_type``, or ``None``."""
    return _BY_MODEL_TYPE.get(model_type)

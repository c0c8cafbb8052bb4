"""Static (transformers) heads → flexible heads, as data.

Each entry says which flexible head a transformers head class corresponds to, with which config, and where each
static head module's weights go (``<static module>.<param>`` → ``heads.<name>.<index>.<param>``). The conversion is
used when ``load_adapter``/``load_head`` meets a head saved from a static model, and by
``AutoAdapterModel.from_pretrained`` on a static checkpoint (head ``"default"``). The opposite direction does not
exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["StaticHead", "STATIC_HEADS", "static_head", "convert_static_keys", "static_head_config"]


@dataclass(frozen=True)
class StaticHead:
    """One transformers head class.

    Attributes:
        head_type: the flexible head type.
        config: head-config values that make the flexible head compute the same function.
        modules: ``(static module path, flexible index)`` pairs; a module path mapped to index ``i`` moves all its
            parameters to ``heads.<name>.<i>.*``.
        params: ``(static parameter key, flexible suffix)`` pairs for single parameters (e.g. a shared bias).
        base_attribute: the static class's base-model attribute when it differs from the AdapterModel's
            ``base_model_prefix`` (Llama's QA model stores its base as ``transformer``).
        activation_from_config: the model config attribute holding the activation (e.g. ``hidden_act``).
    """

    head_type: str
    config: dict[str, Any]
    modules: tuple[tuple[str, int], ...]
    params: tuple[tuple[str, str], ...] = ()
    base_attribute: str | None = None
    activation_from_config: str | None = None
    ignored: tuple[str, ...] = field(default=())


def _cls(layers: int, modules, activation=None, use_pooler=False, bias=True, head_type="classification", **extra):
    config = {"layers": layers, "activation_function": activation, "use_pooler": use_pooler, "bias": bias, **extra}
    return StaticHead(head_type, config, tuple(modules))


def _single(head_type: str, module: str, **config) -> StaticHead:
    return StaticHead(head_type, {"layers": 1, "activation_function": None, **config}, ((module, 1),))


def _lm(
    head_type: str,
    dense: str,
    norm: str,
    decoder: str,
    bias_param: str | None,
    activation_attr=None,
    activation="gelu",
) -> StaticHead:
    config = {"layers": 2, "activation_function": activation, "layer_norm": True, "bias": True}
    params = ((bias_param, "3.bias"),) if bias_param else ()
    return StaticHead(
        head_type, config, ((dense, 0), (norm, 2), (decoder, 3)), params, activation_from_config=activation_attr
    )


def _lm_head(head_type: str, module: str = "lm_head", ignored: tuple[str, ...] = (), bias: bool = False) -> StaticHead:
    config = {"layers": 1, "activation_function": None, "layer_norm": False, "bias": bias}
    return StaticHead(head_type, config, ((module, 0),), ignored=ignored)


def _bert_like(prefix: str, seq_cls: StaticHead, mc: StaticHead, mlm: StaticHead, clm_class: str | None) -> dict:
    entries = {
        f"{prefix}ForSequenceClassification": seq_cls,
        f"{prefix}ForMultipleChoice": mc,
        f"{prefix}ForTokenClassification": _single("tagging", "classifier"),
        f"{prefix}ForQuestionAnswering": _single("question_answering", "qa_outputs"),
        f"{prefix}ForMaskedLM": mlm,
    }
    if clm_class is not None:
        entries[clm_class] = StaticHead(
            "causal_lm",
            {**mlm.config, "shift_labels": True},
            mlm.modules,
            mlm.params,
            activation_from_config=mlm.activation_from_config,
        )
    return entries


_BERT_MLM = _lm(
    "masked_lm",
    "cls.predictions.transform.dense",
    "cls.predictions.transform.LayerNorm",
    "cls.predictions.decoder",
    "cls.predictions.bias",
    activation_attr="hidden_act",
)
_ROBERTA_MLM = _lm("masked_lm", "lm_head.dense", "lm_head.layer_norm", "lm_head.decoder", "lm_head.bias")
_ROBERTA_CLS = _cls(2, (("classifier.dense", 1), ("classifier.out_proj", 4)), activation="tanh")
_ROBERTA_MC = _cls(1, (("classifier", 1),), use_pooler=True, head_type="multiple_choice")
_ELECTRA_MLM = _lm(
    "masked_lm", "generator_predictions.dense", "generator_predictions.LayerNorm", "generator_lm_head", None
)
_DISTILBERT_CLS = (("pre_classifier", 1), ("classifier", 4))


def _albert() -> dict:
    mlm = _lm("masked_lm", "predictions.dense", "predictions.LayerNorm", "predictions.decoder", "predictions.bias",
              activation_attr="hidden_act")  # fmt: skip
    heads = _bert_like(
        "Albert",
        _cls(1, (("classifier", 1),), use_pooler=True),
        _cls(1, (("classifier", 1),), use_pooler=True, head_type="multiple_choice"),
        mlm,
        None,
    )
    return heads


def _deberta(prefix: str) -> dict:
    """DeBERTa(-v2): a pooler (dense + activation on the first token) before the classifier."""
    mlm = _lm("masked_lm", "cls.predictions.transform.dense", "cls.predictions.transform.LayerNorm",
              "cls.predictions.decoder", "cls.predictions.bias", activation_attr="hidden_act")  # fmt: skip
    pooled = (("pooler.dense", 1), ("classifier", 4))
    return _bert_like(
        prefix,
        _cls(2, pooled, activation="gelu"),
        _cls(2, pooled, activation="gelu", head_type="multiple_choice"),
        mlm,
        None,
    )


def _decoder_only(
    prefix: str, seq_cls_module: str, tagging_module: str, lm_class: str | None, qa_base: str | None, lm_bias=False
):
    entries = {
        f"{prefix}ForSequenceClassification": _single(
            "classification", seq_cls_module, bias=False, use_pooler=False, dropout_prob=0.0
        ),
        f"{prefix}ForTokenClassification": _single("tagging", tagging_module),
        f"{prefix}ForQuestionAnswering": StaticHead(
            "question_answering",
            {"layers": 1, "activation_function": None},
            (("qa_outputs", 1),),
            base_attribute=qa_base,
        ),
    }
    if lm_class is not None:
        entries[lm_class] = _lm_head("causal_lm", bias=lm_bias)
    return entries


def _seq2seq(prefix: str, ignored: tuple[str, ...] = ()) -> dict:
    return {
        f"{prefix}ForSequenceClassification": _cls(
            2, (("classification_head.dense", 1), ("classification_head.out_proj", 4)), activation="tanh"
        ),
        f"{prefix}ForQuestionAnswering": _single("question_answering", "qa_outputs"),
        f"{prefix}ForConditionalGeneration": _lm_head("seq2seq_lm", ignored=ignored),
    }


STATIC_HEADS: dict[str, StaticHead] = {
    **_bert_like(
        "Bert",
        _cls(1, (("classifier", 1),), use_pooler=True),
        _cls(1, (("classifier", 1),), use_pooler=True, head_type="multiple_choice"),
        _BERT_MLM,
        "BertLMHeadModel",
    ),
    **_bert_like("Roberta", _ROBERTA_CLS, _ROBERTA_MC, _ROBERTA_MLM, "RobertaForCausalLM"),
    **_bert_like("XLMRoberta", _ROBERTA_CLS, _ROBERTA_MC, _ROBERTA_MLM, "XLMRobertaForCausalLM"),
    **_bert_like(
        "Electra",
        _cls(2, (("classifier.dense", 1), ("classifier.out_proj", 4)), activation="gelu"),
        _cls(2, (("sequence_summary.summary", 1), ("classifier", 4)), activation="gelu", head_type="multiple_choice"),
        _ELECTRA_MLM,
        "ElectraForCausalLM",
    ),
    "DistilBertForSequenceClassification": _cls(2, _DISTILBERT_CLS, activation="relu"),
    "DistilBertForMultipleChoice": _cls(2, _DISTILBERT_CLS, activation="relu", head_type="multiple_choice"),
    "DistilBertForTokenClassification": _single("tagging", "classifier"),
    "DistilBertForQuestionAnswering": _single("question_answering", "qa_outputs"),
    "DistilBertForMaskedLM": _lm(
        "masked_lm", "vocab_transform", "vocab_layer_norm", "vocab_projector", None, activation_attr="activation"
    ),
    "GPT2ForSequenceClassification": _single("classification", "score", bias=False, use_pooler=False),
    "GPT2ForTokenClassification": _single("tagging", "classifier"),
    "GPT2ForQuestionAnswering": _single("question_answering", "qa_outputs"),
    "GPT2LMHeadModel": _lm_head("causal_lm"),
    **_decoder_only("Llama", "score", "score", "LlamaForCausalLM", "transformer"),
    **_decoder_only("Mistral", "score", "score", "MistralForCausalLM", "transformer"),
    **_decoder_only("Qwen2", "score", "score", "Qwen2ForCausalLM", "transformer"),
    **_seq2seq("T5"),
    **_seq2seq("Bart", ignored=("final_logits_bias",)),
    **_seq2seq("MBart", ignored=("final_logits_bias",)),
    # families added beyond the first thirteen
    **{
        name: head
        for prefix in ("Xmod", "Camembert", "Data2VecText", "RobertaPreLayerNorm", "XLMRobertaXL")
        for name, head in _bert_like(prefix, _ROBERTA_CLS, _ROBERTA_MC, _ROBERTA_MLM, f"{prefix}ForCausalLM").items()
    },
    **_bert_like(
        "MPNet",
        _ROBERTA_CLS,
        _cls(1, (("classifier", 1),), use_pooler=True, head_type="multiple_choice"),
        _ROBERTA_MLM,
        None,
    ),  # fmt: skip
    **_albert(),
    **_deberta("Deberta"),
    **_deberta("DebertaV2"),
    "BertGenerationDecoder": StaticHead(
        "causal_lm",
        {"layers": 1, "activation_function": None, "layer_norm": False, "bias": True, "shift_labels": True},
        (("lm_head.decoder", 0),),
        (("lm_head.bias", "0.bias"),),
    ),
    **_decoder_only("GPTJ", "score", "score", "GPTJForCausalLM", None, lm_bias=True),
    **_decoder_only("Qwen3", "score", "score", "Qwen3ForCausalLM", "transformer"),
    **_decoder_only("SmolLM3", "score", "score", "SmolLM3ForCausalLM", "transformer"),
    **_decoder_only("Qwen3Moe", "score", "score", "Qwen3MoeForCausalLM", "transformer"),
    **_decoder_only("Qwen2Moe", "score", "score", "Qwen2MoeForCausalLM", None),
    **_decoder_only("Mixtral", "score", "score", "MixtralForCausalLM", None),
    **_decoder_only("Phi", "score", "score", "PhiForCausalLM", None, lm_bias=True),
    **_decoder_only("Phi3", "score", "score", "Phi3ForCausalLM", None),
    **_decoder_only("Olmo2", "score", "score", "Olmo2ForCausalLM", None),
    # Gemma 2/3 soft-cap their logits and Granite scales them: a plain causal LM head would not compute the same
    # function, so their *ForCausalLM classes are not converted
    **_decoder_only("Gemma2", "score", "score", None, None),
    **_decoder_only("Gemma3Text", "score", "score", None, None),
    **_decoder_only("Granite", "score", "score", None, None),
    **_seq2seq("MT5"),
    **_seq2seq("PLBart", ignored=("final_logits_bias",)),
    "WhisperForConditionalGeneration": _lm_head("seq2seq_lm", module="proj_out"),
    "BeitForImageClassification": StaticHead(
        "image_classification", {"layers": 1, "activation_function": None, "use_pooler": True}, (("classifier", 1),)
    ),
    "ViTForImageClassification": StaticHead(
        "image_classification", {"layers": 1, "activation_function": None, "use_pooler": False}, (("classifier", 1),)
    ),
}


def static_head(class_name: str | None) -> StaticHead | None:
    return STATIC_HEADS.get(class_name) if class_name else None


def static_head_config(entry: StaticHead, model_config, label2id: dict | None, num_labels: int | None) -> dict:
    """The flexible head config for a static head, given its labels (from the file or the model config)."""
    config = {"head_type": entry.head_type, **entry.config}
    if entry.activation_from_config:
        config["activation_function"] = getattr(model_config, entry.activation_from_config, "gelu")
    if entry.head_type in ("masked_lm", "causal_lm", "seq2seq_lm"):
        return config
    if label2id:
        num_labels = len(label2id)
    num_labels = int(num_labels or 2)
    if entry.head_type == "multiple_choice":
        config["num_choices"] = num_labels
    else:
        config["num_labels"] = 2 if entry.head_type == "question_answering" else num_labels  # start and end
    config["label2id"] = dict(label2id) if label2id else {f"LABEL_{i}": i for i in range(num_labels)}
    return config


def _renames(entry: StaticHead, head_name: str) -> list[tuple[re.Pattern[str], str]]:
    renames = [(re.compile(rf"^{re.escape(p)}$"), f"heads.{head_name}.{suffix}") for p, suffix in entry.params]
    renames += [(re.compile(rf"^{re.escape(m)}\."), f"heads.{head_name}.{i}.") for m, i in entry.modules]
    return renames


def convert_static_keys(entry: StaticHead, head_name: str, state_dict: dict) -> dict:
    """Rename static head weights to ``heads.<head_name>.*``; keys of no head module are dropped."""
    out = {}
    for key, value in state_dict.items():
        for pattern, replacement in _renames(entry, head_name):
            if pattern.search(key):
                out[pattern.sub(replacement, key)] = value
                break
    return out


def key_mapping(entry: StaticHead, head_name: str, base_prefix: str) -> dict[str, str]:
    """Regex key mapping for ``from_pretrained`` (transformers' ``key_mapping`` argument)."""
    mapping = {rf"^{re.escape(p)}$": f"heads.{head_name}.{suffix}" for p, suffix in entry.params}
    mapping.update({rf"^{re.escape(m)}\.": f"heads.{head_name}.{i}." for m, i in entry.modules})
    if entry.base_attribute and entry.base_attribute != base_prefix:
        mapping[rf"^{re.escape(entry.base_attribute)}\."] = f"{base_prefix}."
    return mapping

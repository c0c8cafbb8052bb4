"""Per-family head facts, as data: the AdapterModel class name, allowed head types and how sequences are pooled.

Pooling for sequence-level heads: ``"first"`` takes the first token (or the pooler with ``use_pooler=True``),
``"last_token"`` the last non-padding token (decoders), ``"eos"`` the decoder state at the last ``<eos>`` token
(encoder-decoder models).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["HeadFamily", "HEAD_FAMILIES", "head_family", "GENERATING_HEAD_TYPES"]

_ENCODER_HEADS = (
    "classification", "multilabel_classification", "tagging", "multiple_choice", "question_answering",
    "dependency_parsing", "masked_lm", "causal_lm",
)  # fmt: skip
_DECODER_HEADS = ("classification", "multilabel_classification", "tagging", "question_answering", "causal_lm")
_SEQ2SEQ_HEADS = ("classification", "multilabel_classification", "question_answering", "seq2seq_lm")


@dataclass(frozen=True)
class HeadFamily:
    """Head facts for one ``model_type``.

    Attributes:
        class_prefix: prefix of the AdapterModel class name (``"Bert"`` → ``BertAdapterModel``).
        head_types: the head types its AdapterModel accepts.
        pooling: ``"first"``, ``"last_token"`` or ``"eos"``.
        generation: whether the AdapterModel class gets ``GenerationMixin``.
        decoder_start: how heads other than ``seq2seq_lm`` get decoder inputs when none are given (encoder-decoder
            models): ``"shift_inputs"`` (T5, mT5: the shifted ``input_ids``) or ``None`` (the model's default).
        labels_start: how ``seq2seq_lm`` labels become decoder inputs: ``"shift_right"`` (decoder start token
            first) or ``"language_id"`` (mBART: the last label token, its language id, first).
    """

    class_prefix: str
    head_types: tuple[str, ...]
    pooling: str = "first"
    generation: bool = False
    decoder_start: str | None = None
    labels_start: str = "shift_right"


# head types that generate text (an AdapterModel with one of them gets ``GenerationMixin``)
GENERATING_HEAD_TYPES = frozenset({"causal_lm", "seq2seq_lm"})

_ALBERT_HEADS = ("classification", "multilabel_classification", "tagging", "multiple_choice", "question_answering",
                 "masked_lm")  # fmt: skip
_IMAGE_HEADS = ("image_classification",)


def _encoder(prefix: str, heads: tuple[str, ...] = _ENCODER_HEADS, generation: bool = True) -> HeadFamily:
    return HeadFamily(prefix, heads, generation=generation)


def _decoder(prefix: str) -> HeadFamily:
    return HeadFamily(prefix, _DECODER_HEADS, pooling="last_token", generation=True)


def _seq2seq(prefix: str, heads: tuple[str, ...] = _SEQ2SEQ_HEADS, **extra) -> HeadFamily:
    return HeadFamily(prefix, heads, pooling="eos", generation=True, **extra)


HEAD_FAMILIES: dict[str, HeadFamily] = {
    # the reference's AdapterModel classes (same names and head types)
    "bert": _encoder("Bert"),
    "roberta": _encoder("Roberta"),
    "xlm-roberta": _encoder("XLMRoberta"),
    "electra": _encoder("Electra"),
    "xmod": _encoder("Xmod"),
    "bert-generation": _encoder("BertGeneration", ("masked_lm", "causal_lm")),
    "deberta": _encoder("Deberta", _ALBERT_HEADS, generation=False),
    "deberta-v2": _encoder("DebertaV2", _ALBERT_HEADS, generation=False),
    "albert": _encoder("Albert", _ALBERT_HEADS, generation=False),
    "distilbert": _encoder("DistilBert", generation=False),
    "gpt2": _decoder("GPT2"),
    "gptj": _decoder("GPTJ"),
    "llama": _decoder("Llama"),
    "mistral": _decoder("Mistral"),
    "t5": _seq2seq("T5", decoder_start="shift_inputs"),
    "mt5": _seq2seq("MT5", decoder_start="shift_inputs"),
    "bart": _seq2seq("Bart"),
    "plbart": _seq2seq("PLBart", labels_start="language_id"),
    "mbart": _seq2seq("MBart", labels_start="language_id"),
    "whisper": _seq2seq("Whisper", ("seq2seq_lm",)),
    "vit": HeadFamily("ViT", _IMAGE_HEADS),
    "beit": HeadFamily("Beit", _IMAGE_HEADS),
    "clip": HeadFamily("CLIP", ()),
    # the reference runs these through its plugin interface (no AdapterModel class there)
    "qwen2": _decoder("Qwen2"),
    "qwen3": _decoder("Qwen3"),
    "gemma2": _decoder("Gemma2"),
    "gemma3_text": _decoder("Gemma3Text"),
    "phi": _decoder("Phi"),
    "modernbert": _encoder("ModernBert", _ALBERT_HEADS, generation=False),
    # families the reference lacks
    "qwen3_moe": _decoder("Qwen3Moe"),
    "qwen2_moe": _decoder("Qwen2Moe"),
    "mixtral": _decoder("Mixtral"),
    "olmo2": _decoder("Olmo2"),
    "phi3": _decoder("Phi3"),
    "granite": _decoder("Granite"),
    "smollm3": _decoder("SmolLM3"),
    "camembert": _encoder("Camembert"),
    "data2vec-text": _encoder("Data2VecText"),
    "roberta-prelayernorm": _encoder("RobertaPreLayerNorm"),
    "xlm-roberta-xl": _encoder("XLMRobertaXL"),
    "mpnet": _encoder("MPNet", generation=False),
    "siglip": HeadFamily("Siglip", ()),
}


def head_family(model_type: str) -> HeadFamily | None:
    return HEAD_FAMILIES.get(model_type)

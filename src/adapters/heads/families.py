"""Per-family head facts, as data: the AdapterModel class name, allowed head types and how sequences are pooled.

Pooling for sequence-level heads: ``"first"`` takes the first token (or the pooler with ``use_pooler=True``),
``"last_token"`` the last non-padding token (decoders), ``"eos"`` the decoder state at the last ``<eos>`` token
(encoder-decoder models).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["HeadFamily", "HEAD_FAMILIES", "head_family"]

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
    """

    class_prefix: str
    head_types: tuple[str, ...]
    pooling: str = "first"
    generation: bool = False


HEAD_FAMILIES: dict[str, HeadFamily] = {
    "bert": HeadFamily("Bert", _ENCODER_HEADS, generation=True),
    "roberta": HeadFamily("Roberta", _ENCODER_HEADS, generation=True),
    "xlm-roberta": HeadFamily("XLMRoberta", _ENCODER_HEADS, generation=True),
    "electra": HeadFamily("Electra", _ENCODER_HEADS, generation=True),
    "distilbert": HeadFamily("DistilBert", _ENCODER_HEADS),
    "gpt2": HeadFamily("GPT2", _DECODER_HEADS, pooling="last_token", generation=True),
    "llama": HeadFamily("Llama", _DECODER_HEADS, pooling="last_token", generation=True),
    "mistral": HeadFamily("Mistral", _DECODER_HEADS, pooling="last_token", generation=True),
    "qwen2": HeadFamily("Qwen2", _DECODER_HEADS, pooling="last_token", generation=True),
    "t5": HeadFamily("T5", _SEQ2SEQ_HEADS, pooling="eos", generation=True),
    "bart": HeadFamily("Bart", _SEQ2SEQ_HEADS, pooling="eos", generation=True),
    "mbart": HeadFamily("MBart", _SEQ2SEQ_HEADS, pooling="eos", generation=True),
    "vit": HeadFamily("ViT", ("image_classification",)),
}


def head_family(model_type: str) -> HeadFamily | None:
    return HEAD_FAMILIES.get(model_type)

"""Prediction heads and the flexible-heads model API."""

from __future__ import annotations

from .base import MultiHeadOutput, PredictionHead
from .classification import (
    ClassificationHead,
    ImageClassificationHead,
    MultiLabelClassificationHead,
    MultipleChoiceHead,
    QuestionAnsweringHead,
    TaggingHead,
)
from .dependency_parsing import BiaffineParsingHead, DependencyParsingOutput
from .language_modeling import BertStyleMaskedLMHead, CausalLMHead, Seq2SeqLMHead
from .model_mixin import MODEL_HEAD_MAP, ModelWithFlexibleHeadsAdaptersMixin
from .routed import RoutedOutput

__all__ = [
    "PredictionHead",
    "MultiHeadOutput",
    "RoutedOutput",
    "ClassificationHead",
    "MultiLabelClassificationHead",
    "ImageClassificationHead",
    "MultipleChoiceHead",
    "TaggingHead",
    "QuestionAnsweringHead",
    "BiaffineParsingHead",
    "DependencyParsingOutput",
    "BertStyleMaskedLMHead",
    "CausalLMHead",
    "Seq2SeqLMHead",
    "MODEL_HEAD_MAP",
    "ModelWithFlexibleHeadsAdaptersMixin",
]

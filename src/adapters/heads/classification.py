"""Sequence-, token- and image-level heads: classification, multi-label, multiple choice, tagging, QA."""

from __future__ import annotations

import torch
from torch import nn
from transformers.modeling_outputs import (
    ImageClassifierOutput,
    MultipleChoiceModelOutput,
    QuestionAnsweringModelOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
)

from .base import PredictionHead, label_maps

__all__ = [
    "ClassificationHead",
    "MultiLabelClassificationHead",
    "MultipleChoiceHead",
    "TaggingHead",
    "QuestionAnsweringHead",
    "ImageClassificationHead",
]


def _finish(output, return_dict: bool):
    return output if return_dict is not False else output.to_tuple()


def _extras(outputs) -> dict:
    return {
        "hidden_states": getattr(outputs, "hidden_states", None),
        "attentions": getattr(outputs, "attentions", None),
    }


def _pooled(outputs, cls_output, use_pooler: bool) -> torch.Tensor:
    if cls_output is not None:
        return cls_output
    if use_pooler and getattr(outputs, "pooler_output", None) is not None:
        return outputs.pooler_output
    return outputs[0][:, 0]


class ClassificationHead(PredictionHead):
    """Sequence classification; MSE loss when ``num_labels == 1`` (regression), else cross-entropy."""

    head_type = "classification"

    def __init__(
        self,
        model,
        head_name: str,
        num_labels: int = 2,
        layers: int = 2,
        activation_function: str | None = "tanh",
        id2label: dict | None = None,
        use_pooler: bool = False,
        bias: bool = True,
        dropout_prob: float | None = None,
        label2id: dict | None = None,
        **unused,
    ):
        super().__init__(head_name)
        self.config = {
            "head_type": self.head_type,
            "num_labels": num_labels,
            "layers": layers,
            "activation_function": activation_function,
            "label2id": label2id if label2id is not None else label_maps(num_labels, id2label),
            "use_pooler": use_pooler,
            "bias": bias,
            "dropout_prob": dropout_prob,
        }
        self.build(model)

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.config["num_labels"] == 1:
            return nn.functional.mse_loss(logits.view(-1), labels.view(-1).to(logits.dtype))
        return nn.functional.cross_entropy(logits.view(-1, self.config["num_labels"]), labels.view(-1))

    def forward(self, outputs, cls_output=None, attention_mask=None, return_dict=True, **kwargs):
        logits = self.run_layers(_pooled(outputs, cls_output, self.config["use_pooler"]))
        labels = kwargs.get("labels")
        loss = self.loss(logits, labels) if labels is not None else None
        return _finish(SequenceClassifierOutput(loss=loss, logits=logits, **_extras(outputs)), return_dict)


class MultiLabelClassificationHead(ClassificationHead):
    """Multi-label sequence classification with a binary cross-entropy loss per label."""

    head_type = "multilabel_classification"

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return nn.functional.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))


class ImageClassificationHead(ClassificationHead):
    """Image classification on the first token (or the pooler); regression, multi-label or single-label loss."""

    head_type = "image_classification"

    def __init__(
        self,
        model,
        head_name: str,
        num_labels: int = 2,
        layers: int = 1,
        activation_function="tanh",
        multilabel: bool = False,
        id2label=None,
        use_pooler: bool = False,
        bias: bool = True,
        dropout_prob=None,
        label2id=None,
        **unused,
    ):
        super().__init__(
            model,
            head_name,
            num_labels=num_labels,
            layers=layers,
            activation_function=activation_function,
            id2label=id2label,
            use_pooler=use_pooler,
            bias=bias,
            dropout_prob=dropout_prob,
            label2id=label2id,
        )
        self.config["multilabel"] = multilabel

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.config["multilabel"]:
            return nn.functional.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))
        return super().loss(logits, labels)

    def forward(self, outputs, cls_output=None, attention_mask=None, return_dict=True, **kwargs):
        result = super().forward(outputs, cls_output, attention_mask, return_dict=True, **kwargs)
        output = ImageClassifierOutput(loss=result.loss, logits=result.logits, **_extras(outputs))
        return _finish(output, return_dict)


class MultipleChoiceHead(PredictionHead):
    """Multiple choice: one score per choice from the pooled representation, softmax over ``num_choices``."""

    head_type = "multiple_choice"

    def __init__(
        self,
        model,
        head_name: str,
        num_choices: int = 2,
        layers: int = 2,
        activation_function="tanh",
        id2label=None,
        use_pooler: bool = False,
        bias: bool = True,
        dropout_prob=None,
        label2id=None,
        **unused,
    ):
        super().__init__(head_name)
        self.config = {
            "head_type": self.head_type,
            "num_choices": num_choices,
            "layers": layers,
            "activation_function": activation_function,
            "label2id": label2id if label2id is not None else label_maps(num_choices, id2label),
            "use_pooler": use_pooler,
            "bias": bias,
            "dropout_prob": dropout_prob,
        }
        self.build(model)

    def forward(self, outputs, cls_output=None, attention_mask=None, return_dict=True, **kwargs):
        logits = self.run_layers(_pooled(outputs, cls_output, self.config["use_pooler"]))
        logits = logits.view(-1, self.config["num_choices"])
        labels = kwargs.get("labels")
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return _finish(MultipleChoiceModelOutput(loss=loss, logits=logits, **_extras(outputs)), return_dict)


class TaggingHead(PredictionHead):
    """Token classification; the loss ignores positions masked out by ``attention_mask``."""

    head_type = "tagging"

    def __init__(
        self,
        model,
        head_name: str,
        num_labels: int = 2,
        layers: int = 1,
        activation_function="tanh",
        id2label=None,
        bias: bool = True,
        dropout_prob=None,
        label2id=None,
        **unused,
    ):
        super().__init__(head_name)
        self.config = {
            "head_type": self.head_type,
            "num_labels": num_labels,
            "layers": layers,
            "activation_function": activation_function,
            "label2id": label2id if label2id is not None else label_maps(num_labels, id2label),
            "bias": bias,
            "dropout_prob": dropout_prob,
        }
        self.build(model)

    def forward(self, outputs, cls_output=None, attention_mask=None, return_dict=True, **kwargs):
        logits = self.run_layers(outputs[0])
        labels, loss = kwargs.get("labels"), None
        if labels is not None:
            flat_labels = labels.view(-1)
            if attention_mask is not None:
                flat_labels = torch.where(
                    attention_mask.view(-1) == 1, flat_labels, torch.full_like(flat_labels, -100)
                )
            loss = nn.functional.cross_entropy(logits.view(-1, self.config["num_labels"]), flat_labels)
        return _finish(TokenClassifierOutput(loss=loss, logits=logits, **_extras(outputs)), return_dict)


class QuestionAnsweringHead(TaggingHead):
    """Extractive QA: start and end logits per token; loss is the mean of both cross-entropies."""

    head_type = "question_answering"

    def get_label_names(self) -> list[str]:
        return ["start_positions", "end_positions"]

    def forward(self, outputs, cls_output=None, attention_mask=None, return_dict=True, **kwargs):
        logits = self.run_layers(outputs[0])
        start_logits, end_logits = (t.squeeze(-1).contiguous() for t in logits.split(1, dim=-1)[:2])
        start, end, loss = kwargs.get("start_positions"), kwargs.get("end_positions"), None
        if start is not None and end is not None:
            ignored = start_logits.size(1)
            start, end = start.view(-1).clamp(0, ignored), end.view(-1).clamp(0, ignored)
            loss = (
                nn.functional.cross_entropy(start_logits, start, ignore_index=ignored)
                + nn.functional.cross_entropy(end_logits, end, ignore_index=ignored)
            ) / 2
        output = QuestionAnsweringModelOutput(
            loss=loss, start_logits=start_logits, end_logits=end_logits, **_extras(outputs)
        )
        return _finish(output, return_dict)

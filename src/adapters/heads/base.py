"""Prediction heads: named, configurable task layers on top of a model (``model.heads[name]``).

A head is an ``nn.Sequential`` with a ``config`` dict (saved as ``head_config.json`` and in ``config.json``'s
``prediction_heads``) and a ``name``. Its module indices follow the reference, so head weights keep the keys
``heads.<name>.<index>.<param>``: the generic stack for ``layers=2`` is ``Dropout, Linear, activation, Dropout,
Linear`` (indices 0-4).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from transformers.utils import ModelOutput

from ..methods._common import activation

__all__ = ["PredictionHead", "MultiHeadOutput", "dropout_probability", "label_maps", "hidden_size", "embedding_size"]


def hidden_size(config) -> int:
    return int(config.hidden_size)


def embedding_size(config) -> int:
    return int(getattr(config, "embedding_size", None) or config.hidden_size)


def dropout_probability(head_config: dict[str, Any], model_config) -> float:
    """``dropout_prob`` of the head, else the model's ``classifier_dropout``, else ``hidden_dropout_prob``, else 0."""
    for value in (
        head_config.get("dropout_prob"),
        getattr(model_config, "classifier_dropout", None),
        getattr(model_config, "hidden_dropout_prob", None),
    ):
        if value is not None:
            return float(value)
    return 0.0


def label_maps(num_labels: int | None, id2label: dict | None) -> dict[str, int] | None:
    """The ``label2id`` stored with a head: inverted ``id2label``, or ``LABEL_i`` names."""
    if id2label:
        return {str(label): int(index) for index, label in id2label.items()}
    if num_labels is None:
        return None
    return {f"LABEL_{i}": i for i in range(num_labels)}


class PredictionHead(nn.Sequential):
    """Base class of all heads (also of custom heads registered with ``register_custom_head``).

    Subclasses set ``self.config`` (a JSON-serialisable dict with at least ``head_type``) and implement
    ``forward(outputs, cls_output=None, attention_mask=None, return_dict=False, **kwargs)``.
    """

    def __init__(self, name: str):
        super().__init__()
        self.config: dict[str, Any] = {}
        self.name = name

    def build(self, model) -> None:
        """Create the generic Dropout/Linear/activation stack from ``self.config`` and initialise it like the model."""
        config = model.config
        layers = int(self.config["layers"])
        dropout = dropout_probability(self.config, config)
        width = hidden_size(config)
        modules: list[nn.Module] = []
        for index in range(layers):
            modules.append(nn.Dropout(dropout))
            if index < layers - 1:
                modules.append(nn.Linear(width, width))
                if self.config.get("activation_function"):
                    modules.append(activation(self.config["activation_function"]))
            else:
                modules.append(nn.Linear(width, self._output_size(width), bias=self.config.get("bias", True)))
        for index, module in enumerate(modules):
            self.add_module(str(index), module)
        self.initialize(model)

    def _output_size(self, width: int) -> int:
        if "num_labels" in self.config:
            return int(self.config["num_labels"])
        if "num_choices" in self.config:
            return 1
        return width

    def initialize(self, model) -> None:
        """Initialise with the model's own ``_init_weights`` and adopt its device, dtype and train mode."""
        param = next(model.parameters(), None)
        if param is not None:
            self.to(device=param.device, dtype=param.dtype)
        with torch.no_grad():
            for module in self.modules():
                for p in module.parameters(recurse=False):
                    if hasattr(p, "_is_hf_initialized"):
                        del p._is_hf_initialized
                model._init_weights(module)
        self.train(model.training)

    def run_layers(self, x: torch.Tensor) -> torch.Tensor:
        for module in self:
            x = module(x)
        return x

    def get_output_embeddings(self) -> nn.Module | None:
        return None

    def get_label_names(self) -> list[str]:
        return ["labels"]

    def forward(self, *args, **kwargs):
        """The reference's default: run the head's layers in order on one input, as ``nn.Sequential`` does.

        Custom heads implement ``forward(outputs, cls_output=None, attention_mask=None, return_dict=False,
        **kwargs)`` and typically call ``super().forward(cls_output)`` (or ``super().forward(outputs[0])``) for
        the layers built by :meth:`build`.
        """
        if len(args) != 1 or kwargs:
            raise TypeError(
                f"{type(self).__name__}.forward is PredictionHead's default, which runs the head's layers on one "
                "tensor (super().forward(x)); a head called by the model must implement forward(outputs, "
                "cls_output=None, attention_mask=None, return_dict=False, **kwargs)."
            )
        return self.run_layers(args[0])


@dataclass
class MultiHeadOutput(ModelOutput):
    """Outputs of several heads (Parallel / BatchSplit setups); ``loss`` is the sum of the heads' losses."""

    head_outputs: list[ModelOutput] | None = None
    loss: torch.Tensor | None = None
    past_key_values: Any = None

    @property
    def logits(self) -> torch.Tensor:
        return torch.vstack([output["logits"] for output in self.head_outputs])

    def __getitem__(self, k):
        if isinstance(k, int):
            return self.head_outputs[k]
        return super().__getitem__(k)

    def __len__(self) -> int:
        return len(self.head_outputs)

    def __iter__(self) -> Iterator:
        return iter(self.head_outputs)

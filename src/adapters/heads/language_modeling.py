"""Language-model heads: masked LM (BERT-style), causal LM and sequence-to-sequence LM.

The stack is ``layers - 1`` × (Linear, activation, LayerNorm) followed by the output embedding
``Linear(embedding_size, vocab_size)``, which is tied to the input embedding when the model config ties them. An
active invertible adapter is inverted right before the output embedding.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers.modeling_outputs import CausalLMOutputWithPast, MaskedLMOutput, Seq2SeqLMOutput

from ..methods._common import activation
from .base import PredictionHead, embedding_size, hidden_size

__all__ = ["BertStyleMaskedLMHead", "CausalLMHead", "Seq2SeqLMHead", "lm_head_is_tied"]


def lm_head_is_tied(text_config) -> bool:
    """Whether an LM head's output embedding is the input embedding for this config.

    transformers 5 forces ``tie_word_embeddings=True`` on T5-style configs and keeps a saved
    ``tie_word_embeddings=False`` (T5 v1.1, FLAN-T5, mT5: separate ``lm_head``) as ``scale_decoder_outputs=False``,
    so that flag counts as untied too.
    """
    if getattr(text_config, "scale_decoder_outputs", True) is False:
        return False
    return bool(getattr(text_config, "tie_word_embeddings", False))


def _layer_norm_eps(config) -> float:
    for name in ("layer_norm_eps", "layer_norm_epsilon", "rms_norm_eps"):
        if getattr(config, name, None) is not None:
            return float(getattr(config, name))
    return 1e-12


def _vocab_size(config) -> int:
    return int(config.get_text_config().vocab_size)


class _LanguageModelingHead(PredictionHead):
    head_type = ""
    output_class: type = MaskedLMOutput

    def __init__(
        self,
        model,
        head_name: str,
        vocab_size: int | None = None,
        embedding_size: int | None = None,
        layers: int = 1,
        activation_function: str | None = None,
        layer_norm: bool = False,
        bias: bool = False,
        shift_labels: bool = False,
        label2id=None,
        **unused,
    ):
        super().__init__(head_name)
        self.config = {
            "head_type": self.head_type,
            "vocab_size": vocab_size or _vocab_size(model.config),
            "embedding_size": embedding_size or _embedding_size(model.config),
            "layers": layers,
            "activation_function": activation_function,
            "layer_norm": layer_norm,
            "bias": bias,
            "shift_labels": shift_labels,
            "label2id": None,
        }
        self.build(model)

    def build(self, model) -> None:
        config, layers = model.config, int(self.config["layers"])
        width, emb = hidden_size(config), int(self.config["embedding_size"])
        modules: list[nn.Module] = []
        for index in range(layers - 1):
            modules.append(nn.Linear(width if index == 0 else emb, emb))
            if self.config["activation_function"]:
                modules.append(activation(self.config["activation_function"]))
            if self.config["layer_norm"]:
                modules.append(nn.LayerNorm(emb, eps=_layer_norm_eps(config)))
        in_features = emb if layers > 1 else width
        modules.append(nn.Linear(in_features, int(self.config["vocab_size"]), bias=self.config["bias"]))
        for index, module in enumerate(modules):
            self.add_module(str(index), module)
        self.initialize(model)

    def get_output_embeddings(self) -> nn.Module:
        return self[len(self) - 1]

    def logits(self, hidden: torch.Tensor, invertible_adapter=None) -> torch.Tensor:
        for index in range(len(self) - 1):
            hidden = self[index](hidden)
        if invertible_adapter is not None:
            hidden = invertible_adapter(hidden, rev=True)
        return self[len(self) - 1](hidden)

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.config["shift_labels"]:
            logits, labels = logits[..., :-1, :], labels[..., 1:]
        return nn.functional.cross_entropy(
            logits.reshape(-1, logits.size(-1)).float(), labels.reshape(-1).to(logits.device), ignore_index=-100
        )

    def forward(self, outputs, cls_output=None, attention_mask=None, return_dict=True, **kwargs):
        logits = self.logits(outputs[0], kwargs.get("invertible_adapter"))
        labels = kwargs.get("labels")
        loss = self.loss(logits, labels) if labels is not None else None
        output = self.build_output(outputs, loss, logits)
        return output if return_dict is not False else output.to_tuple()

    def build_output(self, outputs, loss, logits):
        return MaskedLMOutput(
            loss=loss,
            logits=logits,
            hidden_states=getattr(outputs, "hidden_states", None),
            attentions=getattr(outputs, "attentions", None),
        )


def _embedding_size(config) -> int:
    return embedding_size(config)


class BertStyleMaskedLMHead(_LanguageModelingHead):
    """Masked language modelling (BERT-style transform + tied decoder)."""

    head_type = "masked_lm"

    def __init__(
        self,
        model,
        head_name: str,
        vocab_size=None,
        embedding_size=None,
        layers: int = 2,
        activation_function: str | None = "gelu",
        layer_norm: bool = True,
        bias: bool = True,
        shift_labels: bool = False,
        **kwargs,
    ):
        super().__init__(
            model,
            head_name,
            vocab_size,
            embedding_size,
            layers,
            activation_function,
            layer_norm,
            bias,
            shift_labels,
            **kwargs,
        )


class CausalLMHead(_LanguageModelingHead):
    """Causal (next-token) language modelling; labels are shifted by one position."""

    head_type = "causal_lm"

    def __init__(
        self,
        model,
        head_name: str,
        vocab_size=None,
        embedding_size=None,
        layers: int = 1,
        activation_function: str | None = None,
        layer_norm: bool = False,
        bias: bool = False,
        shift_labels: bool = True,
        **kwargs,
    ):
        super().__init__(
            model,
            head_name,
            vocab_size,
            embedding_size,
            layers,
            activation_function,
            layer_norm,
            bias,
            shift_labels,
            **kwargs,
        )

    def build_output(self, outputs, loss, logits):
        return CausalLMOutputWithPast(
            loss=loss,
            logits=logits,
            past_key_values=getattr(outputs, "past_key_values", None),
            hidden_states=getattr(outputs, "hidden_states", None),
            attentions=getattr(outputs, "attentions", None),
        )


class Seq2SeqLMHead(_LanguageModelingHead):
    """Sequence-to-sequence language modelling on the decoder output."""

    head_type = "seq2seq_lm"

    def __init__(
        self,
        model,
        head_name: str,
        vocab_size=None,
        embedding_size=None,
        layers: int = 1,
        activation_function: str | None = None,
        layer_norm: bool = False,
        bias: bool = False,
        shift_labels: bool = False,
        **kwargs,
    ):
        super().__init__(
            model,
            head_name,
            vocab_size,
            embedding_size,
            layers,
            activation_function,
            layer_norm,
            bias,
            shift_labels,
            **kwargs,
        )

    def build_output(self, outputs, loss, logits):
        def get(name):
            return getattr(outputs, name, None)

        return Seq2SeqLMOutput(
            loss=loss,
            logits=logits,
            past_key_values=get("past_key_values"),
            decoder_hidden_states=get("decoder_hidden_states"),
            decoder_attentions=get("decoder_attentions"),
            cross_attentions=get("cross_attentions"),
            encoder_last_hidden_state=get("encoder_last_hidden_state"),
            encoder_hidden_states=get("encoder_hidden_states"),
            encoder_attentions=get("encoder_attentions"),
        )

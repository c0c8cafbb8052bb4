"""Biaffine dependency parsing head (Dozat & Manning, 2017, https://arxiv.org/abs/1611.01734).

Sub-word outputs are averaged into word vectors (``word_starts`` gives each word's first sub-word index); the CLS
vector stands for the root. Arc scores ``s_arc[b, i, j] = [x_i; 1]ᵀ W_arc y_j`` score word ``j`` (0 = root) as the
head of word ``i``; relation scores use a per-label biaffine form with bias on both sides.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers.utils import ModelOutput

from .base import PredictionHead, label_maps

__all__ = ["Biaffine", "BiaffineParsingHead", "DependencyParsingOutput"]


@dataclass
class DependencyParsingOutput(ModelOutput):
    loss: torch.Tensor | None = None
    rel_preds: torch.Tensor | None = None
    arc_preds: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


class Biaffine(nn.Module):
    """``s[b, o, i, j] = [x_i; 1?]ᵀ W_o [y_j; 1?]``; the output dim is squeezed when ``n_out == 1``."""

    def __init__(self, n_in: int, n_out: int = 1, bias_x: bool = True, bias_y: bool = True):
        super().__init__()
        self.n_out, self.bias_x, self.bias_y = n_out, bias_x, bias_y
        self.weight = nn.Parameter(torch.zeros(n_out, n_in + bias_x, n_in + bias_y))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.bias_x:
            x = torch.cat((x, torch.ones_like(x[..., :1])), dim=-1)
        if self.bias_y:
            y = torch.cat((y, torch.ones_like(y[..., :1])), dim=-1)
        scores = torch.einsum("bxi,oij,byj->boxy", x, self.weight, y)
        return scores.squeeze(1) if self.n_out == 1 else scores


class BiaffineParsingHead(PredictionHead):
    """Dependency parsing: arcs and relation labels; inputs ``word_starts``, ``labels_arcs``, ``labels_rels``."""

    head_type = "dependency_parsing"

    def __init__(self, model, head_name: str, num_labels: int = 2, id2label=None, label2id=None, **unused):
        super().__init__(head_name)
        self.config = {
            "head_type": self.head_type,
            "num_labels": num_labels,
            "label2id": label2id if label2id is not None else label_maps(num_labels, id2label),
        }
        hidden = int(model.config.hidden_size)
        self.biaffine_arcs = Biaffine(hidden, bias_x=True, bias_y=False)
        self.biaffine_rels = Biaffine(hidden, n_out=num_labels, bias_x=True, bias_y=True)
        self.dropout = nn.Dropout(float(getattr(model.config, "hidden_dropout_prob", 0.0) or 0.0))
        self.pad_id = getattr(model.config, "pad_token_id", None)
        self.pad_id = 0 if self.pad_id is None else int(self.pad_id)
        param = next(model.parameters(), None)
        if param is not None:
            self.to(device=param.device, dtype=param.dtype)
        self.train(model.training)

    def get_label_names(self) -> list[str]:
        return ["labels_arcs", "labels_rels"]

    def _word_vectors(self, subwords: torch.Tensor, word_starts: torch.Tensor) -> torch.Tensor:
        batch, length, hidden = subwords.shape
        words = subwords.new_zeros(batch, length, hidden)
        for row in range(batch):
            starts = word_starts[row][word_starts[row] != self.pad_id]
            for index in range(len(starts) - 1):
                if starts[index + 1] <= 0:
                    break
                words[row, index] = subwords[row, starts[index] : starts[index + 1]].mean(0)
        return words

    def forward(
        self,
        outputs,
        cls_output=None,
        attention_mask=None,
        return_dict=True,
        word_starts=None,
        labels_arcs=None,
        labels_rels=None,
        **kwargs,
    ):
        hidden = self.dropout(outputs[0])
        dependents = self._word_vectors(hidden, word_starts)
        heads = torch.cat((outputs[0][:, :1], dependents), dim=1)
        arc_preds = self.biaffine_arcs(dependents, heads)
        rel_preds = self.biaffine_rels(dependents, heads).permute(0, 2, 3, 1)
        loss = None
        if labels_arcs is not None and labels_rels is not None:
            mask = labels_arcs.ne(self.pad_id)
            arcs, rels = labels_arcs[mask], labels_rels[mask]
            loss = nn.functional.cross_entropy(arc_preds[mask], arcs)
            rel_scores = rel_preds[mask][torch.arange(len(arcs), device=arcs.device), arcs]
            loss = loss + nn.functional.cross_entropy(rel_scores, rels)
        output = DependencyParsingOutput(
            loss=loss,
            rel_preds=rel_preds,
            arc_preds=arc_preds,
            hidden_states=getattr(outputs, "hidden_states", None),
            attentions=getattr(outputs, "attentions", None),
        )
        return output if return_dict is not False else output.to_tuple()

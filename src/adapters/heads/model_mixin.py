"""``ModelWithFlexibleHeadsAdaptersMixin``: named prediction heads on AdapterModel classes.

Heads live in ``model.heads`` (an ``nn.ModuleDict``) and their configs in ``model.config.prediction_heads``.
Head selection for a forward pass, in order of priority: the ``head=`` argument, the ``head_setup`` of an enclosing
``AdapterSetup`` (or the heads derived from its adapter setup), then ``model.active_head``.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..averaging import input_weights
from ..composition import AdapterCompositionBlock, BatchSplit, Parallel, Stack
from ..errors import (
    AdapterExistsError,
    AdapterNameError,
    AdapterNotFoundError,
    CompositionError,
    UnsupportedMethodError,
)
from ..io.atomic import atomic_save
from ..methods.bottleneck import invertible_transform
from .base import MultiHeadOutput, PredictionHead
from .classification import (
    ClassificationHead,
    ImageClassificationHead,
    MultiLabelClassificationHead,
    MultipleChoiceHead,
    QuestionAnsweringHead,
    TaggingHead,
)
from .dependency_parsing import BiaffineParsingHead
from .families import GENERATING_HEAD_TYPES
from .files import load_adapter_and_head, load_flex_head, save_flex_head
from .language_modeling import BertStyleMaskedLMHead, CausalLMHead, Seq2SeqLMHead, lm_head_is_tied
from .with_heads import ModelWithHeadsAdaptersMixin

__all__ = ["ModelWithFlexibleHeadsAdaptersMixin", "MODEL_HEAD_MAP"]


def _check_head_name(name: Any) -> None:
    """Head names become state-dict key segments (``heads.<name>.``) and folder names (``save_all_heads``); ``,``
    is allowed (a fusion's head is named after the fusion, ``"a,b"``)."""
    bad = [c for c in (".", "/") if isinstance(name, str) and c in name]
    if not isinstance(name, str) or not name or bad or name != name.strip():
        found = f" (it contains {', '.join(map(repr, bad))})" if bad else ""
        raise AdapterNameError(
            f"Invalid head name {name!r}{found}: head names must be non-empty strings without surrounding spaces "
            "and without '.' or '/' (they become parts of state-dict keys and folder paths)."
        )


MODEL_HEAD_MAP: dict[str, type[PredictionHead]] = {
    "classification": ClassificationHead,
    "multilabel_classification": MultiLabelClassificationHead,
    "tagging": TaggingHead,
    "multiple_choice": MultipleChoiceHead,
    "question_answering": QuestionAnsweringHead,
    "dependency_parsing": BiaffineParsingHead,
    "masked_lm": BertStyleMaskedLMHead,
    "causal_lm": CausalLMHead,
    "seq2seq_lm": Seq2SeqLMHead,
    "image_classification": ImageClassificationHead,
}


def heads_from_setup(setup: AdapterCompositionBlock | None, heads) -> str | list[str] | None:
    """The head(s) an adapter setup implies: the last element of a top-level Stack, if a head has that name."""
    if isinstance(setup, Stack):
        setup = setup[-1]
    if isinstance(setup, str):
        return setup if setup in heads else None
    if isinstance(setup, (Parallel, BatchSplit)):
        names = [child if isinstance(child, str) else child.last() for child in setup]
        if not all(n in heads for n in names):
            return None
        return names if isinstance(setup, Parallel) else BatchSplit(*names, batch_sizes=setup.batch_sizes)
    return None


def _slice_output(outputs, part: slice | None):
    """``outputs`` restricted to the rows ``part`` (tensors and tuples of tensors; caches are kept whole)."""
    if part is None:
        return outputs
    sliced = {}
    for key, value in outputs.items():
        if isinstance(value, torch.Tensor):
            sliced[key] = value[part]
        elif isinstance(value, tuple) and all(isinstance(v, torch.Tensor) for v in value):
            sliced[key] = tuple(v[part] for v in value)
        else:
            sliced[key] = value
    return type(outputs)(**sliced)


class ModelWithFlexibleHeadsAdaptersMixin(ModelWithHeadsAdaptersMixin):
    """Flexible, named prediction heads (mixed into the generated ``<Arch>AdapterModel`` classes)."""

    head_types: tuple[str, ...] = ()
    # the heads align token-level inputs (labels, masks, positions) with a soft prompt themselves
    aligns_prompt_inputs = True
    # heads average their loss over the batch (they take no num_items_in_batch): transformers' Trainer must scale the
    # loss for gradient accumulation itself and must not multiply it by the number of processes
    accepts_loss_kwargs = False

    def _init_heads(self) -> None:
        self.heads = nn.ModuleDict()
        self._active_heads: list[str] = []
        self._active_head_split: BatchSplit | None = None
        self._custom_head_types: dict[str, type[PredictionHead]] = {}
        self._tied_weights_keys = dict(getattr(type(self), "_tied_weights_keys", None) or {})
        saved = getattr(self.config, "prediction_heads", None) or {}
        self.config.prediction_heads = {}
        for name, head_config in saved.items():
            self.add_prediction_head_from_config(name, head_config, overwrite_ok=True, set_active=True)

    # adding --------------------------------------------------------------------------------------------------------
    def _check_head_type(self, head_type: str) -> None:
        if head_type not in self.head_types and head_type not in self._custom_head_types:
            allowed = ", ".join([*self.head_types, *self._custom_head_types]) or "none"
            raise UnsupportedMethodError(
                f"{type(self).__name__} does not support {head_type!r} heads; supported head types: {allowed}."
            )

    def add_prediction_head(self, head: PredictionHead, overwrite_ok: bool = False, set_active: bool = True) -> None:
        """Add a built head. A new head becomes the active head unless ``set_active=False``."""
        _check_head_name(head.name)
        self._check_head_type(head.config["head_type"])
        if head.name in self.heads:
            if not overwrite_ok:
                raise AdapterExistsError(
                    f"A head named {head.name!r} already exists; pass overwrite_ok=True to replace it."
                )
            self.delete_head(head.name)
        self.heads[head.name] = head
        self.config.prediction_heads[head.name] = dict(head.config)
        self._tie_head(head)
        self._ensure_generation_config(head)
        if set_active:
            self.active_head = head.name

    def add_prediction_head_from_config(
        self, head_name: str, config: dict[str, Any], overwrite_ok: bool = False, set_active: bool = True
    ) -> None:
        """Build and add a head from its saved config dict (``head_type`` selects the class)."""
        config = dict(config)
        head_type = config.pop("head_type", None)
        head_class = self._custom_head_types.get(head_type) or MODEL_HEAD_MAP.get(head_type)
        if head_class is None:
            raise UnsupportedMethodError(
                f"Head {head_name!r} has type {head_type!r}, which is not a built-in head type. If it is a custom "
                f"head, register it first: model.register_custom_head({head_type!r}, YourHeadClass)."
            )
        self._check_head_type(head_type)
        head = head_class(self, head_name, **config)
        head.config["head_type"] = head_type
        self.add_prediction_head(head, overwrite_ok=overwrite_ok, set_active=set_active)

    def register_custom_head(self, identifier: str, head: type[PredictionHead]) -> None:
        """Make a custom head class available as head type ``identifier`` on this model."""
        if not (isinstance(head, type) and issubclass(head, PredictionHead)):
            raise UnsupportedMethodError(f"Custom heads must subclass adapters.PredictionHead, got {head!r}.")
        self._custom_head_types[identifier] = head

    def add_custom_head(
        self, head_type: str, head_name: str, overwrite_ok: bool = False, set_active: bool = True, **kwargs
    ) -> None:
        """Add a head of a registered custom type; ``kwargs`` go to the head class."""
        if head_type not in self._custom_head_types:
            raise UnsupportedMethodError(
                f"Custom head type {head_type!r} is not registered; call model.register_custom_head({head_type!r}, "
                "YourHeadClass) first."
            )
        head = self._custom_head_types[head_type](self, head_name, **kwargs)
        head.config.setdefault("head_type", head_type)
        head.config["head_type"] = head_type
        self.add_prediction_head(head, overwrite_ok=overwrite_ok, set_active=set_active)

    # the reference's add_*_head methods ----------------------------------------------------------------------------
    def add_classification_head(
        self,
        head_name: str,
        num_labels: int = 2,
        layers: int = 2,
        activation_function: str = "tanh",
        overwrite_ok: bool = False,
        multilabel: bool = False,
        id2label: dict | None = None,
        use_pooler: bool = False,
    ):
        """A sequence classification head (regression when ``num_labels == 1``, multi-label with ``multilabel``)."""
        head_class = MultiLabelClassificationHead if multilabel else ClassificationHead
        self._check_head_type(head_class.head_type)
        head = head_class(
            self,
            head_name,
            num_labels=num_labels,
            layers=layers,
            activation_function=activation_function,
            id2label=id2label,
            use_pooler=use_pooler,
        )
        self.add_prediction_head(head, overwrite_ok)

    def add_image_classification_head(
        self,
        head_name: str,
        num_labels: int = 2,
        layers: int = 1,
        activation_function: str = "tanh",
        overwrite_ok: bool = False,
        multilabel: bool = False,
        id2label: dict | None = None,
        use_pooler: bool = False,
    ):
        """An image classification head."""
        self._check_head_type("image_classification")
        head = ImageClassificationHead(
            self,
            head_name,
            num_labels=num_labels,
            layers=layers,
            activation_function=activation_function,
            multilabel=multilabel,
            id2label=id2label,
            use_pooler=use_pooler,
        )
        self.add_prediction_head(head, overwrite_ok)

    def add_multiple_choice_head(
        self,
        head_name: str,
        num_choices: int = 2,
        layers: int = 2,
        activation_function: str = "tanh",
        overwrite_ok: bool = False,
        id2label: dict | None = None,
        use_pooler: bool = False,
    ):
        """A multiple choice head (inputs shaped ``(batch, num_choices, length)``)."""
        self._check_head_type("multiple_choice")
        head = MultipleChoiceHead(
            self,
            head_name,
            num_choices=num_choices,
            layers=layers,
            activation_function=activation_function,
            id2label=id2label,
            use_pooler=use_pooler,
        )
        self.add_prediction_head(head, overwrite_ok)

    def add_tagging_head(
        self,
        head_name: str,
        num_labels: int = 2,
        layers: int = 1,
        activation_function: str = "tanh",
        overwrite_ok: bool = False,
        id2label: dict | None = None,
    ):
        """A token classification (tagging) head."""
        self._check_head_type("tagging")
        head = TaggingHead(
            self,
            head_name,
            num_labels=num_labels,
            layers=layers,
            activation_function=activation_function,
            id2label=id2label,
        )
        self.add_prediction_head(head, overwrite_ok)

    def add_qa_head(
        self,
        head_name: str,
        num_labels: int = 2,
        layers: int = 1,
        activation_function: str = "tanh",
        overwrite_ok: bool = False,
        id2label: dict | None = None,
    ):
        """An extractive question answering head (start/end logits)."""
        self._check_head_type("question_answering")
        head = QuestionAnsweringHead(
            self,
            head_name,
            num_labels=num_labels,
            layers=layers,
            activation_function=activation_function,
            id2label=id2label,
        )
        self.add_prediction_head(head, overwrite_ok)

    def add_dependency_parsing_head(
        self, head_name: str, num_labels: int = 2, overwrite_ok: bool = False, id2label: dict | None = None
    ):
        """A biaffine dependency parsing head."""
        self._check_head_type("dependency_parsing")
        self.add_prediction_head(
            BiaffineParsingHead(self, head_name, num_labels=num_labels, id2label=id2label), overwrite_ok
        )

    def add_masked_lm_head(
        self, head_name: str, activation_function: str = "gelu", layers: int = 2, overwrite_ok: bool = False
    ):
        """A masked language modelling head (output embedding tied to the input embedding)."""
        self._check_head_type("masked_lm")
        head = BertStyleMaskedLMHead(self, head_name, layers=layers, activation_function=activation_function)
        self.add_prediction_head(head, overwrite_ok)

    def add_causal_lm_head(
        self, head_name: str, activation_function: str = "gelu", layers: int = 2, overwrite_ok: bool = False
    ):
        """A causal language modelling head."""
        self._check_head_type("causal_lm")
        head = CausalLMHead(
            self, head_name, layers=layers, activation_function=activation_function, layer_norm=True, bias=True
        )
        self.add_prediction_head(head, overwrite_ok)

    def add_seq2seq_lm_head(self, head_name: str, layers: int = 1, overwrite_ok: bool = False):
        """A sequence-to-sequence language modelling head."""
        self._check_head_type("seq2seq_lm")
        self.add_prediction_head(Seq2SeqLMHead(self, head_name, layers=layers), overwrite_ok)

    # tying -------------------------------------------------------------------------------------------------------
    def _tie_head(self, head: PredictionHead) -> None:
        output = head.get_output_embeddings()
        if output is None or not lm_head_is_tied(self.config.get_text_config()):
            return
        embeddings = self.get_input_embeddings()
        if output.weight.shape != embeddings.weight.shape:
            return
        output.weight = embeddings.weight
        source = next(n for n, p in self.named_parameters(remove_duplicate=False) if p is embeddings.weight)
        target = f"heads.{head.name}.{len(head) - 1}.weight"
        self._tied_weights_keys[target] = source
        if isinstance(getattr(self, "all_tied_weights_keys", None), dict):
            self.all_tied_weights_keys[target] = source

    def _untie_head(self, name: str) -> None:
        """Forget head ``name``'s tying (bookkeeping only; see :meth:`untie_output_embedding`)."""
        for mapping in (self._tied_weights_keys, getattr(self, "all_tied_weights_keys", None) or {}):
            for key in [k for k in mapping if k.startswith(f"heads.{name}.")]:
                del mapping[key]

    def untie_output_embedding(self, name: str) -> None:
        """Give head ``name`` its own copy of the output-embedding weight if it shares the input embedding's
        (used when a saved head brings an output embedding that differs from the model's input embedding: copying
        it into the shared weight would change the base model)."""
        output = self.heads[name].get_output_embeddings()
        if output is not None and output.weight is self.get_input_embeddings().weight:
            output.weight = nn.Parameter(output.weight.detach().clone(), requires_grad=output.weight.requires_grad)
            self._untie_head(name)

    def average_head(
        self,
        head_name: str,
        head_list: list[str] | dict[str, float],
        weights: list[float] | None = None,
        normalize_weights: bool = True,
        overwrite_ok: bool = False,
        set_active: bool = False,
    ) -> None:
        """Add head ``head_name`` whose parameters are the weighted average of the heads in ``head_list``.

        All heads must have the same type and config (``dropout_prob`` may differ). Weights default to equal
        weights and are normalised to sum to 1 unless ``normalize_weights=False`` (negative weights allowed).
        """
        by_name = input_weights(head_list, weights, normalize_weights)
        names, weights = list(by_name), list(by_name.values())
        missing = [n for n in names if n not in self.heads]
        if missing:
            raise AdapterNotFoundError(f"average_head needs existing heads; missing: {missing}.")
        configs = [{k: v for k, v in self.heads[n].config.items() if k != "dropout_prob"} for n in names]
        if any(c != configs[0] for c in configs[1:]):
            raise UnsupportedMethodError(f"Cannot average heads {names}: their types or configs differ.")
        if head_name in self.heads and not overwrite_ok:
            raise AdapterExistsError(f"A head named {head_name!r} already exists; pass overwrite_ok=True.")
        self.add_prediction_head_from_config(
            head_name, dict(self.heads[names[0]].config), overwrite_ok=True, set_active=set_active
        )
        target = dict(self.heads[head_name].named_parameters())
        sources = [dict(self.heads[n].named_parameters()) for n in names]
        with torch.no_grad():
            for key, param in target.items():
                param.copy_(sum(w * source[key] for w, source in zip(weights, sources)))

    # deleting, activating ----------------------------------------------------------------------------------------
    def delete_head(self, head_name: str) -> None:
        """Remove head ``head_name``.

        Raises:
            AdapterNotFoundError: the model has no head of that name (nothing changes; the reference did nothing).
        """
        if not isinstance(head_name, str) or head_name not in self.heads:
            raise AdapterNotFoundError(
                f"No head named {head_name!r}. Heads on this model: {', '.join(self.heads) or 'none'}."
            )
        del self.heads[head_name]
        self.config.prediction_heads.pop(head_name, None)
        self._untie_head(head_name)
        self._active_heads = [h for h in self._active_heads if h != head_name]
        if self._active_head_split is not None and head_name in self._active_head_split:
            self._active_head_split = None

    def _restore_head(self, name: str, head: PredictionHead, config: dict) -> None:
        self.heads[name] = head
        self.config.prediction_heads[name] = config
        self._tie_head(head)
        self._ensure_generation_config(head)

    def _ensure_generation_config(self, head: PredictionHead) -> None:
        """An encoder AdapterModel built without an LM head has no generation config (see ``adapters.auto``);
        its first ``causal_lm`` / ``seq2seq_lm`` head builds one from the model config, as transformers would."""
        if head.config["head_type"] not in GENERATING_HEAD_TYPES or not hasattr(self, "generation_config_class"):
            return
        if getattr(self, "generation_config", None) is None and self.can_generate():
            self.generation_config = self.generation_config_class.from_model_config(self.config)

    @property
    def active_head(self) -> str | list[str] | None:
        """The active head: a name, a list of names, or ``None``."""
        if self._active_head_split is not None:
            return self._active_head_split
        if not self._active_heads:
            return None
        return self._active_heads[0] if len(self._active_heads) == 1 else list(self._active_heads)

    @active_head.setter
    def active_head(self, head_name: str | list[str] | BatchSplit | None) -> None:
        self._active_head_split = head_name if isinstance(head_name, BatchSplit) else None
        names = [] if head_name is None else ([head_name] if isinstance(head_name, str) else list(head_name))
        missing = [n for n in names if n not in self.heads]
        if missing:
            raise AdapterNotFoundError(
                f"No head named {missing[0]!r}. Heads on this model: {', '.join(self.heads) or 'none'}."
            )
        self._active_heads = names
        if len(names) == 1:
            label2id = self.heads[names[0]].config.get("label2id")
            if label2id:
                self.config.label2id = dict(label2id)
                self.config.id2label = {int(i): label for label, i in label2id.items()}

    def set_active_adapters(self, adapter_setup: Any, skip_layers=None) -> None:
        """Activate adapters; also activates the head(s) the setup names, when they exist."""
        super().set_active_adapters(adapter_setup, skip_layers=skip_layers)
        implied = heads_from_setup(self.active_adapters, self.heads)
        if implied is not None:
            self.active_head = implied

    def get_labels_dict(self, head_name: str | None = None) -> dict[int, str] | None:
        """``{id: label}`` of a head (the active head by default), in the order of the ids (a saved ``label2id`` is
        written with sorted keys, so its own order is alphabetical)."""
        name = head_name or self.active_head
        if name is None or isinstance(name, list):
            raise AdapterNotFoundError("get_labels_dict needs a single head; pass head_name.")
        if name not in self.heads:
            raise AdapterNotFoundError(f"No head named {name!r}. Heads: {', '.join(self.heads) or 'none'}.")
        label2id = self.heads[name].config.get("label2id")
        return dict(sorted((int(i), label) for label, i in label2id.items())) if label2id else None

    def get_labels(self, head_name: str | None = None) -> list[str] | None:
        """The label names of a head (the active head by default), position ``i`` for output id ``i``."""
        labels = self.get_labels_dict(head_name)
        return None if labels is None else list(labels.values())

    def get_prediction_heads_config(self) -> dict[str, dict]:
        return {name: dict(head.config) for name, head in self.heads.items()}

    # running -----------------------------------------------------------------------------------------------------
    def _selected_heads(self, head: str | list[str] | None) -> str | list[str] | None:
        """``head`` if given, else the heads of the call's ``AdapterSetup`` block, else :attr:`active_head`."""
        if head is not None:
            return head
        call = self._adapter_runtime.current()
        if call is not None and call.from_context:
            if call.head_setup is not None:
                return call.head_setup
            implied = heads_from_setup(call.setup, self.heads)
            if implied is not None:
                return implied
        return self.active_head

    def forward_head(self, outputs, head_name=None, cls_output=None, attention_mask=None, return_dict=True, **kwargs):
        """Run the selected head(s) on the base model ``outputs``; returns ``outputs`` if no head is selected.

        Several heads: with a ``Parallel`` adapter setup (or a ``BatchSplit`` of heads) head i runs on its slice of
        the batch and the result is a :class:`MultiHeadOutput` whose loss is the sum of the heads' losses; otherwise
        every head runs on the whole batch.
        """
        selected = self._selected_heads(head_name)
        if selected is None:
            return outputs
        names = list(selected) if not isinstance(selected, str) else [selected]
        missing = [n for n in names if n not in self.heads]
        if missing:
            raise AdapterNotFoundError(f"No head named {missing[0]!r}. Heads: {', '.join(self.heads) or 'none'}.")
        kwargs.setdefault("invertible_adapter", self._invertible_adapter_function())
        if len(names) == 1 and not isinstance(selected, BatchSplit):
            self._head_slices(selected, names, outputs[0].shape[0])  # under Parallel: one head per channel, or raise
            return self.heads[names[0]](outputs, cls_output, attention_mask, return_dict, **kwargs)
        split = isinstance(selected, BatchSplit)
        results = []
        for name, part in zip(names, self._head_slices(selected, names, outputs[0].shape[0])):
            part_kwargs = dict(kwargs)
            mask = attention_mask
            if split:
                part_kwargs.update({k: v[part] for k, v in kwargs.items() if isinstance(v, torch.Tensor)})
                mask = attention_mask[part] if attention_mask is not None else None
            part_cls = cls_output[part] if cls_output is not None and part is not None else cls_output
            results.append(self.heads[name](_slice_output(outputs, part), part_cls, mask, return_dict, **part_kwargs))
        losses = [r["loss"] for r in results if isinstance(r, dict) and r.get("loss") is not None]
        return MultiHeadOutput(
            head_outputs=results,
            loss=sum(losses) if losses and len(losses) == len(results) else None,
            past_key_values=getattr(outputs, "past_key_values", None),
        )

    def _head_slices(self, selected, names: list[str], batch: int) -> list[slice | None]:
        if isinstance(selected, BatchSplit):
            if sum(selected.batch_sizes) != batch:
                raise CompositionError(
                    f"BatchSplit heads {selected!r} need a batch of {sum(selected.batch_sizes)} rows, got {batch}."
                )
            bounds = [0, *itertools.accumulate(selected.batch_sizes)]
            return [slice(a, b) for a, b in zip(bounds, bounds[1:])]
        call = self._adapter_runtime.current()
        setup = call.setup if call is not None else self.active_adapters
        channels = setup.parallel_channels if setup is not None else 1
        if channels == 1:
            return [None] * len(names)
        if channels != len(names):
            raise CompositionError(
                f"The Parallel setup {setup!r} has {channels} channels but {len(names)} heads are selected "
                f"({names}); give one head per channel."
            )
        size = batch // channels
        return [slice(i * size, (i + 1) * size) for i in range(channels)]

    def _invertible_adapter_function(self):
        runtime = self._adapter_runtime

        def apply(hidden, rev: bool = False):
            return invertible_transform(runtime, hidden, rev=rev)

        return apply

    def get_output_embeddings(self) -> nn.Module | None:
        heads = [self.heads[n] for n in self._active_heads if n in self.heads] or list(self.heads.values())
        for head in heads:
            output = head.get_output_embeddings()
            if output is not None:
                return output
        return None

    def set_output_embeddings(self, value: nn.Module) -> None:
        for head in self.heads.values():
            if head.get_output_embeddings() is not None:
                head[len(head) - 1] = value
                return

    # saving and loading ------------------------------------------------------------------------------------------
    @atomic_save()
    def save_head(self, save_directory: str, head_name: str | None = None, use_safetensors: bool = True) -> None:
        """Save head ``head_name`` (default: the active head) to ``save_directory``."""
        name = head_name or self.active_head
        if not isinstance(name, str):
            raise AdapterNotFoundError("save_head needs a single head name.")
        save_flex_head(self, save_directory, name, use_safetensors=use_safetensors)

    def load_head(
        self,
        save_directory: str,
        load_as: str | None = None,
        id2label: dict | None = None,
        use_safetensors: bool | None = None,
    ) -> str:
        """Load a saved head (converting static transformers heads) and return its name."""
        return load_flex_head(
            self, save_directory, load_as=load_as, id2label=id2label, use_safetensors=use_safetensors
        )

    @atomic_save()
    def save_all_heads(self, save_directory: str, use_safetensors: bool = True) -> None:
        """Save every head to ``save_directory/<name>``."""
        for name in list(self.heads):
            self.save_head(str(Path(save_directory) / name), name, use_safetensors=use_safetensors)

    @atomic_save()
    def save_adapter(
        self,
        save_directory: str,
        adapter_name: str,
        with_head: bool = True,
        meta_dict=None,
        custom_weights_loaders=None,
        use_safetensors: bool = True,
        **kwargs,
    ) -> None:
        """Save an adapter; with ``with_head`` (default) also the head of the same name, into the same folder."""
        super().save_adapter(
            save_directory,
            adapter_name,
            meta_dict=meta_dict,
            custom_weights_loaders=custom_weights_loaders,
            use_safetensors=use_safetensors,
            **kwargs,
        )
        if with_head and adapter_name in self.heads:
            self.save_head(save_directory, adapter_name, use_safetensors=use_safetensors)

    def load_adapter(
        self,
        adapter_name_or_path: str,
        config=None,
        version=None,
        model_name=None,
        load_as=None,
        with_head: bool = True,
        custom_weights_loaders=None,
        leave_out=None,
        id2label=None,
        set_active: bool = False,
        use_safetensors: bool | None = None,
        **kwargs,
    ) -> str:
        """Load an adapter and, with ``with_head`` (default), the head saved next to it (named like the adapter)."""

        def load_head(folder, name):
            self.load_head(str(folder), load_as=name, id2label=id2label, use_safetensors=use_safetensors)

        return load_adapter_and_head(
            self,
            super().load_adapter,
            adapter_name_or_path,
            load_head,
            with_head=with_head,
            set_active=set_active,
            config=config,
            version=version,
            model_name=model_name,
            load_as=load_as,
            custom_weights_loaders=custom_weights_loaders,
            leave_out=leave_out,
            use_safetensors=use_safetensors,
            **kwargs,
        )

"""``AdapterModelBase``: the body shared by every generated ``<Arch>AdapterModel`` class.

An AdapterModel holds the family's base model under its ``base_model_prefix`` (so plain and static-head
checkpoints load with no missing base keys), flexible heads in ``heads``, and the adapter API. Its ``forward`` runs
the base model and then the selected head.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from transformers import AutoConfig
from transformers.models.auto.configuration_auto import CONFIG_MAPPING
from transformers.models.auto.modeling_auto import MODEL_MAPPING

from .._config_binding import unbound_config
from ..architectures.parallel import REPLICATED_INPUTS, replicate
from ..architectures.routing import routed_generate
from ..configuration import ModelAdaptersConfig
from ..model import ModelAdaptersMixin
from .conversion import key_mapping, static_head, static_head_config
from .families import head_family
from .model_mixin import ModelWithFlexibleHeadsAdaptersMixin
from .routed import routed_heads, run_routed_heads
from .shared_base import share_adapters_with_base_model

__all__ = ["AdapterModelBase", "shift_right"]

_SEQUENCE_LEVEL = {"classification", "multilabel_classification", "multiple_choice", "image_classification"}
_CONFIG_KWARGS = ("cache_dir", "revision", "token", "local_files_only", "trust_remote_code", "subfolder", "gguf_file")


def shift_right(ids: torch.Tensor, start_token_id: int, pad_token_id: int) -> torch.Tensor:
    """Decoder inputs from labels: prepend the start token, drop the last position, replace -100 by padding."""
    shifted = ids.new_full(ids.shape, start_token_id)
    shifted[..., 1:] = ids[..., :-1]
    return shifted.masked_fill(shifted == -100, pad_token_id)


class AdapterModelBase(ModelWithFlexibleHeadsAdaptersMixin, ModelAdaptersMixin):
    """Base model + flexible heads + adapters (see :mod:`adapters.auto` for the generated classes)."""

    def __init__(self, config, *inputs, **kwargs):
        config = unbound_config(config)  # a config carrying another model's live adapters is copied without them
        super().__init__(config, *inputs, **kwargs)
        base_class = MODEL_MAPPING[CONFIG_MAPPING[config.model_type]]
        setattr(self, self.base_model_prefix, base_class(config))
        self._init_heads()
        self.post_init()
        saved = getattr(config, "adapters", None)
        self._init_adapters(ModelAdaptersConfig.from_dict(saved) if isinstance(saved, dict) and saved else None)
        share_adapters_with_base_model(self)

    # loading -----------------------------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, config=None, **kwargs):
        """Load a checkpoint; a static transformers head in it becomes the flexible head ``"default"``."""
        if config is None or not hasattr(config, "model_type"):
            config_kwargs = {k: kwargs[k] for k in _CONFIG_KWARGS if k in kwargs}
            config = AutoConfig.from_pretrained(config or pretrained_model_name_or_path, **config_kwargs)
        architecture = (getattr(config, "architectures", None) or [None])[0]
        entry = static_head(architecture)
        if entry is not None and not getattr(config, "prediction_heads", None):
            label2id = getattr(config, "label2id", None)
            config.prediction_heads = {
                "default": static_head_config(entry, config, label2id, getattr(config, "num_labels", None))
            }
            mapping = key_mapping(entry, "default", cls.base_model_prefix)
            kwargs["key_mapping"] = {**mapping, **(kwargs.get("key_mapping") or {})}
        return super().from_pretrained(pretrained_model_name_or_path, *model_args, config=config, **kwargs)

    # forward -----------------------------------------------------------------------------------------------------
    def _base_parameters(self) -> set[str]:
        cache = type(self).__dict__.get("_base_forward_parameters")
        if cache is None:
            cache = set(inspect.signature(type(self.base_model).forward).parameters)
            type.__setattr__(type(self), "_base_forward_parameters", cache)
        return cache

    def _decoder_inputs(self, input_ids, labels, head_names) -> torch.Tensor | None:
        config = self.config
        start = getattr(config, "decoder_start_token_id", None)
        start = config.pad_token_id if start is None else start
        family = head_family(config.model_type)
        if labels is not None and any(self.heads[h].config["head_type"] == "seq2seq_lm" for h in head_names):
            if family.labels_start == "language_id":  # mBART starts the decoder with the language id (last token)
                from transformers.models.mbart.modeling_mbart import shift_tokens_right

                return shift_tokens_right(labels, config.pad_token_id)
            return shift_right(labels, start, config.pad_token_id)
        if input_ids is not None and family.decoder_start == "shift_inputs":
            return shift_right(input_ids, start, config.pad_token_id)
        return None

    def _pool(self, outputs, input_ids, call=None) -> torch.Tensor | None:
        pooling = head_family(self.config.model_type).pooling
        hidden = outputs[0]
        offsets = None if call is None else call.row_offsets()
        if pooling == "first" and offsets is not None:  # routed prompts: each row's own first column
            return hidden[
                torch.arange(hidden.shape[0], device=hidden.device), torch.tensor(offsets, device=hidden.device)
            ]
        if pooling == "first" or input_ids is None:
            return None
        if hidden.shape[0] != input_ids.shape[0]:  # Parallel: the base model ran on replicated inputs
            input_ids = input_ids.repeat(hidden.shape[0] // input_ids.shape[0], 1)
        if pooling == "last_token":
            pad = self.config.pad_token_id
            if pad is None:
                return hidden[:, -1]
            positions = torch.arange(input_ids.shape[-1], device=input_ids.device)
            last = (positions * (input_ids != pad).int()).argmax(-1)
            if call is not None:  # the hidden states hold the prompt positions too
                last = call.shift_positions(last)
            return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
        eos_mask = input_ids.eq(self.config.eos_token_id).to(hidden.device)
        if len(torch.unique_consecutive(eos_mask.sum(1))) > 1:
            raise ValueError("All examples must have the same number of <eos> tokens.")
        return hidden[eos_mask, :].view(hidden.size(0), -1, hidden.size(-1))[:, -1, :]

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        pixel_values: torch.Tensor | None = None,
        decoder_input_ids: torch.Tensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        decoder_inputs_embeds: torch.Tensor | None = None,
        encoder_outputs: Any = None,
        past_key_values: Any = None,
        use_cache: bool | None = None,
        labels: torch.Tensor | None = None,
        start_positions: torch.Tensor | None = None,
        end_positions: torch.Tensor | None = None,
        word_starts: torch.Tensor | None = None,
        labels_arcs: torch.Tensor | None = None,
        labels_rels: torch.Tensor | None = None,
        head: str | list[str] | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ):
        """Run the base model, then the selected head (``head=`` > ``AdapterSetup`` > ``active_head``).

        With ``adapter_names=[...]`` (per-row routing, taken out of the call before this runs) row i uses adapter
        ``adapter_names[i]`` and the head of that name (``head=``: the head of rows whose adapter has none); the
        result is a :class:`~adapters.heads.routed.RoutedOutput` (see :mod:`adapters.heads.routed`)."""
        call = self._adapter_runtime.current()
        row_heads = None
        if call is not None and call.adapter_names is not None:
            row_heads = routed_heads(self.heads, call.adapter_names, head)
            selected = None if row_heads is None else list(dict.fromkeys(row_heads))
        else:
            selected = self._selected_heads(head)
        head_names = [] if selected is None else [selected] if isinstance(selected, str) else list(selected)
        if input_ids is not None and input_ids.dim() == 3:  # multiple choice: (batch, choices, length)
            input_ids, attention_mask, token_type_ids, position_ids = (
                t.reshape(-1, t.size(-1)) if t is not None else None
                for t in (input_ids, attention_mask, token_type_ids, position_ids)
            )
        if self.config.is_encoder_decoder and decoder_input_ids is None and decoder_inputs_embeds is None:
            decoder_input_ids = self._decoder_inputs(input_ids, labels, head_names)
        candidates = {
            "input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids,
            "position_ids": position_ids, "inputs_embeds": inputs_embeds, "pixel_values": pixel_values,
            "decoder_input_ids": decoder_input_ids, "decoder_attention_mask": decoder_attention_mask,
            "decoder_inputs_embeds": decoder_inputs_embeds, "encoder_outputs": encoder_outputs,
            "past_key_values": past_key_values, "use_cache": use_cache, "output_attentions": output_attentions,
            "output_hidden_states": output_hidden_states,
        }  # fmt: skip
        accepted = self._base_parameters()
        base_kwargs = {
            k: v for k, v in candidates.items() if v is not None and (k in accepted or k.startswith("output_"))
        }
        outputs = self.base_model(**base_kwargs, **kwargs)
        if not head_names:
            return outputs if return_dict is not False else outputs.to_tuple()
        needs_pooling = any(
            self.heads[n].config["head_type"] in _SEQUENCE_LEVEL for n in head_names if n in self.heads
        )
        prompt = None if call is None else call.prompt_placement
        if prompt is not None:  # prompt tuning inserted positions: align the heads' token-level inputs
            length = input_ids.shape[-1] if input_ids is not None else outputs[0].shape[1] - call.prompt_columns
            attention_mask = call.align_to_prompt(attention_mask, 1)
            if labels is not None and labels.dim() >= 2 and labels.shape[1] == length:
                labels = call.align_to_prompt(labels, -100)
            start_positions, end_positions = (call.shift_positions(p) for p in (start_positions, end_positions))
        cls_output = self._pool(outputs, input_ids, call) if needs_pooling else None
        if getattr(self.config, "scale_decoder_outputs", False) and any(
            self.heads[n].config["head_type"] == "seq2seq_lm" for n in head_names if n in self.heads
        ):
            outputs["last_hidden_state"] = outputs.last_hidden_state * (self.config.d_model**-0.5)
        head_kwargs = {
            "labels": labels, "start_positions": start_positions, "end_positions": end_positions,
            "word_starts": word_starts, "labels_arcs": labels_arcs, "labels_rels": labels_rels,
        }  # fmt: skip
        head_kwargs = {k: v for k, v in head_kwargs.items() if v is not None}
        if row_heads is not None:
            return run_routed_heads(self, outputs, row_heads, call, cls_output, attention_mask, **head_kwargs)
        return self.forward_head(
            outputs,
            head_name=selected,
            cls_output=cls_output,
            attention_mask=attention_mask,
            return_dict=return_dict is not False,
            **head_kwargs,
        )

    def generate(self, inputs: torch.Tensor | None = None, *args, **kwargs):
        """``GenerationMixin.generate``; ``adapter_names=[...]`` routes each row to its adapter in every step (see
        :mod:`adapters.architectures.routing`). With a ``Parallel`` setup the batch is replicated once up front, so the
        output holds ``channels × batch`` sequences: rows ``[i·B, (i+1)·B)`` are generated with channel i."""
        runtime = self._adapter_runtime
        if kwargs.get("adapter_names") is not None:  # per-row routing for every step
            return routed_generate(self, runtime, super().generate, (inputs, *args), kwargs)
        channels = runtime.new_call({}).channels
        if channels == 1:
            return super().generate(inputs, *args, **kwargs)
        inputs = replicate(inputs, channels)
        kwargs = {k: replicate(v, channels) if k in REPLICATED_INPUTS else v for k, v in kwargs.items()}
        with runtime.replicated_inputs():  # on this thread only: other calls on the model are not affected
            return super().generate(inputs, *args, **kwargs)

    def get_encoder(self, *args, **kwargs):
        return self.base_model.get_encoder(*args, **kwargs)

    def get_decoder(self, *args, **kwargs):
        return self.base_model.get_decoder(*args, **kwargs)

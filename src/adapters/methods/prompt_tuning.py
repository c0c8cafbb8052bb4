"""Prompt tuning (Lester et al., 2021, "The Power of Scale for Parameter-Efficient Prompt Tuning",
https://arxiv.org/abs/2104.08691).

``prompt_length`` learned vectors ``E_p ∈ R^{P × embedding_size}`` are inserted into the embedded input, in front
(``combine="prefix"``) or after the first token (``"prefix_after_bos"``):

    h_0 = [E_p; embed(x)]        or        [embed(x_0); E_p; embed(x_1..)]

and the attention mask gets ``P`` visible positions at the same place. Only the first adapter of the active setup
is used (as the reference). Where the prompt goes is part of the family's spec (:class:`PromptSite`):

* encoders (BERT family, DistilBERT, ViT; the reference's families) insert it into the output of the embedding
  module, i.e. after position embeddings: the prompt has no position and the tokens keep theirs;
* decoder-only models (GPT-2, Llama, Mistral, Qwen2; not supported by the reference) insert it into the token
  embeddings before the model adds positions, so positions, RoPE and the KV cache count the prompt like tokens and
  cached generation works: the prompt is inserted on the first (prefill) call only, while every call's 2-D
  attention mask is extended because the cache holds the prompt.

Two hooks do it: a pre-hook on the base model (extends ``attention_mask``, shifts explicit ``position_ids``, and for
decoders swaps ``input_ids`` for ``inputs_embeds`` with the prompt) and, for encoders, a hook on the embedding
module's output. The pre-hook writes the prompt's placement into the call's record
(:attr:`~adapters.architectures.call.AdapterCall.prompt_placement`); whoever handles token-level inputs outside the
base model aligns them with it: a pre-hook on static-head models (``…ForCausalLM``, ``…ForTokenClassification``)
gives their labels ``-100`` at the prompt positions, and AdapterModel heads align labels, masks, pooling and QA
positions (``call.align_to_prompt``, ``call.shift_positions``).

In a ``MultiTask`` (``task_ids``, or per-row routing with ``adapter_names``) every row gets its own adapter's prompt,
or none. Prompts of different lengths are aligned by padding in front: row r's own sequence (exactly what it is when
run alone) is preceded by ``total - length_r`` masked-out columns (zero vectors, attention mask 0, position 0), so
each row equals its own run; its outputs are ``output[r, offset_r:]``. The placement is then a
:class:`~adapters.architectures.call.PromptRows`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..architectures.attach import INPUT_REWRITE, AdapterRuntime, resolve_path
from ..architectures.call import PROMPT_PLACEMENT, PromptRows, insert_columns
from ..composition import MultiTask
from ..configuration import PromptTuningConfig
from ..errors import AdapterConfigError, RoutingError, UnsupportedMethodError, UnsupportedModelError
from ._common import adapter_dtype, call_kwargs, place_like, seeded
from .composer import routed_rows
from .registry import AdapterMethod, register_method

__all__ = ["PromptTuning", "PromptTuningLayer", "find_tokenizer"]

IGNORE_INDEX = -100
_PROMPT = "prompt_tuning:embedding"  # scratch key: the prompt the embedding hook inserts (prefill calls only)


class PromptTuning(nn.Module):
    """One adapter's soft prompt."""

    def __init__(self, config: PromptTuningConfig, embedding_size: int):
        super().__init__()
        self.prompt_length = config.prompt_length
        self.position = 0 if config.combine == "prefix" else 1
        self.prompt_embedding = nn.Embedding(config.prompt_length, embedding_size)

    def insert(self, embedded: torch.Tensor) -> torch.Tensor:
        """``embedded`` ``(batch, length, size)`` with the prompt inserted at :attr:`position`."""
        prompt = self.prompt_embedding.weight.to(embedded.dtype).unsqueeze(0).expand(embedded.shape[0], -1, -1)
        cut = self.position
        return torch.cat([embedded[:, :cut], prompt, embedded[:, cut:]], dim=1)


def _prompt_positions(position_ids: torch.Tensor, prompt: tuple[int, int], prefill: bool) -> torch.Tensor:
    """Explicit position ids of real tokens -> ids of the sequence with the prompt (decoder-only models)."""
    position, length = prompt
    shifted = position_ids + length
    if not prefill:
        return shifted
    head = position_ids[..., :position]
    start = head[..., -1:] + 1 if position else torch.zeros_like(position_ids[..., :1])
    own = start + torch.arange(length, device=position_ids.device)
    return torch.cat([head, own, shifted[..., position:]], dim=-1)


class PromptTuningLayer(nn.Module):
    """``base_model.prompt_tuning``: the adapters' prompts (``prompt_tunings.<name>.prompt_embedding.weight``) and
    the hooks that insert them."""

    def __init__(self, runtime: AdapterRuntime):
        super().__init__()
        self.prompt_tunings = nn.ModuleDict()
        self.__dict__.update(_runtime=runtime, _handles=[])

    # hooks ---------------------------------------------------------------------------------------------------------
    def install(self) -> None:
        runtime = self.__dict__["_runtime"]
        site = runtime.spec.prompt
        handles = self.__dict__["_handles"]
        base = runtime.base_model
        inputs = resolve_path(base, site.inputs)[0] if site.inputs else None
        handles.append(runtime.register_input_hook(self._on_inputs, INPUT_REWRITE, module=inputs))
        if site.mode == "embedding_output":
            embedding, _ = resolve_path(base, site.embedding)
            handles.append(embedding.register_forward_hook(self._on_embedding, prepend=True))
        if site.cross is not None:
            decoder, _ = resolve_path(base, site.cross)
            handles.append(runtime.register_input_hook(self._on_decoder_inputs, INPUT_REWRITE, module=decoder))
        model = runtime.model
        # encoder-decoder models: token-level labels belong to the decoder, which has no prompt
        aligned = getattr(model, "aligns_prompt_inputs", False) or site.cross is not None
        if model is not base and not aligned:
            handles.append(runtime.register_input_hook(self._on_model_inputs, INPUT_REWRITE, module=model))

    def uninstall(self) -> None:
        runtime = self.__dict__["_runtime"]
        for handle in self.__dict__["_handles"]:
            runtime.remove_hook(handle)
        self.__dict__["_handles"].clear()

    def active_prompt(self, call) -> PromptTuning | None:
        """The prompt of the first adapter of the call's setup, if that adapter has one."""
        setup = None if call is None else call.setup_for(None)
        return None if setup is None else self.prompt_tunings._modules.get(setup.first())

    def row_prompts(self, call, batch: int, device: torch.device) -> list[PromptTuning | None] | None:
        """A ``MultiTask`` call (``task_ids``, or per-row routing): the prompt of each row (``None``: no prompt);
        ``None`` for other setups."""
        setup = None if call is None else call.setup_for(None)
        if not isinstance(setup, MultiTask):
            return None
        prompts: list[PromptTuning | None] = [None] * batch
        for child, rows in routed_rows(setup, call, batch, device):
            name = child if child is None or isinstance(child, str) else child.first()
            for row in rows.tolist():
                prompts[row] = self.prompt_tunings._modules.get(name)
        return prompts

    def _on_inputs(self, module: nn.Module, args: tuple, kwargs: dict):
        call = self.__dict__["_runtime"].current()
        if call is None:
            return None
        kwargs = call_kwargs(module, args, kwargs)
        main = kwargs.get("input_ids") if kwargs.get("input_ids") is not None else kwargs.get("inputs_embeds")
        prompts = None if main is None else self.row_prompts(call, main.shape[0], main.device)
        if prompts is not None:
            return self._route_inputs(module, call, kwargs, prompts)
        prompt = self.active_prompt(call)
        if prompt is None:
            return None
        prefill = _is_prefill(kwargs.get("past_key_values"))
        place = (prompt.position, prompt.prompt_length)
        mask = kwargs.get("attention_mask")
        if isinstance(mask, torch.Tensor):
            kwargs["attention_mask"] = insert_columns(_two_dimensional(mask), place, 1)
        site = self.__dict__["_runtime"].spec.prompt
        if site.mode == "inputs_embeds":
            if isinstance(kwargs.get("position_ids"), torch.Tensor):
                kwargs["position_ids"] = _prompt_positions(kwargs["position_ids"], place, prefill)
            if prefill:
                kwargs["inputs_embeds"] = prompt.insert(_embedded(self.__dict__["_runtime"].base_model, site, kwargs))
                kwargs["input_ids"] = None
                if isinstance(kwargs.get("token_type_ids"), torch.Tensor):
                    kwargs["token_type_ids"] = insert_columns(kwargs["token_type_ids"], place, 0)
        if prefill:
            if site.cross is None:  # the prompt's positions are in the model's output: heads align with them
                call.scratch[PROMPT_PLACEMENT] = place
            call.scratch[_PROMPT] = prompt
        return (), kwargs

    def _on_decoder_inputs(self, module: nn.Module, args: tuple, kwargs: dict):
        """Encoder-decoder models: the decoder's cross-attention mask gets the prompt positions of the encoder
        output. The encoder may have run in another call (``generate()`` runs it on its own), so the mask is
        extended when the encoder output is longer than the mask by the active prompt's length."""
        prompt = self.active_prompt(self.__dict__["_runtime"].current())
        if prompt is None:
            return None
        kwargs = call_kwargs(module, args, kwargs)
        mask, encoded = kwargs.get("encoder_attention_mask"), kwargs.get("encoder_hidden_states")
        if not isinstance(mask, torch.Tensor) or not isinstance(encoded, torch.Tensor) or mask.dim() != 2:
            return None
        if encoded.shape[1] != mask.shape[1] + prompt.prompt_length:
            return None
        kwargs["encoder_attention_mask"] = insert_columns(mask, (prompt.position, prompt.prompt_length), 1)
        return (), kwargs

    def _route_inputs(self, module: nn.Module, call, kwargs: dict, prompts: list[PromptTuning | None]):
        """Rows with prompts of their own (or none): row r's own sequence, preceded by ``total - length_r`` masked
        columns (:class:`~adapters.architectures.call.PromptRows`), so each row equals its own run."""
        if all(p is None for p in prompts):
            return None
        site = self.__dict__["_runtime"].spec.prompt
        if site.cross is not None:
            raise RoutingError(
                "Per-row routing of prompt tuning on encoder-decoder models is not supported; run the rows of each "
                "prompt-tuning adapter in their own call (e.g. with AdapterSetup)."
            )
        rows = _prompt_rows(prompts)
        past = kwargs.get("past_key_values")
        prefill = _is_prefill(past)
        main = kwargs["input_ids"] if kwargs.get("input_ids") is not None else kwargs["inputs_embeds"]
        batch, length = main.shape[0], main.shape[1]
        past_user = 0 if prefill else int(past.get_seq_length()) - rows.total  # cached tokens of the user's sequence
        mask = kwargs.get("attention_mask")
        if mask is None and any(rows.offsets):
            mask = torch.ones(batch, past_user + length, dtype=torch.long, device=main.device)
        if isinstance(mask, torch.Tensor):
            mask = _two_dimensional(mask)
            kwargs["attention_mask"] = rows.insert(mask, 1, lead=0)  # prefill and cached steps alike
        if site.mode == "inputs_embeds":
            positions = kwargs.get("position_ids")
            if positions is None and any(rows.offsets):
                positions = (past_user + torch.arange(length, device=main.device)).expand(batch, -1)
            if isinstance(positions, torch.Tensor):
                kwargs["position_ids"] = _routed_positions(positions, rows, prefill)
            if prefill:
                kwargs["inputs_embeds"] = _insert_rows(
                    _embedded(self.__dict__["_runtime"].base_model, site, kwargs), prompts, rows
                )
                kwargs["input_ids"] = None
                if isinstance(kwargs.get("token_type_ids"), torch.Tensor):
                    kwargs["token_type_ids"] = rows.insert(kwargs["token_type_ids"], 0)
        if prefill:
            call.scratch[PROMPT_PLACEMENT] = rows
            call.scratch[_PROMPT] = (prompts, rows)
        return (), kwargs

    def _on_embedding(self, module: nn.Module, args: tuple, output):
        call = self.__dict__["_runtime"].current()
        prompt = None if call is None else call.scratch.get(_PROMPT)
        if prompt is None:
            return None
        if isinstance(prompt, tuple):
            return _insert_rows(output, *prompt)
        return prompt.insert(output)

    def _on_model_inputs(self, module: nn.Module, args: tuple, kwargs: dict):
        """Static-head models: token-level labels get ``-100`` at the prompt positions."""
        labels = kwargs.get("labels")
        if not isinstance(labels, torch.Tensor) or labels.dim() < 2:
            return None
        if not _is_prefill(kwargs.get("past_key_values")):
            return None
        call = self.__dict__["_runtime"].current()
        prompts = self.row_prompts(call, labels.shape[0], labels.device)
        if prompts is not None:
            aligned = _prompt_rows(prompts).insert(labels, IGNORE_INDEX)
        else:
            prompt = self.active_prompt(call)
            if prompt is None:
                return None
            aligned = insert_columns(labels, (prompt.position, prompt.prompt_length), IGNORE_INDEX)
        kwargs = dict(kwargs)
        kwargs["labels"] = aligned
        return args, kwargs


def _prompt_rows(prompts: list[PromptTuning | None]) -> PromptRows:
    """The placement of the rows' prompts: each row's own, after ``longest - own length`` leading columns."""
    lengths = tuple(0 if p is None else p.prompt_length for p in prompts)
    total = max(lengths)
    positions = tuple(0 if p is None else p.position for p in prompts)
    return PromptRows(tuple(total - n for n in lengths), positions, lengths, total)


def _two_dimensional(mask: torch.Tensor) -> torch.Tensor:
    if mask.dim() != 2:
        raise UnsupportedModelError(
            f"Prompt tuning extends 2-D attention masks; got a {mask.dim()}-D mask (e.g. from a static cache). Pass a "
            "2-D attention_mask."
        )
    return mask


def _embedded(base_model: nn.Module, site, kwargs: dict) -> torch.Tensor:
    """The input embeddings of a call: ``inputs_embeds``, or the embedding (``site.embedding`` below the base model)
    of ``input_ids``."""
    embedded = kwargs.get("inputs_embeds")
    if embedded is None:
        embedding, _ = resolve_path(base_model, site.embedding)
        embedded = embedding(kwargs["input_ids"])
    return embedded


def _insert_rows(embedded: torch.Tensor, prompts: list[PromptTuning | None], rows: PromptRows) -> torch.Tensor:
    """Each row with its own prompt inserted, preceded by its offset of zero vectors (masked out)."""
    out = []
    for r, prompt in enumerate(prompts):
        own = embedded[r : r + 1] if prompt is None else prompt.insert(embedded[r : r + 1])
        out.append(insert_columns(own, (0, rows.offsets[r]), 0.0))
    return torch.cat(out)


def _routed_positions(positions: torch.Tensor, rows: PromptRows, prefill: bool) -> torch.Tensor:
    """Position ids of each row as in its own run (its prompt counted like tokens); the leading offset columns of a
    prefill get position 0 (they are masked out)."""
    out = []
    for r in range(positions.shape[0]):
        own = _prompt_positions(positions[r : r + 1], (rows.positions[r], rows.lengths[r]), prefill)
        out.append(insert_columns(own, (0, rows.offsets[r]), 0) if prefill else own)
    return torch.cat(out)


def _is_prefill(past_key_values: Any) -> bool:
    if past_key_values is None:
        return True
    length = past_key_values.get_seq_length() if hasattr(past_key_values, "get_seq_length") else 0
    return int(length) == 0


# --------------------------------------------------------------------------------------------------------------
# initialisation
# --------------------------------------------------------------------------------------------------------------
def find_tokenizer(model_config) -> Any:
    """A tokenizer for ``prompt_init="from_string"``: from ``config.tokenizer_name_or_path`` or the folder (or
    locally cached Hub repo) of ``config.name_or_path``. Nothing is downloaded."""
    from transformers import AutoTokenizer

    tried = []
    for candidate in (
        getattr(model_config, "tokenizer_name_or_path", None),
        getattr(model_config, "name_or_path", ""),
    ):
        if not candidate or candidate in tried:
            continue
        tried.append(candidate)
        try:
            if Path(candidate).is_dir():
                return AutoTokenizer.from_pretrained(candidate)
            return AutoTokenizer.from_pretrained(candidate, local_files_only=True)
        except Exception:  # noqa: BLE001 - any failure means "no tokenizer here"
            continue
    raise AdapterConfigError(
        "prompt_init='from_string' needs a tokenizer to embed prompt_init_text: pass one with "
        "model.add_adapter(name, config, tokenizer=tokenizer), or save it next to the model (config.name_or_path "
        f"{getattr(model_config, 'name_or_path', '')!r} has none; looked at: {tried or 'nothing'})."
    )


def _init_prompt(prompt: PromptTuning, config: PromptTuningConfig, runtime: AdapterRuntime, tokenizer) -> None:
    weight = prompt.prompt_embedding.weight
    with torch.no_grad():
        if config.prompt_init == "random_uniform":
            with seeded(config.init_weights_seed):
                nn.init.uniform_(weight, -config.random_uniform_scale, config.random_uniform_scale)
            return
        embeddings = runtime.base_model.get_input_embeddings()
        if not isinstance(embeddings, nn.Embedding):
            raise UnsupportedMethodError(
                f"prompt_init='from_string' needs token embeddings; {runtime.spec.name} has none (use random_uniform)."
            )
        tokenizer = tokenizer if tokenizer is not None else find_tokenizer(runtime.base_model.config)
        ids = list(tokenizer(config.prompt_init_text)["input_ids"])
        if not ids:
            raise AdapterConfigError(f"prompt_init_text {config.prompt_init_text!r} tokenizes to no tokens.")
        ids = (ids * math.ceil(config.prompt_length / len(ids)))[: config.prompt_length]
        if max(ids) >= embeddings.num_embeddings:
            raise AdapterConfigError(
                f"The tokenizer produced id {max(ids)} but the model has {embeddings.num_embeddings} embeddings."
            )
        index = torch.tensor(ids, device=embeddings.weight.device)
        weight.copy_(embeddings.weight[index].to(weight.dtype))


# --------------------------------------------------------------------------------------------------------------
# add / delete / inspect
# --------------------------------------------------------------------------------------------------------------
def _layer(runtime: AdapterRuntime) -> PromptTuningLayer | None:
    layer = getattr(runtime.base_model, "prompt_tuning", None)
    return layer if isinstance(layer, PromptTuningLayer) else None


def _embedding_size(config) -> int:
    config = config.get_text_config() if hasattr(config, "get_text_config") else config
    return int(getattr(config, "embedding_size", None) or config.hidden_size)


def check_support(runtime: AdapterRuntime, config: PromptTuningConfig) -> str | None:
    if runtime.spec.prompt is None:
        return f"prompt tuning is not available for {runtime.spec.name} (its spec has no prompt site)"
    return None


def add(runtime: AdapterRuntime, name: str, config: PromptTuningConfig) -> None:
    options = getattr(runtime, "add_options", None) or {}
    prompt = PromptTuning(config, _embedding_size(runtime.base_model.config))
    place_like(prompt, runtime.base_model, adapter_dtype(runtime, None, runtime.base_model))
    if not options.get("loading"):
        _init_prompt(prompt, config, runtime, options.get("tokenizer"))
    layer = _layer(runtime)
    if layer is None:
        layer = PromptTuningLayer(runtime)
        layer.install()
        runtime.base_model.add_module("prompt_tuning", layer)
    layer.prompt_tunings[name] = prompt


def delete(runtime: AdapterRuntime, name: str) -> None:
    layer = _layer(runtime)
    if layer is None or name not in layer.prompt_tunings:
        return
    del layer.prompt_tunings[name]
    if len(layer.prompt_tunings) == 0:
        layer.uninstall()
        delattr(runtime.base_model, "prompt_tuning")


def modules(runtime: AdapterRuntime, name: str) -> dict[int, dict[str, nn.Module]]:
    layer = _layer(runtime)
    if layer is None or name not in layer.prompt_tunings:
        return {}
    return {-1: {"prompt": layer.prompt_tunings[name]}}


PROMPT_TUNING = register_method(
    AdapterMethod(
        name="prompt_tuning",
        architecture="prompt_tuning",
        containers=("prompt_tunings",),
        add=add,
        delete=delete,
        modules=modules,
        check_support=check_support,
        base_modules=("prompt_tuning",),
        supported_blocks=frozenset({MultiTask}),
        kinds=(("prompt_tuning", "prompt_tuning"),),
    )
)

"""The model side of ``adapters serve``: one base model, the served adapters and the batched forward.

:func:`run_rows` is the one place that calls the model for a batch of rows that ask for different adapters: one
routed forward (``model(**batch, adapter_names=names)``) per group of rows of similar length, whatever the
adapters' methods; the runtime keeps per-call state per call, so nothing on the model changes; rows come back in
request order.

Everything here except :meth:`Engine.encode_predict` / :meth:`Engine.encode_prompt` and :attr:`Engine.adapters`
runs on the batcher's worker thread, the only thread that touches the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ..context import AdapterSetup
from ..errors import AdapterExistsError, AdapterNotFoundError, ModelLoadError
from ..methods.registry import method_for_config
from . import tasks

__all__ = ["Engine", "ServedAdapter", "run_rows", "pad_rows", "length_groups", "FORWARD_COST_TOKENS"]

_OUTPUT_KEYS = ("logits", "start_logits", "end_logits")
_LABELLED = ("classification", "multilabel", "tagging")


@dataclass(frozen=True)
class ServedAdapter:
    """A served adapter: where it came from, its method, its head type, the task served for it and its labels."""

    name: str
    source: str
    method: str | None
    head_type: str
    task: str
    labels: list[str] | None


def pad_rows(rows: Sequence[dict[str, list[int]]], pad_token_id: int) -> dict[str, torch.Tensor]:
    """Right-pad rows of token ids into a batch (``attention_mask`` 0 on padding, other keys padded with 0)."""
    width = max(len(row["input_ids"]) for row in rows)
    batch: dict[str, torch.Tensor] = {}
    for key in rows[0]:
        fill = pad_token_id if key == "input_ids" else 0
        batch[key] = torch.tensor([row[key] + [fill] * (width - len(row[key])) for row in rows])
    if "attention_mask" not in batch:
        batch["attention_mask"] = torch.tensor(
            [[1] * len(r["input_ids"]) + [0] * (width - len(r["input_ids"])) for r in rows]
        )
    return batch


def _row_outputs(output: Any, length: int) -> dict[str, torch.Tensor]:
    """One row's head output (batch size 1, as a routed call gives it per row); per-token tensors (QA start/end
    logits, tagging logits) cut to the row's ``length``, so its padding is gone."""
    row = {}
    for key in _OUTPUT_KEYS:
        value = output.get(key) if hasattr(output, "get") else getattr(output, key, None)
        if isinstance(value, torch.Tensor):
            value = value[0]
            per_token = key != "logits" or value.dim() == 2
            row[key] = value[:length] if per_token else value
    return row


# What one more routed forward costs, in tokens of work: on MiniLM-L6 with 8 adapters (2 CPU threads), batches of
# 16 mixed-length review snippets ran 10 % faster split with this value than unsplit (and than with 24, 48, 192).
FORWARD_COST_TOKENS = 96


def length_groups(lengths: Sequence[int], forward_cost: int = FORWARD_COST_TOKENS) -> list[list[int]]:
    """Split row indices into groups of similar length, each run as one forward padded to its longest row.

    Minimises ``Σ (forward_cost + rows · longest)`` over splits of the rows sorted by length (exact, by dynamic
    programming): one group when lengths are alike, several when padding a short row to a long one costs more
    than another forward. Groups come shortest first; indices refer to ``lengths``.
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    best = [0.0] + [float("inf")] * len(order)  # best[k]: the cost of the first k sorted rows
    cut = [0] * (len(order) + 1)
    for end in range(1, len(order) + 1):
        longest = lengths[order[end - 1]]
        for start in range(end):
            cost = best[start] + forward_cost + (end - start) * longest
            if cost < best[end]:
                best[end], cut[end] = cost, start
    groups, end = [], len(order)
    while end:
        groups.append(order[cut[end] : end])
        end = cut[end]
    return groups[::-1]


def run_rows(
    model: torch.nn.Module, rows: Sequence[dict[str, list[int]]], adapter_names: Sequence[str], pad_token_id: int
) -> list[dict[str, torch.Tensor]]:
    """Run each row through the model with its adapter (and the head of the same name); outputs in row order.

    Routed forwards (``model(..., adapter_names=...)``, see docs/composition.md "Per-row routing"): every row
    uses its own adapter and head, whatever their methods, and equals the row run alone. Rows of very different
    lengths are run in a few forwards of similar lengths (:func:`length_groups`) instead of padding all to the
    longest.
    """
    outputs: list[dict[str, torch.Tensor] | None] = [None] * len(rows)
    for group in length_groups([len(row["input_ids"]) for row in rows], FORWARD_COST_TOKENS):
        batch = pad_rows([rows[i] for i in group], pad_token_id)
        with torch.no_grad():
            output = model(**batch, adapter_names=[adapter_names[i] for i in group])
        for position, i in enumerate(group):
            outputs[i] = _row_outputs(output[position], len(rows[i]["input_ids"]))
    return outputs  # type: ignore[return-value]


class Engine:
    """A base model with heads (an ``AutoAdapterModel``), its tokenizer and the adapters it serves."""

    def __init__(self, model, tokenizer, max_length: int | None = None, max_new_tokens: int = 256):
        self.model = model.eval()
        self.tokenizer = tokenizer
        limits = [getattr(model.config, "max_position_embeddings", None), getattr(tokenizer, "model_max_length", None)]
        default = min((n for n in limits if isinstance(n, int) and 0 < n < 1_000_000), default=512)
        self.max_length = max_length or default
        self.max_new_tokens = max_new_tokens
        pad = tokenizer.pad_token_id
        if pad is None:
            pad = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
        self.pad_token_id = int(pad)
        # replaced, never mutated: readers on the event loop always see a whole one
        self.adapters: dict[str, ServedAdapter] = {}

    @classmethod
    def from_pretrained(cls, model_name_or_path: str, **kwargs) -> Engine:
        """Load the base model (with the flexible-heads API) and its tokenizer; :class:`ModelLoadError` if either
        cannot be loaded."""
        from transformers import AutoTokenizer

        from ..auto import AutoAdapterModel

        try:
            tokenizer = AutoTokenizer.from_pretrained(model_name_or_path)
            model = AutoAdapterModel.from_pretrained(model_name_or_path)
        except Exception as error:  # any failure stops the start-up with one clear message
            raise ModelLoadError(f"Cannot load the base model {model_name_or_path!r}: {error}") from error
        if not getattr(tokenizer, "is_fast", False):
            raise ModelLoadError(f"{model_name_or_path!r} has no fast tokenizer; the server needs character offsets.")
        return cls(model, tokenizer, **kwargs)

    # the event-loop side --------------------------------------------------------------------------------------------
    def info(self, adapter: str) -> ServedAdapter:
        try:
            return self.adapters[adapter]
        except KeyError:
            served = ", ".join(sorted(self.adapters)) or "none"
            raise AdapterNotFoundError(f"No adapter named {adapter!r} is served. Served: {served}.") from None

    def encode_predict(self, request) -> tasks.Job:
        info = self.info(request.adapter)
        return tasks.encode_predict(self.tokenizer, info.name, info.task, request, self.max_length)

    def encode_prompt(self, request) -> tasks.Job:
        info = self.info(request.adapter)
        return tasks.encode_prompt(self.tokenizer, info.name, info.task, request, self.max_length)

    # the worker side ------------------------------------------------------------------------------------------------
    def run_batch(self, jobs: Sequence[tasks.Job]) -> list[Any]:
        """One answer (a dict) or exception per job; predict jobs share one batched call, generate jobs run in turn."""
        results: list[Any] = [None] * len(jobs)
        predict = []
        for position, job in enumerate(jobs):
            if job.adapter not in self.adapters:  # unloaded while the request waited
                results[position] = AdapterNotFoundError(f"Adapter {job.adapter!r} was unloaded.")
            elif job.task == "generation":
                results[position] = self._guarded(self._generate, job)
            else:
                predict.append(position)
        if predict:
            rows = run_rows(
                self.model, [jobs[p].features for p in predict], [jobs[p].adapter for p in predict], self.pad_token_id
            )
            for position, row in zip(predict, rows):
                job = jobs[position]
                results[position] = self._guarded(self._decode, job, row)
        return results

    def _decode(self, job: tasks.Job, row: dict[str, torch.Tensor]) -> dict[str, Any]:
        return {"task": job.task, **tasks.decode_row(job, row, self.adapters[job.adapter].labels or [])}

    @staticmethod
    def _guarded(function, *args) -> Any:
        try:
            return function(*args)
        except Exception as error:
            return error

    def _generate(self, job: tasks.Job) -> dict[str, Any]:
        options = job.options
        inputs = pad_rows([job.features], self.pad_token_id)
        inputs.pop("token_type_ids", None)
        sampling = {"do_sample": options["do_sample"]}
        if options["do_sample"]:
            sampling |= {k: options[k] for k in ("temperature", "top_k", "top_p") if options[k] is not None}
            if options["seed"] is not None:
                torch.manual_seed(options["seed"])  # only the worker thread runs torch
        with torch.no_grad(), AdapterSetup(job.adapter, head_setup=job.adapter):
            output = self.model.generate(
                **inputs, max_new_tokens=options["max_new_tokens"], pad_token_id=self.pad_token_id, **sampling
            )
        new = output[0, inputs["input_ids"].shape[1] :]
        return {"text": self.tokenizer.decode(new, skip_special_tokens=True), "tokens": int(new.numel())}

    def load(self, name: str, source: str) -> ServedAdapter:
        """Load the adapter saved at ``source`` (with its head) as ``name``; on failure nothing changes."""
        if name in self.adapters or name in self.model.adapters_config:
            raise AdapterExistsError(f"An adapter named {name!r} is already served; unload it first.")
        had_head = name in self.model.heads
        try:
            self.model.load_adapter(source, load_as=name, with_head=True, set_active=False)
            info = self._describe(name, source)
        except Exception as error:
            self._remove(name, remove_head=not had_head)
            raise ModelLoadError(f"Cannot load adapter {name!r} from {source!r}: {error}") from error
        self.adapters = {**self.adapters, name: info}
        return info

    def unload(self, name: str) -> None:
        self.info(name)
        self.adapters = {k: v for k, v in self.adapters.items() if k != name}
        self._remove(name, remove_head=True)

    def _remove(self, name: str, remove_head: bool) -> None:
        if name in self.model.adapters_config:
            self.model.delete_adapter(name)
        if remove_head and name in self.model.heads:
            self.model.delete_head(name)

    def _describe(self, name: str, source: str) -> ServedAdapter:
        if name not in self.model.heads:
            raise ModelLoadError(
                f"{source!r} has no prediction head; save the adapter with save_adapter(..., with_head=True)."
            )
        head_type = self.model.heads[name].config["head_type"]
        if head_type not in tasks.HEAD_TASKS:
            raise ModelLoadError(
                f"Head type {head_type!r} is not served; served head types: {', '.join(tasks.HEAD_TASKS)}."
            )
        task = tasks.HEAD_TASKS[head_type]
        config = self.model.adapters_config.get(name)
        by_id = self.model.get_labels_dict(name) if task in _LABELLED else None
        labels = [by_id[i] for i in sorted(by_id)] if by_id else None  # get_labels() follows the file's key order
        return ServedAdapter(
            name=name,
            source=str(source),
            method=method_for_config(config).name,
            head_type=head_type,
            task=task,
            labels=labels,
        )

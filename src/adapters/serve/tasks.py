"""What each served task sends to the model and how a row of model output becomes an answer.

Tasks follow from the adapter's head type (:data:`HEAD_TASKS`). Encoding runs on the event loop (tokenizers are
fast and torch-free); decoding runs on the worker thread on one row of the batch's output (padding cut off).

* ``classification``: softmax; the best label, its probability and every label's probability.
* ``multilabel``: sigmoid; the labels at or above the request's ``threshold`` and every label's probability.
* ``tagging``: a tag per word (the tag of its first sub-token) with character offsets; entity spans merged from BIO
  tags (``B-x`` starts an entity of type ``x``, ``I-x`` continues one; a plain tag other than ``O`` is an entity of
  that type whose neighbours with the same tag join it).
* ``question_answering``: the context span with the best start + end score (start <= end, at most
  ``MAX_ANSWER_TOKENS`` tokens, inside the context), its text, character offsets and probability.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ..errors import InputTooLongError, WrongTaskError

__all__ = ["HEAD_TASKS", "Job", "encode_predict", "encode_prompt", "decode_row", "MAX_ANSWER_TOKENS"]

# head type -> task served for it
HEAD_TASKS = {
    "classification": "classification",
    "multilabel_classification": "multilabel",
    "tagging": "tagging",
    "question_answering": "question_answering",
    "causal_lm": "generation",
}
MAX_ANSWER_TOKENS = 30
_MODEL_KEYS = ("input_ids", "attention_mask", "token_type_ids")


@dataclass(frozen=True)
class Job:
    """One request, ready for the worker: model ``features`` (lists of ids), what decoding needs (``meta``) and the
    request's options."""

    adapter: str
    task: str
    features: dict[str, list[int]]
    meta: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)


def _check_length(count: int, max_length: int, what: str) -> None:
    if count > max_length:
        raise InputTooLongError(
            f"The {what} has {count} tokens; this server takes at most {max_length} "
            f'(--max-length). Shorten it or send "truncate": true.'
        )


def _features(encoding) -> dict[str, list[int]]:
    return {key: list(encoding[key]) for key in _MODEL_KEYS if key in encoding}


def encode_predict(tokenizer, adapter: str, task: str, request, max_length: int) -> Job:
    """A :class:`Job` for a predict request on an adapter serving ``task``."""
    is_qa = request.question is not None
    if task == "generation":
        raise WrongTaskError(f"Adapter {adapter!r} generates text (causal LM head); use POST /generate.")
    if (task == "question_answering") != is_qa:
        wanted = "'question' and 'context'" if task == "question_answering" else "'text'"
        raise WrongTaskError(f"Adapter {adapter!r} does {task}; send {wanted} in the request.")
    options = {"threshold": request.threshold}
    if is_qa:
        enc = tokenizer(
            request.question,
            request.context,
            truncation="only_second" if request.truncate else False,
            max_length=max_length if request.truncate else None,
            return_offsets_mapping=True,
        )
        _check_length(len(enc["input_ids"]), max_length, "question and context")
        meta = {"text": request.context, "offsets": enc["offset_mapping"], "sequence_ids": enc.sequence_ids()}
        return Job(adapter, task, _features(enc), meta, options)
    enc = tokenizer(
        request.text,
        truncation=bool(request.truncate),
        max_length=max_length if request.truncate else None,
        return_offsets_mapping=task == "tagging",
    )
    _check_length(len(enc["input_ids"]), max_length, "text")
    meta = {"text": request.text}
    if task == "tagging":
        meta |= {"offsets": enc["offset_mapping"], "word_ids": enc.word_ids()}
    return Job(adapter, task, _features(enc), meta, options)


def encode_prompt(tokenizer, adapter: str, task: str, request, max_length: int) -> Job:
    """A :class:`Job` for a generate request (a causal-LM adapter)."""
    if task != "generation":
        raise WrongTaskError(f"Adapter {adapter!r} does {task}, not generation; use POST /predict.")
    enc = tokenizer(
        request.prompt,
        truncation=bool(request.truncate),
        max_length=max_length if request.truncate else None,
    )
    _check_length(len(enc["input_ids"]), max_length, "prompt")
    options = {
        "max_new_tokens": request.max_new_tokens,
        "do_sample": request.do_sample,
        "temperature": request.temperature,
        "top_k": request.top_k,
        "top_p": request.top_p,
        "seed": request.seed,
    }
    return Job(adapter, task, _features(enc), {}, options)


# decoding ----------------------------------------------------------------------------------------------------------
def decode_row(job: Job, row: dict[str, torch.Tensor], labels: list[str]) -> dict[str, Any]:
    """The answer for ``job`` from its row of the model output (tensors without the batch dimension)."""
    if job.task == "classification":
        return _classification(row["logits"].float(), labels)
    if job.task == "multilabel":
        return _multilabel(row["logits"].float(), labels, job.options["threshold"])
    if job.task == "tagging":
        return _tagging(row["logits"].float(), labels, job.meta)
    return _answer(row["start_logits"].float(), row["end_logits"].float(), job.meta)


def _scores(probabilities: torch.Tensor, labels: list[str]) -> dict[str, float]:
    return {label: float(p) for label, p in zip(labels, probabilities.tolist())}


def _classification(logits: torch.Tensor, labels: list[str]) -> dict[str, Any]:
    if logits.numel() == 1:  # a regression head
        return {"value": float(logits.reshape(()))}
    probabilities = logits.softmax(-1)
    best = int(probabilities.argmax())
    return {"label": labels[best], "score": float(probabilities[best]), "scores": _scores(probabilities, labels)}


def _multilabel(logits: torch.Tensor, labels: list[str], threshold: float) -> dict[str, Any]:
    probabilities = logits.sigmoid()
    chosen = [label for label, p in zip(labels, probabilities.tolist()) if p >= threshold]
    return {"labels": chosen, "scores": _scores(probabilities, labels)}


def _words(word_ids: list[int | None], offsets: list[tuple[int, int]]) -> list[tuple[int, int, int]]:
    """``(first token position, char start, char end)`` of every word."""
    words: dict[int, list[int]] = {}
    for position, word in enumerate(word_ids):
        if word is None:
            continue
        if word not in words:
            words[word] = [position, offsets[position][0], offsets[position][1]]
        words[word][2] = offsets[position][1]
    return [tuple(words[w]) for w in sorted(words)]


def _tagging(logits: torch.Tensor, labels: list[str], meta: dict) -> dict[str, Any]:
    probabilities = logits.softmax(-1)
    text, tokens = meta["text"], []
    for position, start, end in _words(meta["word_ids"], meta["offsets"]):
        best = int(probabilities[position].argmax())
        tokens.append(
            {
                "text": text[start:end],
                "tag": labels[best],
                "start": start,
                "end": end,
                "score": float(probabilities[position, best]),
            }
        )
    return {"tokens": tokens, "entities": entity_spans(tokens, text)}


def _entity_type(tag: str) -> tuple[str | None, bool]:
    """``(entity type or None for outside, whether the tag starts an entity)``."""
    if tag == "O":
        return None, False
    if tag[:2] in ("B-", "I-"):
        return tag[2:], tag[:2] == "B-"
    return tag, False


def entity_spans(tokens: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    """Merge tagged words into entities ``{"type", "text", "start", "end", "score"}`` (score: mean word score)."""
    entities: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for token in tokens:
        kind, begins = _entity_type(token["tag"])
        if kind is not None and current is not None and not begins and current["type"] == kind:
            current["end"] = token["end"]
            current["_scores"].append(token["score"])
            continue
        current = None
        if kind is not None:
            current = {"type": kind, "start": token["start"], "end": token["end"], "_scores": [token["score"]]}
            entities.append(current)
    for entity in entities:
        scores = entity.pop("_scores")
        entity["text"] = text[entity["start"] : entity["end"]]
        entity["score"] = sum(scores) / len(scores)
    return entities


def _answer(start_logits: torch.Tensor, end_logits: torch.Tensor, meta: dict) -> dict[str, Any]:
    in_context = torch.tensor([s == 1 for s in meta["sequence_ids"]])
    if not bool(in_context.any()):
        return {"answer": "", "start": 0, "end": 0, "score": 0.0}
    start_p = start_logits.masked_fill(~in_context, float("-inf")).softmax(-1)
    end_p = end_logits.masked_fill(~in_context, float("-inf")).softmax(-1)
    pair = start_p[:, None] * end_p[None, :]
    length = pair.shape[0]
    allowed = torch.ones(length, length, dtype=torch.bool).triu().tril(MAX_ANSWER_TOKENS - 1)
    pair = pair.masked_fill(~allowed, 0.0)
    flat = int(pair.argmax())
    first, last = divmod(flat, length)
    start, end = meta["offsets"][first][0], meta["offsets"][last][1]
    return {"answer": meta["text"][start:end], "start": start, "end": end, "score": float(pair[first, last])}

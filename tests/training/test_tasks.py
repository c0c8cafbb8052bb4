"""``predict`` batches inputs in token-length order and returns results in input order."""

from __future__ import annotations

import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from adapters.training.tasks import predict
from training.helpers import tiny_classifier

WORDS = [f"w{i}" for i in range(40)]
# 9 texts of 1..9 words, not in length order
TEXTS = [" ".join(WORDS[start : start + n]) for start, n in zip(range(0, 36, 4), (5, 1, 9, 3, 7, 2, 8, 4, 6))]


def _word_tokenizer() -> PreTrainedTokenizerFast:
    """Whitespace word-level tokenizer with ids below the tiny models' vocabulary size."""
    vocab = {"[PAD]": 0, "[UNK]": 1, **{word: i + 2 for i, word in enumerate(WORDS)}}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="[PAD]", unk_token="[UNK]")


@pytest.fixture
def classifier():
    return tiny_classifier(dropout=0.0).eval()


def test_batches_are_length_sorted_and_results_keep_input_order(classifier):
    tokenizer, lengths = _word_tokenizer(), []
    record = lambda _module, _args, kwargs: lengths.append(kwargs["input_ids"].shape[1])  # noqa: E731
    hook = classifier.register_forward_pre_hook(record, with_kwargs=True)
    batched = predict(classifier, tokenizer, "classification", TEXTS, ["no", "yes"], max_length=16, batch_size=3)
    hook.remove()
    assert lengths == [3, 6, 9]  # sorted batches pad to 3, 6 and 9 words (input order would pad to 9, 9, 8)
    one_by_one = [predict(classifier, tokenizer, "classification", [t], ["no", "yes"], 16)[0] for t in TEXTS]
    assert [r["label"] for r in batched] == [r["label"] for r in one_by_one]
    assert [r["score"] for r in batched] == pytest.approx([r["score"] for r in one_by_one], abs=1e-3)
    assert len({r["score"] for r in batched}) > 1  # different inputs, different scores: the order is checked


def test_tagging_results_follow_the_input_words():
    torch.manual_seed(0)
    model = tiny_classifier(dropout=0.0)
    model.add_tagging_head("tags", num_labels=3)
    model.eval()
    results = predict(model, _word_tokenizer(), "tagging", TEXTS, ["O", "B", "I"], max_length=16, batch_size=4)
    assert [r["tokens"] for r in results] == [text.split() for text in TEXTS]
    assert [len(r["tags"]) for r in results] == [len(text.split()) for text in TEXTS]
    assert {tag for r in results for tag in r["tags"]} <= {"O", "B", "I"}

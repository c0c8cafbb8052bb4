"""The decoder demo: a LoRA adapter teaches SmolLM2-135M-Instruct (offline, converted once from its GGUF file) a
short reply format: after ``Review: <text>\\nVerdict:`` answer ``fresh`` or ``rotten``.

Before training the model continues the prompt freely; after a few dozen steps through
:class:`~adapters.AdapterTrainer` (loss on the answer tokens only) it answers in the format. Generation before and
after is printed. Run with ``adapters demo --decoder``.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass

import torch

__all__ = ["DecoderDemoResult", "run_decoder_demo", "PROMPT"]

PROMPT = "Review: {text}\nVerdict:"
ANSWERS = ("rotten", "fresh")


@dataclass(frozen=True)
class DecoderDemoResult:
    before: list[str]
    after: list[str]
    trainable_parameters: int
    seconds: float

    @staticmethod
    def in_format(replies: list[str]) -> float:
        """The share of replies that are exactly one of the two answers."""
        return sum(r.strip() in ANSWERS for r in replies) / len(replies)

    @property
    def learned(self) -> bool:
        return self.in_format(self.after) > self.in_format(self.before) and self.in_format(self.after) >= 0.5


def _rows(tokenizer, examples: list[tuple[str, int]]) -> list[dict[str, list[int]]]:
    rows = []
    for text, label in examples:
        prompt = tokenizer(PROMPT.format(text=text))["input_ids"]
        answer = tokenizer(" " + ANSWERS[label])["input_ids"] + [tokenizer.eos_token_id]
        rows.append({"input_ids": prompt + answer, "labels": [-100] * len(prompt) + answer})
    return rows


def _collate(pad_id: int):
    def collate(rows: list[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
        width = max(len(r["input_ids"]) for r in rows)
        batch = {"input_ids": [], "attention_mask": [], "labels": []}
        for r in rows:
            pad = width - len(r["input_ids"])
            batch["input_ids"].append(r["input_ids"] + [pad_id] * pad)
            batch["attention_mask"].append([1] * len(r["input_ids"]) + [0] * pad)
            batch["labels"].append(r["labels"] + [-100] * pad)
        return {k: torch.tensor(v) for k, v in batch.items()}

    return collate


@torch.no_grad()
def _generate(model, tokenizer, texts: list[str]) -> list[str]:
    model.eval()
    replies = []
    for text in texts:
        encoded = tokenizer(PROMPT.format(text=text), return_tensors="pt")
        output = model.generate(**encoded, max_new_tokens=6, do_sample=False, pad_token_id=tokenizer.eos_token_id)
        reply = tokenizer.decode(output[0, encoded["input_ids"].shape[1] :], skip_special_tokens=True)
        replies.append(reply.split("\n")[0])
    return replies


def run_decoder_demo(steps: int = 30, output_dir: str | None = None, log=print) -> DecoderDemoResult:
    """Convert (once) and load SmolLM2, print replies, train a LoRA adapter, print replies again."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainingArguments

    from . import init
    from ._assets import rotten_tomatoes, smollm2_path
    from .training import AdapterTrainer

    torch.manual_seed(0)
    path = smollm2_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = init(AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32))
    data = rotten_tomatoes(seed=1)
    probes, train = [text for text, _ in data[:4]], data[4 : 4 + steps * 4]
    before = _generate(model, tokenizer, probes)
    model.add_adapter("verdict", config="lora")
    model.train_adapter("verdict")
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    args = TrainingArguments(
        output_dir=output_dir or tempfile.mkdtemp(prefix="adapters-decoder-demo-"), max_steps=steps,
        per_device_train_batch_size=4, learning_rate=2e-3, warmup_steps=0.1, save_strategy="no", logging_steps=5,
        report_to="none", seed=0,
    )  # fmt: skip
    trainer = AdapterTrainer(model=model, args=args, train_dataset=_rows(tokenizer, train),
                             data_collator=_collate(tokenizer.eos_token_id))  # fmt: skip
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    after = _generate(model, tokenizer, probes)
    log(f"LoRA on SmolLM2-135M: {trainable:,} trainable parameters, {steps} steps in {seconds:.0f} s")
    for text, old, new in zip(probes, before, after):
        log(f"\n{PROMPT.format(text=text)}\n  before: {old!r}\n  after:  {new!r}")
    return DecoderDemoResult(before, after, trainable, seconds)

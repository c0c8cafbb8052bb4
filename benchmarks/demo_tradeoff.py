"""Benchmark: accuracy against training time of the demo's settings, and full fine-tuning on the same split.

Every row trains on the first N reviews of the demo's fixed training split (Rotten Tomatoes, MiniLM-L6) and is
evaluated on the same 1,282 held-out test reviews as ``make demo``. The machine load (``uptime``) is printed with each
row: other jobs share these 2 cores, so times are upper bounds.

Run: ``.venv/bin/python benchmarks/demo_tradeoff.py [row ...]`` (row names below; default: all).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

import torch

from adapters.demo import UPPER_LAYERS_SEQ_BN, DemoSettings, run_demo


def _every_layer(**settings) -> DemoSettings:
    """Demo settings with a ``seq_bn`` adapter (reduction factor 16) in all 6 layers, one epoch unless given."""
    return DemoSettings(adapter_config="seq_bn", **{"epochs": 1.0, **settings})


def _upper_3(**settings) -> DemoSettings:
    """``seq_bn`` in MiniLM's upper 3 layers only, reduction factor 8, lr 3e-3 (the demo's previous default)."""
    return DemoSettings(**{"adapter_config": UPPER_LAYERS_SEQ_BN, "learning_rate": 3e-3, "epochs": 1.0, **settings})


ROWS = {
    "demo-default": DemoSettings(),  # every layer, all reviews, 1.5 epochs, lr 2e-3
    "seq_bn-2k": _every_layer(train_examples=2000, learning_rate=2e-3),
    "seq_bn-4k": _every_layer(train_examples=4000, learning_rate=2e-3),
    "seq_bn-6k": _every_layer(train_examples=6000, learning_rate=2e-3),
    "seq_bn-all-1e-3": _every_layer(train_examples=None, learning_rate=1e-3),
    "seq_bn-6k-unsorted": _every_layer(train_examples=6000, learning_rate=2e-3, group_by_length=False),
    "lora-6k": DemoSettings(train_examples=6000, learning_rate=2e-3, epochs=1.0, adapter_config="lora"),
    "seq_bn-1k": _every_layer(train_examples=1000, learning_rate=2e-3),
    "seq_bn-8k": _every_layer(train_examples=8000, learning_rate=2e-3),
    "seq_bn-all": _every_layer(train_examples=None, learning_rate=2e-3),
    "seq_bn-6k-3e-3": _every_layer(train_examples=6000, learning_rate=3e-3),
    "seq_bn-6k-rf8": DemoSettings(
        train_examples=6000, learning_rate=2e-3, epochs=1.0, adapter_config="seq_bn[reduction_factor=8]"
    ),
    "seq_bn-6k-leave-out-0-1": DemoSettings(
        train_examples=6000, learning_rate=2e-3, epochs=1.0, adapter_config="seq_bn[leave_out=[0,1]]"
    ),
    "seq_bn-3k-2-epochs": _every_layer(train_examples=3000, learning_rate=2e-3, epochs=2.0),
    # adapters in MiniLM's upper 3 layers only, reduction factor 8 (the demo's previous default)
    "seq_bn-upper-3-rf8-6k": _upper_3(train_examples=6000),
    "seq_bn-upper-3-rf8-8k": _upper_3(train_examples=8000),
    "seq_bn-upper-3-rf8-all": _upper_3(train_examples=None),
    "seq_bn-upper-3-rf8-4k": _upper_3(train_examples=4000),
    "seq_bn-upper-3-rf8-all-2-epochs": _upper_3(train_examples=None, epochs=2.0),
    "seq_bn-all-2-epochs-1e-3": _every_layer(train_examples=None, learning_rate=1e-3, epochs=2.0),
    "seq_bn-all-2-epochs": _every_layer(train_examples=None, learning_rate=2e-3, epochs=2.0),
    "seq_bn-all-1.5-epochs": _every_layer(train_examples=None, learning_rate=2e-3, epochs=1.5),
    "lora-all": DemoSettings(train_examples=None, learning_rate=2e-3, epochs=1.0, adapter_config="lora"),
}
FULL_FINE_TUNING = {
    "full-ft-1k": (1000, 5e-5),
    "full-ft-4k": (4000, 5e-5),
    "full-ft-6k": (6000, 5e-5),
    "full-ft-all": (None, 5e-5),
    "full-ft-all-2e-4": (None, 2e-4),
}


def _load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.split("load average:")[-1].strip()


def full_fine_tuning(train_examples: int, learning_rate: float) -> tuple[float, float, float]:
    """Accuracy, training seconds and training CPU seconds of plain ``Trainer`` fine-tuning of all weights."""
    from transformers import AutoTokenizer, BertForSequenceClassification, Trainer, TrainingArguments

    from adapters._assets import minilm_path
    from adapters.training.data import load_task_data
    from adapters.training.metrics import classification_report
    from adapters.training.tasks import data_collator, encode

    torch.manual_seed(0)
    data = load_task_data("rotten_tomatoes")
    tokenizer = AutoTokenizer.from_pretrained(minilm_path())
    model = BertForSequenceClassification.from_pretrained(minilm_path(), num_labels=2)
    args = TrainingArguments(
        output_dir=tempfile.mkdtemp(), num_train_epochs=1, learning_rate=learning_rate, per_device_train_batch_size=32,
        train_sampling_strategy="group_by_length", warmup_steps=0.06, save_strategy="no", report_to="none",
        disable_tqdm=True, seed=0,
    )  # fmt: skip
    train = encode(data.split("train")[:train_examples], "classification", tokenizer, 64)
    collator = data_collator("classification", tokenizer)
    trainer = Trainer(model=model, args=args, train_dataset=train, data_collator=collator)
    start, cpu_start = time.perf_counter(), time.process_time()
    trainer.train()
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    # with group_by_length, transformers 5 also groups the evaluation rows by length (a shuffled order): the
    # predictions are compared with the label ids returned in the same order, not with the split's order
    prediction = trainer.predict(encode(data.split("test"), "classification", tokenizer, 64))
    report = classification_report(
        prediction.predictions.argmax(-1).tolist(), prediction.label_ids.tolist(), data.labels
    )
    return report["accuracy"], seconds, cpu_seconds


def main(names: list[str]) -> None:
    columns = ["setting", "train examples", "lr", "accuracy (1,282 test)", "train s", "train CPU s", "wall s",
               "load before → after"]  # fmt: skip
    print("| " + " | ".join(columns) + " |\n" + "|---" * len(columns) + "|")
    for name in names:
        before = _load()
        if name in FULL_FINE_TUNING:
            examples, lr = FULL_FINE_TUNING[name]
            start = time.perf_counter()
            accuracy, seconds, cpu = full_fine_tuning(examples, lr)
            wall = time.perf_counter() - start
        else:
            settings = ROWS[name]
            examples, lr = settings.train_examples or "all (10,246)", settings.learning_rate
            with open(os.devnull, "w") as quiet:
                result = run_demo(settings, log=lambda *a, _q=quiet: print(*a, file=_q))
            accuracy, seconds, wall = result.accuracy, result.train_seconds, result.wall_seconds
            cpu = result.train_cpu_seconds
        print(f"| {name} | {examples} | {lr:g} | {accuracy:.3f} | {seconds:.0f} | {cpu:.0f} | {wall:.0f} | {before} → "
              f"{_load()} |",
              flush=True)  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1:] or [*ROWS, *FULL_FINE_TUNING])

"""A whole adapter training run as one call (used by ``adapters train`` and the demo), and reloading its result.

A run writes to ``output_dir``:

* ``checkpoint-<step>/``: AdapterTrainer checkpoints (one per epoch; the best and the last two are kept);
* ``<adapter name>/``: the best adapter with its head (reference format, loadable with ``load_adapter``);
* ``adapters_run.json``: what ``adapters evaluate``/``predict``/``summary`` need to rebuild the model (base model,
  data source, task, labels, maximum length) and the validation metrics of every epoch.
"""

from __future__ import annotations

import importlib.util
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import ModelLoadError
from .data import TaskData
from .tasks import TASK_HEADS, compute_metrics_for, data_collator, encode

__all__ = [
    "TrainJob",
    "RunInfo",
    "RUN_FILE",
    "resolve_model",
    "build_model",
    "run_training",
    "load_adapter_model",
    "load_run",
]

RUN_FILE = "adapters_run.json"

MODEL_ALIASES = {"minilm": "minilm_path", "smollm2": "smollm2_path"}


@dataclass(frozen=True)
class TrainJob:
    """Settings of a training run (the ``adapters train`` options)."""

    model: str
    data: TaskData
    output_dir: str
    adapter_config: str = "seq_bn"
    adapter_name: str = "adapter"
    epochs: float = 3.0
    learning_rate: float = 1e-4
    batch_size: int = 32
    max_length: int = 128
    seed: int = 42
    max_train_examples: int | None = None
    max_eval_examples: int | None = None
    resume: bool = False
    report_to: str = "auto"
    progress_bar: bool = True


@dataclass(frozen=True)
class RunInfo:
    """The content of ``adapters_run.json``."""

    model: str
    data: str
    task: str
    labels: list[str]
    adapter_name: str
    adapter_config: str
    max_length: int
    epochs: list[dict[str, float]]

    def save(self, folder: str | Path) -> None:
        (Path(folder) / RUN_FILE).write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, folder: str | Path) -> RunInfo:
        path = Path(folder) / RUN_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{folder} is not an `adapters train` output folder: {RUN_FILE} is missing.")
        return cls(**json.loads(path.read_text()))


def resolve_model(model: str) -> str:
    """``minilm``/``smollm2`` -> the offline asset folders; anything else (a path or hub id) is returned as is."""
    if model in MODEL_ALIASES:
        from .. import _assets

        return str(getattr(_assets, MODEL_ALIASES[model])())
    return model


def _load_base(model: str):
    from transformers import AutoTokenizer

    from ..auto import AutoAdapterModel

    try:
        path = resolve_model(model)
        return AutoAdapterModel.from_pretrained(path), AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"Cannot load the base model {model!r}: {error}") from error


def build_model(model: str, task: str, labels: list[str], adapter_name: str, adapter_config: str):
    """``(model, tokenizer)``: an AdapterModel with a new adapter and head ``adapter_name``, ready to train."""
    adapter_model, tokenizer = _load_base(model)
    adapter_model.add_adapter(adapter_name, config=adapter_config)
    id2label = dict(enumerate(labels))
    if TASK_HEADS[task][0] == "tagging":
        adapter_model.add_tagging_head(adapter_name, num_labels=len(labels), id2label=id2label)
    else:
        adapter_model.add_classification_head(adapter_name, num_labels=len(labels), id2label=id2label)
    adapter_model.train_adapter(adapter_name)
    return adapter_model, tokenizer


def _report_to(choice: str) -> str:
    if choice != "auto":
        return choice
    return "tensorboard" if importlib.util.find_spec("tensorboard") is not None else "none"


def _limited(rows: list, limit: int | None) -> list:
    return rows if limit is None else rows[:limit]


def run_training(job: TrainJob, model=None, tokenizer=None) -> dict[str, Any]:
    """Train (or resume) the run described by ``job``; returns ``{"metrics", "seconds", "best_checkpoint"}``.

    ``model``/``tokenizer`` may be passed pre-built (from :func:`build_model`); the best epoch's adapter and head are
    loaded back at the end and saved to ``output_dir/<adapter name>``.
    """
    from transformers import TrainingArguments

    from .trainer import AdapterTrainer

    data = job.data
    if model is None:
        model, tokenizer = build_model(job.model, data.task, list(data.labels), job.adapter_name, job.adapter_config)
    metric = TASK_HEADS[data.task][1]
    train = encode(_limited(data.split("train"), job.max_train_examples), data.task, tokenizer, job.max_length)
    held_out = _limited(data.split("validation"), job.max_eval_examples)
    evaluation = encode(held_out, data.task, tokenizer, job.max_length)
    args = TrainingArguments(
        output_dir=job.output_dir,
        num_train_epochs=job.epochs,
        learning_rate=job.learning_rate,
        per_device_train_batch_size=job.batch_size,
        per_device_eval_batch_size=max(job.batch_size, 32),
        eval_strategy="epoch",
        save_strategy="epoch",
        save_total_limit=2,
        load_best_model_at_end=True,
        metric_for_best_model=metric,
        logging_strategy="epoch",
        report_to=_report_to(job.report_to),
        disable_tqdm=not job.progress_bar,
        seed=job.seed,
        data_seed=job.seed,
    )
    trainer = AdapterTrainer(
        model=model,
        args=args,
        train_dataset=train,
        eval_dataset=evaluation,
        processing_class=tokenizer,
        data_collator=data_collator(data.task, tokenizer),
        compute_metrics=compute_metrics_for(data.task, data.labels),
    )
    start = time.perf_counter()
    trainer.train(resume_from_checkpoint=True if job.resume else None)
    seconds = time.perf_counter() - start
    epochs = [
        {k: v for k, v in entry.items() if k.startswith("eval_") or k == "epoch"}
        for entry in trainer.state.log_history
        if f"eval_{metric}" in entry
    ]
    model.save_adapter(str(Path(job.output_dir) / job.adapter_name), job.adapter_name, with_head=True)
    info = RunInfo(job.model, data.name, data.task, list(data.labels), job.adapter_name, job.adapter_config,
                   job.max_length, epochs)  # fmt: skip
    info.save(job.output_dir)
    best = max(epochs, key=lambda e: e[f"eval_{metric}"]) if epochs else {}
    return {"metrics": best, "seconds": seconds, "best_checkpoint": trainer.state.best_model_checkpoint}


def load_adapter_model(model: str, adapter_folder: str | Path):
    """``(model, tokenizer)``: base model ``model`` (path, hub id or alias) with the adapter and head saved in
    ``adapter_folder`` loaded and active, in eval mode.

    Raises:
        ModelLoadError: the base model or the adapter cannot be loaded.
    """
    adapter_model, tokenizer = _load_base(model)
    try:
        adapter_model.load_adapter(str(adapter_folder), set_active=True)
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"Cannot load the adapter in {adapter_folder}: {error}") from error
    return adapter_model.eval(), tokenizer


def load_run(folder: str | Path):
    """``(model, tokenizer, info)``: the base model of a finished run with its best adapter and head, active."""
    info = RunInfo.load(folder)
    model, tokenizer = load_adapter_model(info.model, Path(folder) / info.adapter_name)
    return model, tokenizer, info

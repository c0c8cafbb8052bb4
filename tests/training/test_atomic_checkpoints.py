"""AdapterTrainer's ``checkpoint-N`` folders appear only complete: a checkpoint save that fails midway or is killed
(SIGKILL) leaves no ``checkpoint-N`` and the earlier checkpoints untouched; otherwise the checkpoints, their files
and the best-model bookkeeping are what ``transformers.Trainer`` gives."""

from __future__ import annotations

import inspect
import json
import os
import random
import time
from pathlib import Path

import pytest
from robustness.helpers import python_child, sigkill
from transformers import Trainer, TrainerCallback

from adapters import AdapterTrainer
from adapters.io.atomic import STAGING_MARKER
from training.helpers import tiny_args, tiny_classifier, tiny_dataset

CHECKPOINT_FILES = {"optimizer.pt", "scheduler.pt", "rng_state.pth", "trainer_state.json", "training_args.bin"}
ADAPTER_FILES = {"a/adapter_config.json", "a/adapter.safetensors", "a/head_config.json", "a/model_head.safetensors"}


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _staging(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if STAGING_MARKER in p.name]


@pytest.mark.parametrize("failing", ["_save_optimizer_and_scheduler", "_save_rng_state"])
def test_a_failing_checkpoint_save_leaves_no_checkpoint_and_the_previous_one_intact(failing, tmp_path):
    trainer = AdapterTrainer(model=tiny_classifier(), args=tiny_args(tmp_path, save_strategy="steps", save_steps=1),
                             train_dataset=tiny_dataset())  # fmt: skip
    original, before = getattr(trainer, failing), {}

    def fail_on_the_second_checkpoint(output_dir):
        if trainer.state.global_step == 2:
            before.update(_tree(tmp_path / "checkpoint-1"))
            raise OSError("disk full")
        return original(output_dir)

    setattr(trainer, failing, fail_on_the_second_checkpoint)
    with pytest.raises(OSError, match="disk full"):
        trainer.train()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-1"]  # no checkpoint-2, no staging folder
    assert before and _tree(tmp_path / "checkpoint-1") == before
    assert set(before) >= CHECKPOINT_FILES


def _files(folder: Path) -> dict[str, set[str]]:
    return {p.name: {str(f.relative_to(p)) for f in p.rglob("*") if f.is_file()} for p in folder.glob("checkpoint-*")}


def _best_paths(folder: Path) -> dict[str, str | None]:
    """``best_model_checkpoint`` of every checkpoint's trainer_state.json, relative to ``folder``."""
    states = {p.name: json.loads((p / "trainer_state.json").read_text()) for p in folder.glob("checkpoint-*")}
    return {name: s["best_model_checkpoint"] and os.path.relpath(s["best_model_checkpoint"], folder)
            for name, s in states.items()}  # fmt: skip


def test_checkpoints_and_best_model_bookkeeping_match_trainer(tmp_path):
    data, runs = tiny_dataset(), {}
    for kind, trainer_class in (("plain", Trainer), ("adapters", AdapterTrainer)):
        args = tiny_args(tmp_path / kind, max_steps=6, eval_strategy="steps", eval_steps=1, save_strategy="steps",
                         save_steps=1, save_total_limit=2, load_best_model_at_end=True, label_names=["labels"],
                         metric_for_best_model="eval_loss", greater_is_better=True)  # fmt: skip
        trainer = trainer_class(model=tiny_classifier(), args=args, train_dataset=data, eval_dataset=data[:8])
        trainer.train()
        runs[kind] = trainer.state.best_model_checkpoint, tmp_path / kind
    (plain_best, plain_dir), (best, folder) = runs["plain"], runs["adapters"]
    assert os.path.relpath(best, folder) == os.path.relpath(plain_best, plain_dir)
    assert Path(best).is_dir() and STAGING_MARKER not in best and not _staging(folder)
    plain_files, files = _files(plain_dir), _files(folder)
    assert set(files) == set(plain_files) and len(files) == 2  # the limit, with the best one kept
    model_files = {"model.safetensors", "config.json"}
    for name, names in files.items():
        assert names == plain_files[name] - model_files | ADAPTER_FILES
        assert names >= CHECKPOINT_FILES
    assert _best_paths(folder) == _best_paths(plain_dir)
    assert all(path and STAGING_MARKER not in path for path in _best_paths(folder).values())


_TRAINING_UNTIL_KILLED = """
import sys, time
sys.path.insert(0, {tests!r})
import torch
from adapters import AdapterTrainer
from robustness.helpers import python_child, sigkill
from training.helpers import tiny_args, tiny_classifier, tiny_dataset

original_save = torch.save


def slow_save(*args, **kwargs):  # every torch.save of a checkpoint (arguments, optimizer, scheduler, rng) is slow
    time.sleep(0.05)
    return original_save(*args, **kwargs)


class Announcing(AdapterTrainer):
    def _save_checkpoint(self, model, trial):
        print("saving", self.state.global_step, flush=True)
        super()._save_checkpoint(model, trial)


torch.save = slow_save
args = tiny_args({folder!r}, max_steps=10_000, save_strategy="steps", save_steps=1)
Announcing(model=tiny_classifier(), args=args, train_dataset=tiny_dataset()).train()
"""


class _CountSteps(TrainerCallback):
    def __init__(self):
        self.steps = 0

    def on_step_end(self, args, state, control, **kwargs):
        self.steps += 1


def test_a_process_killed_while_checkpointing_leaves_only_complete_checkpoints(tmp_path):
    folder = tmp_path / "out"
    script = _TRAINING_UNTIL_KILLED.format(tests=str(Path(__file__).parents[1]), folder=str(folder))
    with python_child(script) as child:
        for line in child.stdout:  # three checkpoints are complete and the fourth has started
            if line.strip() == "saving 4":
                break
        time.sleep(random.Random().uniform(0.0, 0.18))  # within the four slow writes of checkpoint-4
        sigkill(child)
    orphans = _staging(folder)
    assert len(orphans) == 1 and orphans[0].startswith(".checkpoint-4"), orphans
    files = _files(folder)
    assert sorted(files) == ["checkpoint-1", "checkpoint-2", "checkpoint-3"]
    assert all(names == CHECKPOINT_FILES | ADAPTER_FILES for names in files.values())
    steps = _CountSteps()
    trainer = AdapterTrainer(model=tiny_classifier(adapter_seed=5), callbacks=[steps], train_dataset=tiny_dataset(),
                             args=tiny_args(folder, max_steps=5, save_strategy="steps", save_steps=1))  # fmt: skip
    trainer.train(resume_from_checkpoint=True)
    assert steps.steps == 2 and trainer.state.global_step == 5  # resumed from checkpoint-3
    assert not _staging(folder)  # the next checkpoint save removed the dead process's staging folder
    assert set(_files(folder)) == {f"checkpoint-{n}" for n in range(1, 6)}
    assert _files(folder)["checkpoint-4"] == CHECKPOINT_FILES | ADAPTER_FILES


def test_the_trainer_methods_a_checkpoint_is_composed_of_still_exist():
    # save_checkpoint_atomically calls these Trainer methods; fail loudly if transformers renames them
    one_folder = ["self", "output_dir"]
    assert list(inspect.signature(Trainer._save_checkpoint).parameters) == ["self", "model", "trial"]
    for method in (Trainer._save_optimizer_and_scheduler, Trainer._save_scaler, Trainer._save_rng_state):
        assert list(inspect.signature(method).parameters) == one_folder
    assert list(inspect.signature(Trainer._push_from_checkpoint).parameters) == ["self", "checkpoint_folder"]
    assert list(inspect.signature(Trainer._get_output_dir).parameters) == ["self", "trial"]

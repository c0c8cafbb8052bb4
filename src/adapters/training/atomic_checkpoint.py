"""Trainer checkpoints that appear only complete.

``Trainer._save_checkpoint`` writes the model, optimizer, scheduler, scaler, random states and trainer state straight
into ``<run dir>/checkpoint-N``; a process killed halfway leaves a partial ``checkpoint-N`` that
``get_last_checkpoint`` (``resume_from_checkpoint=True``) would pick. :func:`save_checkpoint_atomically` writes the
same files with ``Trainer``'s own methods into one staging folder next to it (``.checkpoint-N.adapters-tmp-<pid>-*``,
see :mod:`adapters.io.atomic`, a name transformers' ``checkpoint-<n>`` pattern does not match), moves it into place,
and only then does what needs the final folder (pushing it to the hub, rotating old checkpoints). The best-model
bookkeeping names the final folder, so ``state.best_model_checkpoint`` and the saved ``trainer_state.json`` are what
``Trainer`` gives.

Several processes (DDP) write into the same staging folder (each adds its ``rng_state_<rank>.pth``): the process that
saves (rank 0, or each node's first process with ``save_on_each_node``) creates it and shares its path; it moves the
folder after every process has written. Sharded setups (DeepSpeed, FSDP, XLA, SageMaker model parallel) write their
checkpoints through their own libraries and keep ``Trainer``'s behaviour (:func:`can_stage`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch.distributed as dist
from transformers.trainer import TRAINER_STATE_NAME
from transformers.trainer_callback import ExportableState
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, SaveStrategy, rotate_checkpoints
from transformers.utils import is_sagemaker_mp_enabled, is_torch_xla_available

from ..io.atomic import atomic_folder

__all__ = ["can_stage", "checkpoint_staging", "save_checkpoint_atomically"]


def can_stage(trainer) -> bool:
    """Whether ``trainer``'s checkpoints can be staged (not for sharded setups that save through their libraries)."""
    sharded = trainer.is_deepspeed_enabled or trainer.is_fsdp_enabled
    return not (sharded or is_torch_xla_available() or is_sagemaker_mp_enabled())


def _several_processes(args) -> bool:
    return args.world_size > 1 and dist.is_available() and dist.is_initialized()


def _shared_path(own: str | None, args) -> str:
    """The staging path of the process that saves for this process (rank 0, or this node's first process)."""
    paths: list[str | None] = [None] * dist.get_world_size()
    dist.all_gather_object(paths, own)
    saver = args.process_index - args.local_process_index if args.save_on_each_node else 0
    path = paths[saver]
    if path is None:
        raise RuntimeError(f"Process {saver} shared no checkpoint staging folder (process {args.process_index}).")
    return path


@contextmanager
def checkpoint_staging(final_dir: str, args) -> Iterator[str]:
    """Yield the folder every process writes the checkpoint into; on a normal exit it has become ``final_dir`` (on
    every process: all of them wait for the move). If the body raises, the staging folder is removed and
    ``final_dir`` is untouched."""
    if not _several_processes(args):
        with atomic_folder(final_dir, link_existing=False) as staging:
            yield str(staging)
        return
    if args.should_save:
        with atomic_folder(final_dir, link_existing=False, before_move=dist.barrier) as staging:
            yield _shared_path(str(staging), args)
    else:
        yield _shared_path(None, args)
        dist.barrier()  # the saving process moves the folder after this
    dist.barrier()  # the folder is in place for everyone


def _record_callback_states(trainer) -> None:
    """Store the states of ``ExportableState`` callbacks (and of ``control``) in ``trainer.state``, as ``Trainer``
    does before writing ``trainer_state.json``."""
    stateful = trainer.state.stateful_callbacks
    for callback in [*trainer.callback_handler.callbacks, trainer.control]:
        if not isinstance(callback, ExportableState):
            continue
        name = type(callback).__name__
        if isinstance(stateful[name], list):
            stateful[name].append(callback.state())
        else:
            stateful[name] = callback.state()


def _note_best_checkpoint(trainer, run_dir: str, final_dir: str) -> None:
    """Point ``state.best_model_checkpoint`` at the best step's checkpoint if it exists (or is this one)."""
    state = trainer.state
    strategies = (SaveStrategy.STEPS, SaveStrategy.EPOCH, SaveStrategy.BEST)
    if trainer.args.save_strategy not in strategies or not state.best_global_step:
        return
    best = os.path.join(run_dir, f"{PREFIX_CHECKPOINT_DIR}-{state.best_global_step}")
    if best == final_dir or os.path.exists(best):
        state.best_model_checkpoint = best


def save_checkpoint_atomically(trainer, trial) -> None:
    """``Trainer._save_checkpoint`` with ``checkpoint-N`` written as one unit (see the module docstring)."""
    args = trainer.args
    if trainer.hp_search_backend is None and trial is None:
        trainer.store_flos()
    run_dir = trainer._get_output_dir(trial=trial)
    final_dir = os.path.join(run_dir, f"{PREFIX_CHECKPOINT_DIR}-{trainer.state.global_step}")
    with checkpoint_staging(final_dir, args) as staging:
        trainer.save_model(staging, _internal_call=True)
        _note_best_checkpoint(trainer, run_dir, final_dir)
        if not args.save_only_model:
            trainer._save_optimizer_and_scheduler(staging)
            trainer._save_scaler(staging)
            trainer._save_rng_state(staging)
        if args.should_save:
            _record_callback_states(trainer)
            trainer.state.save_to_json(os.path.join(staging, TRAINER_STATE_NAME))
    if args.push_to_hub:
        trainer._push_from_checkpoint(final_dir)
    if args.should_save:
        rotate_checkpoints(
            output_dir=run_dir,
            save_total_limit=args.save_total_limit,
            best_model_checkpoint=trainer.state.best_model_checkpoint,
            use_mtime=True,
        )

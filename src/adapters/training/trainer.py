"""``AdapterTrainer`` and ``Seq2SeqAdapterTrainer``: transformers' ``Trainer`` for models with adapters.

What changes compared to ``Trainer``:

* checkpoints (and ``save_model``) hold only adapters, heads and fusions, in the reference layout
  (:mod:`adapters.training.checkpoint`); ``resume_from_checkpoint`` and ``load_best_model_at_end`` read that layout;
* a ``checkpoint-N`` folder appears only complete: all its files are written into a staging folder that is then
  moved into place (:mod:`adapters.training.atomic_checkpoint`; not for DeepSpeed, FSDP, XLA);
* a model without an active adapter setup, or whose base model is not frozen, is refused with a
  :class:`~adapters.errors.TrainingSetupError` naming the call to make (``model.train_adapter(...)``);
* while fusion layers are trained, the fusion value regularisation ``Σ 0.01 ‖I − W_value‖²`` is added to the loss,
  and fusion value matrices get no weight decay;
* the label names come from the active heads (``labels``, or ``start_positions``/``end_positions`` for QA).

Everything else (data loading, distributed training, logging, callbacks) is ``Trainer``'s own. Saving goes
through ``Trainer``'s public ``save_model``, checkpoints through ``_save_checkpoint`` (composed of ``Trainer``'s own
save steps); loading through the two checkpoint readers ``Trainer`` calls (``_load_from_checkpoint``,
``_load_best_model``): ``Trainer`` offers no public hook for a checkpoint layout of its own, and
``tests/training/test_trainer.py`` checks those names against the installed transformers.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from transformers import Seq2SeqTrainer, Trainer

from ..composition import Fuse
from ..errors import TrainingSetupError
from ..io.atomic import atomic_save
from .atomic_checkpoint import can_stage, save_checkpoint_atomically
from .checkpoint import check_trainable, load_checkpoint, save_checkpoint

__all__ = ["AdapterTrainer", "Seq2SeqAdapterTrainer"]

TRAINING_ARGS_NAME = "training_args.bin"


def _require_adapter_setup(model) -> None:
    if model is None:
        return
    if not hasattr(model, "adapters_config"):
        raise TrainingSetupError(
            f"{type(model).__name__} has no adapter support: call adapters.init(model) (or load it with "
            "AutoAdapterModel), add an adapter and call model.train_adapter(<name>) before creating AdapterTrainer."
        )
    if model.active_adapters is None:
        known = ", ".join(sorted(model.adapters_config.adapters)) or "none (add one with model.add_adapter)"
        raise TrainingSetupError(
            "Expected a model with an active adapter setup: call model.train_adapter(<name>) (or "
            "model.set_active_adapters(...)), or pass adapter_names= to AdapterTrainer. Adapters on this model: "
            f"{known}."
        )


def _fusion_in_training(model) -> bool:
    """Whether a fusion layer of the active setup has trainable parameters."""
    setup = model.active_adapters
    fuses = [b for b in ([setup, *setup] if setup is not None else []) if isinstance(b, Fuse)]
    return any(p.requires_grad for fuse in fuses for p in model._fusion_parameters(fuse.name))


def _head_label_names(model) -> list[str] | None:
    heads = getattr(model, "heads", None)
    if heads is None:
        return None
    active = model.active_head
    names = [active] if isinstance(active, str) else list(active or [])
    labels: list[str] = []
    for name in names:
        for label in heads[name].get_label_names() if name in heads else []:
            if label not in labels:
                labels.append(label)
    return labels or None


class AdapterTrainer(Trainer):
    """``transformers.Trainer`` for adapter training (see the module docstring for what differs).

    Args (besides ``Trainer``'s):
        adapter_names: an adapter setup to activate before training (``model.set_active_adapters(adapter_names)``).
        tokenizer: accepted for code written against older transformers; same as ``processing_class``.
    """

    def __init__(
        self,
        model=None,
        args=None,
        data_collator=None,
        train_dataset=None,
        eval_dataset=None,
        tokenizer=None,
        model_init=None,
        compute_metrics=None,
        callbacks=None,
        adapter_names: Any = None,
        optimizers=(None, None),
        preprocess_logits_for_metrics=None,
        processing_class=None,
        **kwargs: Any,
    ):
        if model is not None and adapter_names is not None:
            model.set_active_adapters(adapter_names)
        _require_adapter_setup(model)
        super().__init__(
            model=model,
            args=args,
            data_collator=data_collator,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            processing_class=processing_class if processing_class is not None else tokenizer,
            model_init=model_init,
            compute_metrics=compute_metrics,
            callbacks=callbacks,
            optimizers=optimizers,
            preprocess_logits_for_metrics=preprocess_logits_for_metrics,
            **kwargs,
        )
        if self.args.label_names is None:
            self.label_names = _head_label_names(self.model) or self.label_names

    # refusal -----------------------------------------------------------------------------------------------------
    def train(self, resume_from_checkpoint: str | bool | None = None, trial=None, **kwargs: Any):
        """``Trainer.train`` after checking that the model is ready for adapter training (see the class doc)."""
        if self.is_fsdp_enabled:
            raise TrainingSetupError(
                "AdapterTrainer does not support FSDP yet: its checkpoints are written from the model's parameters, "
                "which FSDP shards. Train adapters with DDP (torchrun / accelerate launch without an FSDP config)."
            )
        model = self.model if self.model_init is None else None
        _require_adapter_setup(model)
        if model is not None:
            check_trainable(model)
        return super().train(resume_from_checkpoint=resume_from_checkpoint, trial=trial, **kwargs)

    # loss and optimizer ------------------------------------------------------------------------------------------
    def compute_loss(self, model, inputs, return_outputs: bool = False, num_items_in_batch=None):
        """``Trainer.compute_loss`` plus the fusion value regularisation while fusion layers are trained."""
        result = super().compute_loss(
            model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch
        )
        unwrapped = self.accelerator.unwrap_model(model)
        if not (unwrapped.training and _fusion_in_training(unwrapped)):
            return result
        regularization = unwrapped.get_fusion_regularization_loss()
        if regularization is None:
            return result
        if self._loss_scaled_for_accumulation(num_items_in_batch):
            regularization = regularization / self.args.gradient_accumulation_steps
        loss, outputs = result if return_outputs else (result, None)
        loss = loss + regularization.to(loss.device)
        return (loss, outputs) if return_outputs else loss

    def _loss_scaled_for_accumulation(self, num_items_in_batch) -> bool:
        """Mirrors ``Trainer.training_step``: whether it will *not* divide the loss by the accumulation steps."""
        if self.loss_is_scaled_for_ga is not None:
            return bool(self.loss_is_scaled_for_ga)
        return bool(self.model_accepts_loss_kwargs and num_items_in_batch is not None) or (
            self.compute_loss_func is not None
        )

    def get_decay_parameter_names(self, model) -> list[str]:
        """``Trainer``'s choice, minus the fusion value matrices (regularised towards the identity instead)."""
        names = super().get_decay_parameter_names(model)
        return [n for n in names if not ("adapter_fusion_layer." in n and ".value." in n)]

    # saving and loading ------------------------------------------------------------------------------------------
    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        """Save the adapters, fusions and heads (no base-model weights), the processing class and the arguments.

        Only the process with ``args.should_save`` (rank 0) writes.
        """
        output_dir = output_dir if output_dir is not None else self.args.output_dir
        if not self.args.should_save:
            return
        self._save_adapters_and_args(output_dir)

    @atomic_save("output_dir", link_existing=False)  # the processing class may rewrite files in place
    def _save_adapters_and_args(self, output_dir: str) -> None:
        """Write the adapters, fusions, heads, processing class and arguments into ``output_dir`` as one unit."""
        save_checkpoint(self.accelerator.unwrap_model(self.model), output_dir)
        if self.processing_class is not None:
            self.processing_class.save_pretrained(output_dir)
        torch.save(self.args, os.path.join(output_dir, TRAINING_ARGS_NAME))

    def _save_checkpoint(self, model, trial) -> None:
        """``Trainer._save_checkpoint``, with the checkpoint folder written as one unit (see the module docstring)."""
        if not can_stage(self):
            return super()._save_checkpoint(model, trial)
        save_checkpoint_atomically(self, trial)

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model=None) -> None:
        target = model if model is not None else self.model
        load_checkpoint(self.accelerator.unwrap_model(target), resume_from_checkpoint)

    def _load_best_model(self) -> None:
        load_checkpoint(self.accelerator.unwrap_model(self.model), self.state.best_model_checkpoint)


class Seq2SeqAdapterTrainer(AdapterTrainer, Seq2SeqTrainer):
    """``Seq2SeqTrainer`` (generation in evaluation, ``predict_with_generate``) for adapter training."""

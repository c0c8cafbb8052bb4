"""AdapterTrainer: adapter-only checkpoints, resuming, best model, refusals, label names, Seq2SeqAdapterTrainer."""

from __future__ import annotations

import inspect

import pytest
import torch
from transformers import Trainer, TrainerCallback

import adapters
from adapters import AdapterTrainer, AutoAdapterModel, Seq2SeqAdapterTrainer, TrainingSetupError
from adapters.training import load_checkpoint
from tiny_models import VOCAB, config, inputs
from training.helpers import adapter_weights, tiny_args, tiny_classifier, tiny_dataset


def test_reference_import_paths():
    from adapters.trainer import AdapterTrainer as from_trainer
    from adapters.training import AdapterArguments, setup_adapter_training

    assert from_trainer is AdapterTrainer is adapters.AdapterTrainer
    assert adapters.AdapterArguments is AdapterArguments and adapters.setup_adapter_training is setup_adapter_training
    assert {"AdapterTrainer", "Seq2SeqAdapterTrainer", "AdapterArguments", "setup_adapter_training"} <= set(
        adapters.__all__
    )


def test_trainer_loader_methods_still_exist():
    # AdapterTrainer overrides the two checkpoint readers Trainer calls; fail loudly if transformers renames them
    assert list(inspect.signature(Trainer._load_from_checkpoint).parameters) == [
        "self",
        "resume_from_checkpoint",
        "model",
    ]
    assert list(inspect.signature(Trainer._load_best_model).parameters) == ["self"]


def test_checkpoint_holds_only_adapter_and_head(tmp_path):
    model = tiny_classifier()
    trainer = AdapterTrainer(
        model=model, args=tiny_args(tmp_path, save_strategy="steps", save_steps=2), train_dataset=tiny_dataset()
    )
    trainer.train()
    checkpoint = tmp_path / "checkpoint-4"
    assert {p.name for p in checkpoint.iterdir()} == {
        "a", "optimizer.pt", "rng_state.pth", "scheduler.pt", "trainer_state.json", "training_args.bin"
    }  # fmt: skip
    assert {p.name for p in (checkpoint / "a").iterdir()} == {
        "adapter_config.json", "adapter.safetensors", "head_config.json", "model_head.safetensors"
    }  # fmt: skip
    fresh = tiny_classifier(adapter_seed=3)
    assert load_checkpoint(fresh, checkpoint) == ["a"]
    expected, loaded = adapter_weights(model), adapter_weights(fresh)
    assert expected.keys() == loaded.keys() and len(expected) == 12
    for key in expected:
        torch.testing.assert_close(loaded[key], expected[key], rtol=0, atol=0)


class _StopAfter(TrainerCallback):
    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        control.should_training_stop = state.global_step >= self.step


def test_resumed_run_equals_uninterrupted_run(tmp_path):
    args = {"save_strategy": "steps", "save_steps": 2, "max_steps": 6}
    full = tiny_classifier()
    AdapterTrainer(model=full, args=tiny_args(tmp_path / "full", **args), train_dataset=tiny_dataset()).train()
    interrupted = tiny_classifier()
    AdapterTrainer(
        model=interrupted,
        args=tiny_args(tmp_path / "part", **args),
        train_dataset=tiny_dataset(),
        callbacks=[_StopAfter(2)],  # as if the process were killed after step 2
    ).train()
    resumed = tiny_classifier(adapter_seed=7)  # its own initial weights must be replaced by the checkpoint's
    trainer = AdapterTrainer(model=resumed, args=tiny_args(tmp_path / "part", **args), train_dataset=tiny_dataset())
    trainer.train(resume_from_checkpoint=True)  # the last checkpoint in output_dir: checkpoint-2
    assert trainer.state.global_step == 6
    expected, got = adapter_weights(full), adapter_weights(resumed)
    assert any(not torch.equal(v, adapter_weights(tiny_classifier())[k]) for k, v in expected.items())
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=0, atol=0)
    assert all(p.requires_grad for _, p in resumed._adapter_parameters("a"))
    assert not any(p.requires_grad for p in resumed.base_model.embeddings.parameters())


def test_load_best_model_at_end_reloads_the_best_checkpoint(tmp_path):
    model = tiny_classifier()
    args = tiny_args(
        tmp_path,
        eval_strategy="steps",
        eval_steps=1,
        save_strategy="steps",
        save_steps=1,
        load_best_model_at_end=True,
        metric_for_best_model="eval_loss",
        greater_is_better=True,  # the *highest* loss: the first checkpoint, not the last one
    )
    data = tiny_dataset()
    trainer = AdapterTrainer(model=model, args=args, train_dataset=data, eval_dataset=data[:8])
    trainer.train()
    best = trainer.state.best_model_checkpoint
    assert best is not None and not best.endswith("checkpoint-4")
    from_best, from_last = tiny_classifier(adapter_seed=3), tiny_classifier(adapter_seed=3)
    load_checkpoint(from_best, best)
    load_checkpoint(from_last, tmp_path / "checkpoint-4")
    now, best_weights, last_weights = adapter_weights(model), adapter_weights(from_best), adapter_weights(from_last)
    assert all(torch.equal(now[k], best_weights[k]) for k in now)
    assert not all(torch.equal(now[k], last_weights[k]) for k in now)
    assert model.active_adapters == adapters.Stack("a") and model.active_head == "a"


def test_save_model_writes_adapters_not_the_base_model(tmp_path):
    model = tiny_classifier()
    AdapterTrainer(model=model, args=tiny_args(tmp_path), train_dataset=tiny_dataset()).save_model(tmp_path / "out")
    names = {p.name for p in (tmp_path / "out").iterdir()}
    assert names == {"a", "training_args.bin"}


def test_refuses_a_model_without_an_active_setup(tmp_path):
    model = tiny_classifier()
    model.set_active_adapters(None)
    with pytest.raises(TrainingSetupError, match=r"train_adapter\(<name>\)") as error:
        AdapterTrainer(model=model, args=tiny_args(tmp_path), train_dataset=tiny_dataset())
    assert isinstance(error.value, ValueError)


def test_adapter_names_activates_the_setup(tmp_path):
    model = tiny_classifier()
    model.set_active_adapters(None)
    AdapterTrainer(model=model, args=tiny_args(tmp_path), train_dataset=tiny_dataset(), adapter_names="a")
    assert model.active_adapters == adapters.Stack("a")


def test_refuses_an_unfrozen_base_model_and_leaves_it_untouched(tmp_path):
    model = tiny_classifier()
    model.freeze_model(False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer = AdapterTrainer(model=model, args=tiny_args(tmp_path), train_dataset=tiny_dataset())
    with pytest.raises(TrainingSetupError, match=r"not frozen: .*Call model\.train_adapter"):
        trainer.train()
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not (tmp_path / "checkpoint-4").exists()


def test_refuses_a_model_without_adapter_support(tmp_path):
    from transformers import BertForSequenceClassification

    with pytest.raises(TrainingSetupError, match=r"adapters\.init\(model\)"):
        AdapterTrainer(model=BertForSequenceClassification(config("bert")), args=tiny_args(tmp_path))


def test_static_head_model_checkpoint_round_trip(tmp_path):
    from transformers import BertForSequenceClassification

    torch.manual_seed(0)
    model = adapters.init(BertForSequenceClassification(config("bert")))
    model.add_adapter("a")
    model.train_adapter("a")
    assert model.classifier.weight.requires_grad  # the static head trains with the adapter
    AdapterTrainer(model=model, args=tiny_args(tmp_path), train_dataset=tiny_dataset()).train()
    AdapterTrainer(model=model, args=tiny_args(tmp_path), train_dataset=tiny_dataset()).save_model(tmp_path / "out")
    torch.manual_seed(0)
    fresh = adapters.init(BertForSequenceClassification(config("bert")))
    fresh.add_adapter("a")
    fresh.train_adapter("a")
    load_checkpoint(fresh, tmp_path / "out")
    torch.testing.assert_close(fresh.classifier.weight, model.classifier.weight, rtol=0, atol=0)


def test_label_names_come_from_the_active_head(tmp_path):
    model = tiny_classifier()
    model.add_qa_head("qa")
    model.add_adapter("qa")
    model.train_adapter("qa")
    trainer = AdapterTrainer(model=model, args=tiny_args(tmp_path))
    assert trainer.label_names == ["start_positions", "end_positions"]


@pytest.mark.parametrize("trainer_class", [AdapterTrainer, Trainer], ids=["AdapterTrainer", "Trainer"])
def test_gradient_accumulation_scales_like_one_big_batch(tmp_path, trainer_class):
    # flexible heads average their loss themselves (accepts_loss_kwargs=False tells transformers' Trainer too):
    # 2 x 2 accumulated rows must equal one batch of 4
    big, accumulated = tiny_classifier(dropout=0.0), tiny_classifier(dropout=0.0)
    data = tiny_dataset(8)
    trainer_class(model=big, args=tiny_args(tmp_path / "1", max_steps=2), train_dataset=data).train()
    trainer_class(
        model=accumulated,
        args=tiny_args(tmp_path / "2", max_steps=2, per_device_train_batch_size=2, gradient_accumulation_steps=2),
        train_dataset=data,
    ).train()
    expected, got = adapter_weights(big), adapter_weights(accumulated)
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=1e-4, atol=1e-5)


def test_seq2seq_adapter_trainer_trains_and_predicts_with_generate(tmp_path):
    from transformers import Seq2SeqTrainingArguments

    torch.manual_seed(0)
    model = AutoAdapterModel.from_config(config("t5"))
    model.add_adapter("s2s", config="lora")
    model.add_seq2seq_lm_head("s2s")
    model.train_adapter("s2s")
    batch = inputs("t5")
    rows = [{"input_ids": batch["input_ids"][i], "labels": batch["decoder_input_ids"][i]} for i in range(2)]
    args = Seq2SeqTrainingArguments(
        output_dir=str(tmp_path), max_steps=2, per_device_train_batch_size=2, report_to="none", use_cpu=True,
        disable_tqdm=True, predict_with_generate=True, generation_max_length=4, save_strategy="no",
    )  # fmt: skip
    before = {k: v.clone() for k, v in model.state_dict().items() if "loras.s2s." in k}
    trainer = Seq2SeqAdapterTrainer(model=model, args=args, train_dataset=rows)
    trainer.train()
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items() if k in before)
    predictions = trainer.predict(rows).predictions
    assert predictions.shape[0] == 2 and ((predictions >= 0) & (predictions < VOCAB)).all()
    assert (predictions[:, 4:] == model.config.pad_token_id).all()  # at most 4 tokens generated, then padding


def test_refuses_fsdp_instead_of_writing_sharded_adapters(tmp_path):
    # FSDP is only enabled on accelerator devices; the flag is what Trainer derives from accelerate's state
    trainer = AdapterTrainer(model=tiny_classifier(), args=tiny_args(tmp_path), train_dataset=tiny_dataset())
    trainer.is_fsdp_enabled = True
    with pytest.raises(TrainingSetupError, match="does not support FSDP"):
        trainer.train()

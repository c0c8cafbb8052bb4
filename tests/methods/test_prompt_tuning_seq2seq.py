"""Prompt tuning on encoder-decoder models (T5, mT5, BART, mBART, PLBart): the prompt joins the encoder's input,
the encoder's mask and the decoder's cross-attention mask cover it, also in ``generate()`` (whose encoder call is a
call of its own); T5 learns a tiny task with it."""

from __future__ import annotations

import pytest
import torch
import transformers
from methods.generation import assert_cached_generation_equals_uncached, generation_model

import adapters
from contract.helpers import randomize_adapter
from tiny_models import VOCAB, config

SEQ2SEQ = ("t5", "mt5", "bart", "mbart", "plbart")


def _seq2seq_lm(family: str, prompt: str = "prompt_tuning[prompt_length=3]"):
    torch.manual_seed(0)
    model = transformers.AutoModelForSeq2SeqLM.from_config(config(family)).eval()
    adapters.init(model)
    model.add_adapter("a", config=prompt, set_active=True)
    randomize_adapter(model, "a", std=1.0)
    return model


def _batch():
    generator = torch.Generator().manual_seed(5)
    ids = torch.randint(3, VOCAB, (2, 6), generator=generator)
    mask = torch.ones(2, 6, dtype=torch.long)
    mask[1, -2:] = 0
    return {"input_ids": ids, "attention_mask": mask, "decoder_input_ids": torch.randint(3, VOCAB, (2, 4))}


@pytest.mark.parametrize("combine", ["prefix", "prefix_after_bos"])
@pytest.mark.parametrize("family", SEQ2SEQ)
def test_the_prompt_joins_the_encoder_input_and_padding_stays_hidden(family, combine):
    """The encoder output has P more positions (the prompt's); a padded row equals the same row run alone, so the
    encoder mask and the decoder's cross-attention mask both cover the prompt and still hide the padding."""
    model = _seq2seq_lm(family, f"prompt_tuning[prompt_length=3, combine='{combine}']")
    batch = _batch()
    with torch.no_grad():
        out = model(**batch)
        alone = model(
            input_ids=batch["input_ids"][1:, :4],
            attention_mask=batch["attention_mask"][1:, :4],
            decoder_input_ids=batch["decoder_input_ids"][1:],
        )
        model.set_active_adapters(None)
        plain = model(**batch)
    assert out.encoder_last_hidden_state.shape[1] == plain.encoder_last_hidden_state.shape[1] + 3
    assert out.logits.shape == plain.logits.shape and (out.logits - plain.logits).abs().max() > 1e-3
    torch.testing.assert_close(out.logits[1:], alone.logits, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("family", ["t5", "bart"])
def test_cached_generation_equals_uncached(family):
    """``generate()`` runs the encoder on its own, then the decoder with the encoder's output (prompt included)."""
    model = generation_model(family, "prompt_tuning[prompt_length=3]", std=1.0)
    assert_cached_generation_equals_uncached(model, family)
    ids = torch.randint(3, VOCAB, (2, 5), generator=torch.Generator().manual_seed(2))
    settings = {"max_new_tokens": 2, "do_sample": False, "output_scores": True, "return_dict_in_generate": True}
    prompted = model.generate(ids, **settings).scores[0]
    model.set_active_adapters(None)
    assert (model.generate(ids, **settings).scores[0] - prompted).abs().max() > 1e-3


def test_padded_generation_equals_the_row_alone():
    model = _seq2seq_lm("t5")
    batch = _batch()
    settings = {"max_new_tokens": 5, "do_sample": False}
    padded = model.generate(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], **settings)
    alone = model.generate(input_ids=batch["input_ids"][1:, :4], **settings)
    assert torch.equal(padded[1:, : alone.shape[1]], alone)


def test_labels_are_the_decoders_and_stay_unpadded():
    """Seq2seq labels belong to the decoder (no prompt there): the loss is the model's own loss on the logits."""
    model = _seq2seq_lm("t5")
    batch = _batch()
    labels = torch.randint(3, VOCAB, (2, 4))
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=labels)
    expected = torch.nn.functional.cross_entropy(out.logits.reshape(-1, VOCAB), labels.reshape(-1))
    torch.testing.assert_close(out.loss, expected)


def _target_log_probs(scores: tuple[torch.Tensor, ...], target: torch.Tensor) -> torch.Tensor:
    """Log-probabilities ``(batch, steps)`` that generation's per-step scores give the target tokens."""
    log_probs = torch.stack(scores, dim=1).log_softmax(-1)
    return log_probs.gather(-1, target.expand(log_probs.shape[0], -1).unsqueeze(-1)).squeeze(-1)


def test_t5_prompt_tuning_learns_a_tiny_task_and_generates_with_the_trained_prompt():
    """Only the prompt trains (the model is frozen); the loss on a fixed task (always answer ``target``) goes down
    clearly; ``generate()`` then runs with the trained prompt: its greedy step scores are the trained model's
    teacher-forced logits, and they give the target tokens a clearly higher probability than before training."""
    model = _seq2seq_lm("t5", "prompt_tuning[prompt_length=8]")
    model.train_adapter("a")
    model.eval()  # no dropout: the loss curve is deterministic
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable == ["prompt_tuning.prompt_tunings.a.prompt_embedding.weight"]
    ids = torch.randint(3, VOCAB, (8, 5), generator=torch.Generator().manual_seed(7))
    target = torch.tensor([5, 9, 13, 17])
    labels = target.repeat(8, 1)
    settings = {"max_new_tokens": 4, "do_sample": False, "output_scores": True, "return_dict_in_generate": True}
    with torch.no_grad():
        before = _target_log_probs(model.generate(ids, **settings).scores, target)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=0.3)
    losses = []
    for _ in range(30):
        loss = model(input_ids=ids, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses  # measured: 5.65 -> 3.11 in 30 steps

    with torch.no_grad():
        generated = model.generate(ids, **settings)
        forced = model(input_ids=ids, decoder_input_ids=generated.sequences[:, :-1]).logits
    torch.testing.assert_close(torch.stack(generated.scores, dim=1), forced, atol=1e-4, rtol=1e-4)
    # the target's first token: log-probability measured -5.7 before training, -3.2 after
    after = _target_log_probs(generated.scores, target)
    assert (after[:, 0] - before[:, 0]).min() > 1.0, (before[:, 0], after[:, 0])

"""Generation checks shared by the prefix tuning, prompt tuning and ReFT tests: an AutoAdapterModel with an LM head
and an adapter, and "cached generate() == greedy decoding with full forwards and no cache" (tokens and logits)."""

from __future__ import annotations

import torch
import transformers

import adapters
from contract.helpers import randomize_adapter
from heads.head_inputs import head_config
from tiny_models import ENCODER_DECODER, VOCAB


def _greedy_scores(model, input_ids, steps: int, encoder_decoder: bool) -> tuple[torch.Tensor, list]:
    """Tokens and last-position logits of greedy decoding with full forwards and no cache."""
    if encoder_decoder:
        tokens = torch.full((input_ids.shape[0], 1), model.generation_config.decoder_start_token_id)
    else:
        tokens = input_ids
    scores = []
    for _ in range(steps):
        with torch.no_grad():
            if encoder_decoder:
                logits = model(input_ids=input_ids, decoder_input_ids=tokens, use_cache=False).logits
            else:
                logits = model(input_ids=tokens, use_cache=False).logits
        scores.append(logits[:, -1])
        tokens = torch.cat([tokens, logits[:, -1:].argmax(-1)], dim=-1)
    return tokens, scores


def generation_model(family: str, spec: str, std: float = 0.5):
    torch.manual_seed(0)
    model = adapters.AutoAdapterModel.from_config(head_config(family)).eval()
    model.add_adapter("a", config=spec)
    randomize_adapter(model, "a", std=std)
    if family in ENCODER_DECODER:
        model.add_seq2seq_lm_head("a")
    else:
        model.add_causal_lm_head("a")
    model.set_active_adapters("a")
    return model


def assert_cached_generation_equals_uncached(model, family: str, steps: int = 6) -> torch.Tensor:
    ids = torch.randint(3, VOCAB, (2, 5), generator=torch.Generator().manual_seed(2))
    plain = transformers.GenerationConfig(  # greedy, no EOS / forced tokens: the scores are the raw logits
        max_new_tokens=steps,
        do_sample=False,
        pad_token_id=0,
        decoder_start_token_id=model.generation_config.decoder_start_token_id,
    )
    for name in ("eos_token_id", "forced_bos_token_id", "forced_eos_token_id"):
        setattr(model.generation_config, name, None)
    out = model.generate(ids, generation_config=plain, output_scores=True, return_dict_in_generate=True)
    tokens, scores = _greedy_scores(model, ids, steps, family in ENCODER_DECODER)
    assert torch.equal(out.sequences, tokens)
    for cached, full in zip(out.scores, scores):
        torch.testing.assert_close(cached, full, atol=1e-4, rtol=1e-4)
    return out.sequences

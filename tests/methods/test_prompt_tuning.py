"""Prompt tuning: initialisation, where the prompt goes, masks and positions, head labels, decoders, generation."""

from __future__ import annotations

import pytest
import torch
import transformers
from methods.generation import assert_cached_generation_equals_uncached, generation_model

import adapters
from adapters import AdapterConfigError, PromptTuningConfig, UnsupportedMethodError
from contract.helpers import adapter_model, randomize_adapter
from heads.head_inputs import head_config
from tiny_models import ENCODER_DECODER, FAMILIES, VOCAB, build, inputs

PROMPT_FAMILIES = [f for f in FAMILIES if f not in ENCODER_DECODER and f != "vit"]
DECODERS = ["gpt2", "llama", "mistral", "qwen2"]


def _prompt(model, name="a"):
    return model.base_model.prompt_tuning.prompt_tunings[name].prompt_embedding.weight


def _run(model, batch) -> torch.Tensor:
    with torch.no_grad():
        return model(**batch).last_hidden_state


def test_random_uniform_uses_the_configured_scale_and_seed():
    model = adapter_model("bert")
    model.add_adapter("a", config=PromptTuningConfig(prompt_length=50, random_uniform_scale=0.1, init_weights_seed=3))
    model.add_adapter("b", config=PromptTuningConfig(prompt_length=50, random_uniform_scale=0.1, init_weights_seed=3))
    weight = _prompt(model)
    assert weight.shape == (50, 32)
    largest = float(weight.detach().abs().max())
    assert 0.08 < largest <= 0.1
    assert torch.equal(weight, _prompt(model, "b"))


def _tokenizer(tmp_path):
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "good", "movie"]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tokenizer = transformers.BertTokenizer(str(tmp_path / "vocab.txt"))
    return tokenizer


def test_from_string_with_an_explicit_tokenizer(tmp_path):
    tokenizer = _tokenizer(tmp_path)
    model = adapter_model("bert")
    config = PromptTuningConfig(prompt_length=7, prompt_init="from_string", prompt_init_text="hello world")
    model.add_adapter("a", config=config, tokenizer=tokenizer)
    ids = tokenizer("hello world")["input_ids"]  # [CLS] hello world [SEP]
    assert ids == [2, 5, 6, 3]
    words = model.get_input_embeddings().weight
    expected = words[torch.tensor((ids * 2)[:7])]
    assert torch.equal(_prompt(model), expected)


def test_from_string_finds_the_tokenizer_next_to_the_model(tmp_path):
    _tokenizer(tmp_path).save_pretrained(tmp_path)
    build("bert").save_pretrained(tmp_path)
    model = transformers.AutoModel.from_pretrained(tmp_path)
    adapters.init(model)
    model.add_adapter(
        "a", config="prompt_tuning[prompt_length=2, prompt_init='from_string', prompt_init_text='movie']"
    )
    assert torch.equal(_prompt(model), model.get_input_embeddings().weight[torch.tensor([2, 8])])


def test_from_string_without_a_tokenizer_raises_and_leaves_the_model_unchanged():
    model = adapter_model("bert")
    keys = list(model.state_dict())
    with pytest.raises(AdapterConfigError, match="tokenizer"):
        model.add_adapter("a", config="prompt_tuning[prompt_init='from_string', prompt_init_text='hello']")
    assert list(model.state_dict()) == keys and "a" not in model.adapters_config


def test_models_without_token_inputs_are_refused():
    model = adapter_model("whisper")
    with pytest.raises(UnsupportedMethodError, match="prompt"):
        model.add_adapter("a", config="prompt_tuning")


def _first_layer_input(model, batch) -> torch.Tensor:
    captured = []

    def capture(module, args, kwargs):
        captured.append(args[0] if args else kwargs["hidden_states"])

    handle = next(iter(model.iter_layers()))[1].register_forward_pre_hook(capture, with_kwargs=True)
    with torch.no_grad():
        model(**batch)
    handle.remove()
    return captured[0]


@pytest.mark.parametrize("combine", ["prefix", "prefix_after_bos"])
@pytest.mark.parametrize("family", ["bert", "gpt2", "llama"])
def test_the_prompt_sits_where_combine_says(family, combine):
    """The input of the first layer holds the prompt at the right place and the tokens' embeddings elsewhere."""
    model = adapter_model(family)
    model.add_adapter("a", config=PromptTuningConfig(prompt_length=3, combine=combine), set_active=True)
    randomize_adapter(model, "a", std=1.0)
    batch = {k: v for k, v in inputs(family).items() if k != "attention_mask"}
    hidden = _first_layer_input(model, batch)
    model.set_active_adapters(None)
    plain = _first_layer_input(model, batch)
    start = 0 if combine == "prefix" else 1
    assert hidden.shape[1] == plain.shape[1] + 3
    if family in ("bert", "llama"):  # BERT: after the embeddings (no position, no LayerNorm); Llama: no positions
        torch.testing.assert_close(hidden[0, start : start + 3], _prompt(model))
        torch.testing.assert_close(torch.cat([hidden[:, :start], hidden[:, start + 3 :]], 1), plain)
    else:  # GPT-2 adds learned positions after the token embeddings: the prompt takes positions start..start+2
        wte, wpe = model.wte.weight, model.wpe.weight
        positions = torch.arange(hidden.shape[1])
        torch.testing.assert_close(hidden[0, start : start + 3], _prompt(model) + wpe[positions[start : start + 3]])
        ids = batch["input_ids"]
        tokens = torch.cat([hidden[:, :start], hidden[:, start + 3 :]], 1)
        keep = torch.cat([positions[:start], positions[start + 3 :]])
        torch.testing.assert_close(tokens, wte[ids] + wpe[keep])


@pytest.mark.parametrize("family", PROMPT_FAMILIES)
@pytest.mark.parametrize("combine", ["prefix", "prefix_after_bos"])
def test_padded_rows_equal_the_rows_run_alone(family, combine):
    batch = inputs(family)
    model = adapter_model(family)
    model.add_adapter("a", config=PromptTuningConfig(prompt_length=3, combine=combine), set_active=True)
    randomize_adapter(model, "a", std=0.5)
    padded = _run(model, batch)
    real = int(batch["attention_mask"][1].sum())
    alone = _run(model, {"input_ids": batch["input_ids"][1:, :real]})
    torch.testing.assert_close(padded[1, : real + 3], alone[0], atol=1e-5, rtol=0)


@pytest.mark.parametrize("family", ["bert", "gpt2", "llama"])
def test_gradients_reach_the_prompt(family):
    model = adapter_model(family)
    model.add_adapter("a", config="prompt_tuning[prompt_length=3]")
    model.train_adapter("a")
    model(**inputs(family)).last_hidden_state.pow(2).sum().backward()
    grad = _prompt(model).grad
    assert grad is not None and bool((grad.abs().sum(-1) > 0).all())  # every prompt vector


def _ignore(labels, position, length):
    fill = torch.full((labels.shape[0], length), -100)
    return torch.cat([labels[:, :position], fill, labels[:, position:]], 1)


@pytest.mark.parametrize("combine", ["prefix", "prefix_after_bos"])
def test_tagging_head_labels_and_mask_are_padded_for_the_prompt(combine):
    torch.manual_seed(0)
    model = adapters.AutoAdapterModel.from_config(head_config("bert")).eval()
    model.add_adapter("a", config=PromptTuningConfig(prompt_length=2, combine=combine))
    model.add_tagging_head("a", num_labels=3)
    model.set_active_adapters("a")
    batch = inputs("bert")
    labels = torch.randint(0, 3, (2, 7), generator=torch.Generator().manual_seed(5))
    out = model(**batch, labels=labels)
    position = 0 if combine == "prefix" else 1
    expected_labels = _ignore(torch.where(batch["attention_mask"] == 1, labels, -100), position, 2)
    expected = torch.nn.functional.cross_entropy(out.logits.reshape(-1, 3), expected_labels.reshape(-1))
    assert out.logits.shape[1] == 9
    torch.testing.assert_close(out.loss, expected)


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_causal_lm_loss_ignores_the_prompt(family):
    model = generation_model(family, "prompt_tuning[prompt_length=3]")
    ids = inputs(family)["input_ids"]
    out = model(input_ids=ids, labels=ids)
    labels = _ignore(ids, 0, 3)
    expected = torch.nn.functional.cross_entropy(out.logits[:, :-1].reshape(-1, VOCAB), labels[:, 1:].reshape(-1))
    torch.testing.assert_close(out.loss, expected)


def test_static_head_models_get_their_labels_padded():
    torch.manual_seed(0)
    tagger = transformers.BertForTokenClassification(head_config("bert")).eval()
    adapters.init(tagger)
    tagger.add_adapter("a", config="prompt_tuning[prompt_length=2]", set_active=True)
    ids = inputs("bert")["input_ids"]
    labels = torch.randint(0, 3, (2, 7), generator=torch.Generator().manual_seed(5))
    out = tagger(input_ids=ids, labels=labels)
    expected = torch.nn.functional.cross_entropy(out.logits.reshape(-1, 3), _ignore(labels, 0, 2).reshape(-1))
    torch.testing.assert_close(out.loss, expected)
    torch.manual_seed(0)
    lm = transformers.GPT2LMHeadModel(head_config("gpt2")).eval()
    adapters.init(lm)
    lm.add_adapter("a", config="prompt_tuning[prompt_length=2]", set_active=True)
    out = lm(input_ids=ids, labels=ids)
    labels = _ignore(ids, 0, 2)
    expected = torch.nn.functional.cross_entropy(out.logits[:, :-1].reshape(-1, VOCAB), labels[:, 1:].reshape(-1))
    torch.testing.assert_close(out.loss, expected)


def test_question_answering_positions_and_decoder_pooling_follow_the_prompt():
    torch.manual_seed(0)
    model = adapters.AutoAdapterModel.from_config(head_config("bert")).eval()
    model.add_adapter("a", config="prompt_tuning[prompt_length=2]")
    model.add_qa_head("a")
    model.set_active_adapters("a")
    batch = inputs("bert")
    start, end = torch.tensor([1, 2]), torch.tensor([3, 4])
    out = model(**batch, start_positions=start, end_positions=end)
    ce = torch.nn.functional.cross_entropy
    expected = (ce(out.start_logits, start + 2) + ce(out.end_logits, end + 2)) / 2
    torch.testing.assert_close(out.loss, expected)
    torch.manual_seed(0)
    classifier = adapters.AutoAdapterModel.from_config(head_config("gpt2")).eval()
    classifier.add_adapter("a", config="prompt_tuning[prompt_length=2]")
    classifier.add_classification_head("a", num_labels=3)
    classifier.set_active_adapters("a")
    ids = torch.tensor([[5, 6, 7, 0, 0]])  # pad_token_id 0: the last real token is at 2, i.e. 4 after the prompt
    seen = []
    handle = classifier.heads["a"].register_forward_pre_hook(lambda m, a, kw: seen.append(a[1]), with_kwargs=True)
    with torch.no_grad():
        out = classifier(input_ids=ids)
    handle.remove()
    classifier.set_active_adapters("a")
    with torch.no_grad():
        hidden = classifier.base_model(input_ids=ids).last_hidden_state
    torch.testing.assert_close(seen[0], hidden[:, 4])


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_decoder_generation_with_a_prompt_equals_uncached_greedy(family):
    model = generation_model(family, "prompt_tuning[prompt_length=3]", std=1.0)
    assert_cached_generation_equals_uncached(model, family)


def test_left_padded_generation_equals_unpadded():
    model = generation_model("llama", "prompt_tuning[prompt_length=3]", std=1.0)
    ids = torch.randint(3, VOCAB, (1, 4), generator=torch.Generator().manual_seed(4))
    padded = torch.cat([torch.zeros(1, 2, dtype=torch.long), ids], 1)
    mask = torch.tensor([[0, 0, 1, 1, 1, 1]])
    plain = transformers.GenerationConfig(max_new_tokens=4, do_sample=False, pad_token_id=0)
    with_padding = model.generate(padded, attention_mask=mask, generation_config=plain)
    without = model.generate(ids, generation_config=plain)
    assert torch.equal(with_padding[:, 2:], without)

"""The benchmark tooling judges and reports figures correctly (no timing is asserted: speed lives in benchmarks/)."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import bench_models  # noqa: E402
import compare  # noqa: E402
import run  # noqa: E402
import targets  # noqa: E402

from tiny_models import build, inputs  # noqa: E402


def _report(library: str, load: float, **values: float) -> dict:
    results = {key.replace("__", "/"): {"value": value, "unit": "x"} for key, value in values.items()}
    return {"library": library, "load": [load], "results": results, "date": "today", "torch": "t", "python": "p"}


def test_verdict_is_an_upper_bound_and_unbounded_figures_are_information():
    assert targets.verdict("inference/seq_bn", 1.03) == "PASS"
    assert targets.verdict("inference/seq_bn", 1.031) == "FAIL"
    assert targets.verdict("inference/bare_ms", 5000.0) == "info"
    assert all(targets.describe(key) != key for key in targets.TARGETS)


def test_render_marks_failures_and_a_loaded_machine():
    text = run.render(_report("ours", 7.5, inference__seq_bn=1.10, training__bert__lora=0.50))
    assert "| inference, seq_bn / bare (BERT-base, 8 x 128) | 1.100 | ≤ 1.03 | FAIL |" in text
    assert "| training step, lora / full (BERT-base, 8 x 128) | 0.500 | ≤ 0.55 | PASS |" in text
    assert "noisy" in text and "1 of 2 targets missed: inference/seq_bn." in text
    assert "noisy" not in run.render(_report("ours", 0.5, inference__seq_bn=1.0))


def test_compare_table_puts_libraries_side_by_side():
    ours = _report("ours", 1.0, inference__lora=1.02, inference__seq_bn=1.01)
    peft = {**_report("peft 0.21", 2.0, inference__lora=1.03), "kind": "peft"}
    lines = compare.table([ours, peft]).splitlines()
    assert lines[0] == "| workload | target | ours | peft 0.21 |"
    assert "| inference, lora / bare (BERT-base, 8 x 128) | ≤ 1.04 | 1.020 | 1.030 |" in lines
    assert "| inference, seq_bn / bare (BERT-base, 8 x 128) | ≤ 1.03 | 1.010 | n/a |" in lines


def test_sharing_copy_shares_the_weights_and_computes_the_same():
    model = build("bert").eval()
    copy = bench_models.sharing_copy(model).eval()
    cloned = bench_models.sharing_copy(model, clone=True).eval()
    weight = model.embeddings.word_embeddings.weight
    assert copy.embeddings.word_embeddings.weight.data_ptr() == weight.data_ptr()
    assert cloned.embeddings.word_embeddings.weight.data_ptr() != weight.data_ptr()
    with torch.no_grad():
        expected = model(**inputs("bert")).last_hidden_state
        torch.testing.assert_close(copy(**inputs("bert")).last_hidden_state, expected, atol=0, rtol=0)
        torch.testing.assert_close(cloned(**inputs("bert")).last_hidden_state, expected, atol=0, rtol=0)


def test_lower_bound_targets_pass_at_or_above_and_render_with_their_sign():
    assert targets.verdict("serving/throughput_vs_one_at_a_time", 3.0) == "PASS"
    assert targets.verdict("serving/throughput_vs_one_at_a_time", 2.99) == "FAIL"
    assert targets.verdict("serving/p99_vs_one_at_a_time", 1.01) == "FAIL"
    assert targets.verdict("training/bert/floor", 0.9) == "info"
    text = run.render(_report("ours", 1.0, serving__throughput_vs_one_at_a_time=1.5, training__bert__floor=0.6))
    assert "| serve, 8 adapters mixed: batched / one-at-a-time throughput | 1.500 | ≥ 3.00 | FAIL |" in text
    assert "1 of 1 targets missed: serving/throughput_vs_one_at_a_time." in text


def test_frozen_bound_computes_input_gradients_only():
    model = build("bert")
    floor = bench_models.frozen_bound(model)
    assert not any(p.requires_grad for p in floor.parameters())
    ids = torch.randint(0, model.config.vocab_size, (2, 5))
    floor(input_ids=ids).last_hidden_state.pow(2).mean().backward()
    assert all(p.grad is None for p in floor.parameters())
    step = bench_models.training_runner(floor, {"input_ids": ids})
    step()  # AdamW gets a placeholder parameter instead of refusing an empty list

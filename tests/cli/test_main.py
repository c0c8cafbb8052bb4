"""The ``adapters`` command dispatcher: every listed subcommand module is wired up and returns its exit code."""

from __future__ import annotations

import importlib

import pytest

from adapters.cli import COMMANDS, build_parser, main


def test_every_listed_command_module_has_the_interface():
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(f"adapters.cli.{module_name}")
        assert isinstance(module.HELP, str) and module.HELP, name
        assert callable(module.add_arguments) and callable(module.run), name


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert all(name in out for name in COMMANDS)


def test_hash_prints_the_reference_hash(capsys):
    assert main(["hash", "seq_bn"]) == 0
    assert capsys.readouterr().out.strip() == "9076f36a74755ac4"


def test_unknown_command_exits_with_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["no-such-command"])
    assert exit_info.value.code == 2


def test_every_command_has_help(capsys):
    for name in COMMANDS:
        with pytest.raises(SystemExit) as exit_info:
            build_parser().parse_args([name, "--help"])
        assert exit_info.value.code == 0, name
        assert "usage: adapters " + name in capsys.readouterr().out

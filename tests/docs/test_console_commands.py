"""Every ``adapters ...`` command in the docs' ``console`` blocks is one the command line accepts.

Running them all would train for minutes (``adapters train``) or need a server; their behaviour is tested in
tests/cli and tests/serve, and the Quickstart's and serving page's ``serve``/``curl`` commands run as written in
test_quickstart.py and tests/serve/test_docs_examples.py. Here each documented command line is parsed by the real
parser, so a renamed subcommand or option, or a bad value, fails.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from adapters.cli import build_parser
from code_blocks import code_blocks

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted(p for p in (ROOT / "docs").rglob("*.md") if "_tools" not in p.parts)


def _commands(page: Path) -> list[tuple[int, list[str]]]:
    """``(line, argv after "adapters")`` of every ``adapters`` command of the page's console blocks."""
    found = []
    for block in code_blocks(page):
        if block.language != "console":
            continue
        text = block.source.replace("\\\n", " ")
        for offset, line in enumerate(text.splitlines()):
            if not line.startswith("$ "):
                continue
            for part in line[2:].split("|"):  # `echo ... | adapters predict ...`
                words = shlex.split(part, comments=True)
                while words and re.match(r"^[A-Z_]+=", words[0]):  # `OMP_NUM_THREADS=4 adapters serve ...`
                    words = words[1:]
                if words and words[0] == "adapters":
                    argv = words[1 : words.index(">")] if ">" in words else words[1:]
                    found.append((block.line + offset, argv))
    return found


COMMANDS = [(page, line, argv) for page in PAGES for line, argv in _commands(page)]


def test_the_docs_have_commands_of_every_kind():
    used = {argv[0] for _, _, argv in COMMANDS}
    assert {"train", "evaluate", "predict", "summary", "convert", "serve"} <= used


@pytest.mark.parametrize(
    ("page", "line", "argv"), COMMANDS, ids=[f"{p.relative_to(ROOT)}:{line}" for p, line, _ in COMMANDS]
)
def test_documented_command_parses(page, line, argv, capsys):
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit:
        pytest.fail(
            f"{page.relative_to(ROOT)}:{line}: `adapters {shlex.join(argv)}` is rejected: {capsys.readouterr().err}"
        )
        raise AssertionError from exit
    assert args.command == argv[0]

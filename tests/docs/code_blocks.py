"""Find the fenced code blocks of a Markdown page and decide which ones the docs test runs.

The convention (docs/contributing.md): every ```` ```python ```` block runs, in page order, in one namespace per
page. A block that cannot run offline on a tiny model is preceded by the line
``<!-- docs-test: skip (reason) -->``; ```` ```text ````, ```` ```console ```` and other languages never run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CodeBlock", "MarkerError", "code_blocks", "RUN_LANGUAGES"]

RUN_LANGUAGES = frozenset({"python", "py"})

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\n]*)$")
_MARKER = re.compile(r"^\s*<!--\s*docs-test:(?P<body>.*?)-->\s*$")
_SKIP = re.compile(r"^\s*skip\s*\((?P<reason>[^)]*\S[^)]*)\)\s*$")


class MarkerError(ValueError):
    """A ``docs-test`` marker is malformed or not followed by a Python block."""


@dataclass(frozen=True)
class CodeBlock:
    """One fenced block: its language, its source (dedented), where it starts and whether it is skipped."""

    language: str
    source: str
    line: int  # 1-based line number of the first source line (the line after the opening fence)
    skip_reason: str | None

    @property
    def runs(self) -> bool:
        return self.language in RUN_LANGUAGES and self.skip_reason is None


def _skip_reason(marker_line: str, where: str) -> str:
    body = _MARKER.match(marker_line)["body"]
    skip = _SKIP.match(body)
    if skip is None:
        raise MarkerError(
            f"{where}: malformed marker {marker_line.strip()!r}; write <!-- docs-test: skip (reason) -->"
        )
    return skip["reason"].strip()


def code_blocks(path: Path) -> list[CodeBlock]:
    """The fenced code blocks of the Markdown file ``path`` in page order.

    Raises:
        MarkerError: a marker is malformed, or the next non-blank line after it does not open a Python block.
        ValueError: a fence is never closed.
    """
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[CodeBlock] = []
    pending: tuple[int, str] | None = None  # (line number, reason) of a skip marker waiting for its block
    index = 0
    while index < len(lines):
        line = lines[index]
        where = f"{path}:{index + 1}"
        if _MARKER.match(line):
            if pending is not None:
                raise MarkerError(f"{path}:{pending[0]}: marker not followed by a python block")
            pending = (index + 1, _skip_reason(line, where))
            index += 1
            continue
        opening = _FENCE.match(line)
        if opening is None:
            if line.strip() and pending is not None:
                raise MarkerError(f"{path}:{pending[0]}: marker not followed by a python block")
            index += 1
            continue
        language = (opening["info"].split() or [""])[0].lower()
        if pending is not None and language not in RUN_LANGUAGES:
            raise MarkerError(f"{path}:{pending[0]}: marker is followed by a {language or 'plain'} block, not python")
        first_line = index + 2  # 1-based number of the line after the opening fence
        body, index = _read_block(lines, index, opening, where)
        blocks.append(CodeBlock(language, body, first_line, pending[1] if pending else None))
        pending = None
    if pending is not None:
        raise MarkerError(f"{path}:{pending[0]}: marker not followed by a python block")
    return blocks


def _read_block(lines: list[str], start: int, opening: re.Match, where: str) -> tuple[str, int]:
    """The dedented body of the block opened at ``start`` and the index of the line after its closing fence."""
    indent, fence = len(opening["indent"]), opening["fence"]
    closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
    body = []
    for index in range(start + 1, len(lines)):
        if closing.match(lines[index]):
            return "\n".join(body) + ("\n" if body else ""), index + 1
        line = lines[index]
        body.append(line[indent:] if line[:indent].strip() == "" else line.lstrip())
    raise ValueError(f"{where}: code fence {fence!r} is never closed")

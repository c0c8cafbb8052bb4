"""docs/errors.md tells, for every error type of ``adapters.errors``, what raises it and what its message says."""

from __future__ import annotations

import re
from pathlib import Path

import adapters.errors as errors

PAGE = Path(__file__).resolve().parents[2] / "docs" / "errors.md"


def _section(title: str) -> str:
    text = PAGE.read_text(encoding="utf-8")
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_every_error_type_has_its_raisers_and_message_described():
    section = _section("What raises them and what the message tells you")
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    described = {name for row in rows for name in re.findall(r"`(\w+Error)`", row)}
    missing = [name for name in errors.__all__ if name != "AdapterError" and name not in described]
    assert not missing, f"docs/errors.md 'What raises them' has no row for: {missing}"
    for row in rows:  # error | raised by | the message tells you: all three filled
        cells = [cell.strip() for cell in row.strip("|").split(" | ")]
        assert len(cells) == 3 and all(cells), row

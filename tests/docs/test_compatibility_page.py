"""docs/compatibility.md lists every deliberate difference from the reference as one table row: what we do, what the
reference did, and the setting or call that restores the reference's behaviour (or "—" where that was a failure)."""

from __future__ import annotations

from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[2] / "docs" / "compatibility.md"


def rows() -> list[list[str]]:
    found = []
    for line in PAGE.read_text(encoding="utf-8").splitlines():
        if line.startswith("| ") and not line.startswith("| Difference") and not line.startswith("|---"):
            found.append([cell.strip() for cell in line.strip().strip("|").split(" | ")])
    return found


def test_every_row_has_three_filled_cells():
    table = rows()
    assert len(table) > 40
    bad = [row for row in table if len(row) != 3 or not all(row)]
    assert not bad, bad


# the differences issue 10 names, each with the setting that restores the reference's behaviour
@pytest.mark.parametrize(
    "difference, restore",
    [
        ("write safetensors by default", "`use_safetensors=False`"),
        ("`Average` computes", "normalize_weights=False"),
        ("Prefix tuning under sdpa", "the reference's eager outputs are ours"),
        ("T5 prefix tuning", "shift_relative_positions=True"),
    ],
)
def test_named_differences_have_their_restoring_setting(difference, restore):
    matching = [row for row in rows() if difference in row[0]]
    assert len(matching) == 1, matching
    assert restore in matching[0][2]

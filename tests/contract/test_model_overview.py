"""docs/model_overview.md is generated (scripts/make_model_overview.py) and matches the current registry."""

from __future__ import annotations

from contract.matrix import COLUMNS, ROWS, support
from contract.overview import PAGE, render


def test_committed_overview_is_current():
    assert PAGE.read_text() == render(), "regenerate with: python scripts/make_model_overview.py"


def test_overview_has_at_least_40_architectures_and_every_cross_has_a_reason():
    assert len(ROWS) >= 40
    page = render()
    assert page.count("\n| ") == len(ROWS) + 1  # header row + one row per architecture
    for family in ROWS:
        for column in COLUMNS:
            reason = support(family)[column.title]
            assert reason is None or (reason.strip() and reason in page)

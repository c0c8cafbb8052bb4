"""docs/model_overview.md is generated (scripts/make_model_overview.py) and matches the current registry."""

from __future__ import annotations

from contract.matrix import COLUMNS, ROWS, support
from contract.overview import PAGE, cell_id, render


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


def test_a_failed_cell_test_turns_its_tick_into_a_cross_naming_the_test():
    """``scripts/make_model_overview.py`` passes the breadth tests' outcomes by pytest id: a cell whose test failed
    (or did not run) is no ✅."""
    import contract.test_breadth_contract as breadth

    ids = {cell_id(f, c.title) for f, c in breadth.SUPPORTED}
    assert len(ids) == len(breadth.SUPPORTED)
    results = dict.fromkeys(ids, True)
    failed = cell_id("qwen2", "(IA)³")
    results[failed] = False
    page = render(results)
    assert failed == "qwen2-(IA)\\xb3" and f"its contract test failed ({failed})" in page
    assert page.count("✅") == render().count("✅") - 1
    row = next(line for line in page.splitlines() if line.startswith("| Qwen2 | `qwen2` |"))
    assert row.count("❌") == 1

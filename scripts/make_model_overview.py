#!/usr/bin/env python
"""Regenerate docs/model_overview.md: run the breadth contract suite, then render the method × architecture table.

    HF_HUB_OFFLINE=1 .venv/bin/python scripts/make_model_overview.py

A cell is ✅ only if the library supports it and its contract test passed in this run (see
tests/contract/overview.py). Exit code 1 if any supported cell's test failed (the page then shows which).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


class _Results:
    """A pytest plugin that records the outcome of every cell test."""

    def __init__(self) -> None:
        self.passed: dict[str, bool] = {}

    def pytest_runtest_logreport(self, report) -> None:
        if "test_supported_cell[" not in report.nodeid:
            return
        cell = report.nodeid.split("[", 1)[1].rstrip("]")
        if report.when == "call" or report.outcome != "passed":
            self.passed[cell] = self.passed.get(cell, True) and report.outcome == "passed"


def main() -> int:
    results = _Results()
    suite = str(ROOT / "tests" / "contract" / "test_breadth_contract.py")
    pytest.main([suite, "-q", "-k", "test_supported_cell", "-p", "no:cacheprovider"], plugins=[results])
    from contract.overview import PAGE, render

    PAGE.write_text(render(results.passed))
    failed = sorted(cell for cell, ok in results.passed.items() if not ok)
    print(f"wrote {PAGE.relative_to(ROOT)}: {sum(results.passed.values())} cells passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

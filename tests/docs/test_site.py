"""The documentation site builds with ``mkdocs build --strict``: no broken link or anchor, no page missing from the
navigation, no API reference to an object that does not exist."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_site_builds_without_warnings(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log
    assert "WARNING" not in log, log
    assert (tmp_path / "site" / "quickstart.html").is_file()
    api = (tmp_path / "site" / "api" / "model.html").read_text(encoding="utf-8")
    assert "add_adapter" in api and "set_active_adapters" in api  # mkdocstrings rendered the docstrings

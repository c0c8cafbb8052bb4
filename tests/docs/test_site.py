"""The documentation site builds with ``mkdocs build --strict``: no broken link or anchor, no page missing from the
navigation, no API reference to an object that does not exist."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

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


# ------------------------------------------------------------------ the strict build fails on what it should catch


def _build_small_site(tmp_path: Path, pages: dict[str, str], nav: list) -> subprocess.CompletedProcess:
    """Build ``pages`` with the project's mkdocs.yml (strict, same validation, plugins and extensions), only the
    pages and the nav replaced, so the test shows what the real configuration catches."""
    import yaml

    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    docs = tmp_path / "docs"
    (docs / "css").mkdir(parents=True)
    (docs / "css" / "extra.css").write_text("")
    for name, text in pages.items():
        (docs / name).write_text(text, encoding="utf-8")
    python = config["plugins"][2]["mkdocstrings"]["handlers"]["python"]
    python["paths"] = [str(ROOT / "src")]
    python["options"]["extensions"] = [str(ROOT / e) for e in python["options"]["extensions"]]
    config.update(docs_dir=str(docs), site_dir=str(tmp_path / "site"), nav=nav)
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(tmp_path / "mkdocs.yml")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )


_GOOD = {
    "index.md": "# Home\n\nSee [the errors](errors.md#adapter-errors).\n",
    "errors.md": "# Errors\n\n## Adapter errors\n\n::: adapters.errors.AdapterError\n",
}
_NAV = [{"Home": "index.md"}, {"Errors": "errors.md"}]


@pytest.mark.parametrize(
    ("change", "warning"),
    [
        ({}, None),  # the unchanged small site builds: the failures below come from the breakages
        (
            {"index.md": "# Home\n\nSee [the errors](missing.md).\n"},
            "contains a link 'missing.md', but the target is not found",
        ),
        ({"index.md": "# Home\n\nSee [the errors](errors.md#nowhere).\n"}, "does not contain an anchor '#nowhere'"),
        ({"orphan.md": "# Not in the nav\n"}, "orphan.md"),  # a page missing from the nav
        ({"errors.md": "# Errors\n\n::: adapters.errors.NoSuchError\n"}, "adapters.errors.NoSuchError"),
        ({"index.md": "# Home\n\n[an API link][adapters.errors.NoSuchError]\n"}, "adapters.errors.NoSuchError"),
    ],
    ids=["unchanged", "broken-link", "broken-anchor", "page-not-in-nav", "missing-api-object", "missing-api-link"],
)
def test_strict_build_fails_on_broken_references(tmp_path, change, warning):
    result = _build_small_site(tmp_path, {**_GOOD, **change}, _NAV)
    log = result.stdout + result.stderr
    if warning is None:
        assert result.returncode == 0 and "WARNING" not in log, log
        assert "AdapterError" in (tmp_path / "site" / "errors.html").read_text(encoding="utf-8")
    else:
        assert result.returncode != 0, log
        assert warning in log, log


def test_strict_build_fails_on_a_nav_entry_without_a_page(tmp_path):
    result = _build_small_site(tmp_path, _GOOD, [*_NAV, {"Gone": "gone.md"}])
    assert result.returncode != 0
    assert "gone.md" in result.stdout + result.stderr

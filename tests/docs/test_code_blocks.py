"""Every ```python block of every docs page (and of README.md) runs, offline, on tiny models.

One test per page: the page's blocks run in page order in one namespace (a fresh module, so classes and
dataclasses defined in a page work), with the working directory set to a temporary folder and the tiny checkpoint
paths of ``conftest.py`` predefined. A block that raises fails the test, naming the page and line; the traceback
points into the Markdown file itself.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest
import torch

from code_blocks import CodeBlock, MarkerError, code_blocks

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.md") if "_tools" not in p.parts) + [ROOT / "README.md"]


def _page_id(page: Path) -> str:
    return str(page.relative_to(ROOT)) if page.is_relative_to(ROOT) else str(page)


def _run(block: CodeBlock, page: Path, module: types.ModuleType) -> None:
    # Pad with blank lines so line numbers in tracebacks are the page's own line numbers.
    code = compile("\n" * (block.line - 1) + block.source, str(page), "exec")
    try:
        exec(code, module.__dict__)
    except Exception as error:
        pytest.fail(
            f"{_page_id(page)}: the python block starting at line {block.line} raised {type(error).__name__}: {error}",
            pytrace=True,
        )


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_page_code_blocks_run(page: Path, docs_namespace, tmp_path, monkeypatch):
    blocks = code_blocks(page)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    torch.manual_seed(0)
    module = types.ModuleType(f"docs_page_{page.stem}")
    module.__dict__.update(docs_namespace)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    for block in blocks:
        if block.runs:
            _run(block, page, module)


def test_pages_are_collected():
    names = {_page_id(p) for p in PAGES}
    assert {"README.md", "docs/index.md", "docs/quickstart.md", "docs/migration.md"} <= names


# --------------------------------------------------------------------------------------------- the extractor itself


def _write(tmp_path: Path, text: str) -> Path:
    page = tmp_path / "page.md"
    page.write_text(text, encoding="utf-8")
    return page


def test_extractor_runs_python_only_and_honours_skip(tmp_path):
    page = _write(
        tmp_path,
        "# T\n\n```python\nx = 1\n```\n\n<!-- docs-test: skip (needs a GPU) -->\n```python\ncuda()\n```\n"
        "```console\n$ make docs\n```\n\n- item\n\n  ```py\n  y = 2\n  ```\n",
    )
    blocks = code_blocks(page)
    assert [(b.language, b.line, b.runs, b.skip_reason) for b in blocks] == [
        ("python", 4, True, None),
        ("python", 9, False, "needs a GPU"),
        ("console", 12, False, None),
        ("py", 18, True, None),
    ]
    assert blocks[3].source == "y = 2\n"


@pytest.mark.parametrize(
    "text",
    [
        "<!-- docs-test: skip -->\n```python\nx\n```\n",  # no reason
        "<!-- docs-test: skip () -->\n```python\nx\n```\n",  # empty reason
        "<!-- docs-test: run (x) -->\n```python\nx\n```\n",  # unknown directive
        "<!-- docs-test: skip (why) -->\nsome text\n```python\nx\n```\n",  # not directly before the block
        "<!-- docs-test: skip (why) -->\n```text\nx\n```\n",  # not a python block
        "text\n<!-- docs-test: skip (why) -->\n",  # dangling at the end
    ],
)
def test_extractor_rejects_bad_markers(tmp_path, text):
    with pytest.raises(MarkerError):
        code_blocks(_write(tmp_path, text))


def test_extractor_rejects_unclosed_fence(tmp_path):
    with pytest.raises(ValueError, match="never closed"):
        code_blocks(_write(tmp_path, "```python\nx = 1\n"))


def test_failing_block_fails_the_page_with_its_line(tmp_path, monkeypatch):
    page = _write(tmp_path, "# T\n\n```python\nx = 1\n```\n\n```python\nraise ValueError('boom')\n```\n")
    module = types.ModuleType("docs_page_failing")
    blocks = code_blocks(page)
    _run(blocks[0], page, module)
    assert module.x == 1
    with pytest.raises(pytest.fail.Exception, match=r"line 8 raised ValueError: boom"):
        _run(blocks[1], page, module)

"""The generated tables in the docs match the code they describe (config fields, composition rules, ...)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[2] / "docs" / "_tools" / "generated_tables.py"


@pytest.fixture(scope="module")
def tables():
    spec = importlib.util.spec_from_file_location("generated_tables", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pages_have_generated_tables(tables):
    names = {page.name for page in tables.pages()}
    assert {"methods.md", "composition.md", "prediction_heads.md", "errors.md"} <= names


def test_generated_tables_are_up_to_date(tables):
    stale = [str(p) for p in tables.pages() if tables.render_page(p.read_text(encoding="utf-8")) != p.read_text()]
    assert not stale, f"regenerate with: .venv/bin/python docs/_tools/generated_tables.py  (stale: {stale})"


def test_fields_table_lists_every_field_with_its_default(tables):
    table = tables.fields_table("LoRAConfig")
    assert "| `r` | `8` | Rank of the update. |" in table
    assert '| `attn_matrices` | `["q", "v"]` |' in table
    assert len(table.strip().splitlines()) == 2 + 17  # header, rule, one row per field


def test_presets_table_shows_only_differences(tables):
    table = tables.presets_table("SeqBnConfig", "SeqBnConfig", "DoubleSeqBnConfig")
    rows = table.strip().splitlines()
    assert rows[2] == "| `SeqBnConfig` | `pfeiffer`, `seq_bn` | none |"
    assert rows[3].startswith("| `DoubleSeqBnConfig` | `houlsby`, `double_seq_bn` | `mh_adapter=True`")


def test_markers_in_code_blocks_are_left_alone(tables):
    text = "```text\n<!-- generated: error-types -->\n<!-- /generated -->\n```\n"
    assert tables.render_page(text) == text
    rendered = tables.render_page("<!-- generated: error-types -->\nold\n<!-- /generated -->\n")
    assert "old" not in rendered and "| `CheckpointError` |" in rendered


def test_unknown_kind_and_unclosed_marker_fail(tables):
    with pytest.raises(ValueError, match="unknown generated block"):
        tables.render_page("<!-- generated: nonsense -->\n<!-- /generated -->\n")
    with pytest.raises(ValueError, match="no closing"):
        tables.render_page("<!-- generated: error-types -->\n")


def test_fields_table_with_a_base_lists_only_the_added_fields(tables):
    rows = tables.fields_table("MTLLoRAConfig", "LoRAConfig").strip().splitlines()[2:]
    assert [row.split(" | ")[0] for row in rows] == [
        "| `n_up_projection`",
        "| `task_specific_matrix_type`",
        "| `weights_sharpness`",
    ]
    assert rows[2] == "| `weights_sharpness` | `0.05` | Temperature of the softmax mixing the up projections. |"


def test_performance_page_shows_the_last_benchmark_run(tables):
    results = (Path(tables.__file__).parents[2] / "benchmarks" / "results.md").read_text(encoding="utf-8")
    table = tables.benchmark_results_table()
    assert table.startswith("| workload | value | target | |\n|---|") and table in results
    assert len(table.splitlines()) > 20
    page = (Path(tables.__file__).parents[1] / "performance.md").read_text(encoding="utf-8")
    assert f"<!-- generated: benchmark-results -->\n{table}<!-- /generated -->" in page

"""The pages say what the documentation issue asks of them, checked against the code they describe:

* the navigation lists the user guide in the order of the seeds (AdapterHub's docs);
* Adapter methods: every config of the library's identifiers has all its fields and defaults in a generated table,
  and every method section has a paper link and a formula;
* Composition: every composition block has a section that opens with a diagram; the nesting rules are generated;
* the migration guide links the compatibility list and shows each fixed quirk with code.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import yaml

import adapters.composition as composition
from adapters.configuration import ADAPTER_CONFIG_MAP, AdapterPlusConfig, ConfigUnion
from code_blocks import code_blocks

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
_MARKER = re.compile(r"^<!-- generated: (?P<kind>\S+)(?P<args>[^>]*?) -->$", re.MULTILINE)


def _nav_files(entries) -> list[str]:
    files = []
    for entry in entries:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        files += _nav_files(value) if isinstance(value, list) else [value]
    return files


def test_the_user_guide_is_in_the_seeds_order():
    nav = _nav_files(yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))["nav"])
    guide = [
        "quickstart.md",
        "methods.md",
        "composition.md",
        "prediction_heads.md",
        "training.md",
        "sharing.md",
        "serving.md",
        "model_overview.md",  # the seeds' order: "Model Overview", then "Adding Adapters to a Model"
        "adding_architecture.md",
        "performance.md",
        "errors.md",
        "architecture.md",
    ]
    assert [page for page in nav if page in guide] == guide
    assert nav.index("migration.md") < nav.index("methods.md")  # with the Quickstart, under "Getting started"


def _sections(page: str) -> dict[str, str]:
    """``## `` heading -> the section's text (up to the next ``## `` heading)."""
    parts = re.split(r"^## (.+)$", (DOCS / page).read_text(encoding="utf-8"), flags=re.MULTILINE)
    return {parts[i].split(" {")[0].strip(): parts[i + 1] for i in range(1, len(parts), 2)}


def _documented_fields(text: str) -> dict[str, set[str]]:
    """Config class -> the field names of its generated ``config-fields`` tables in ``text``."""
    found: dict[str, set[str]] = {}
    for marker in _MARKER.finditer(text):
        if marker["kind"] == "config-fields":
            table = text[marker.end() : text.index("<!-- /generated -->", marker.end())]
            name = marker["args"].split()[0]
            found.setdefault(name, set()).update(re.findall(r"^\| `(\w+)` \|", table, flags=re.MULTILINE))
    return found


def test_every_config_has_its_fields_and_defaults_on_the_methods_page():
    text = (DOCS / "methods.md").read_text(encoding="utf-8")
    tables = _documented_fields(text)
    named = {arg for m in _MARKER.finditer(text) if m["kind"].startswith("config-") for arg in m["args"].split()}
    classes = {type(config) for config in ADAPTER_CONFIG_MAP.values()} | {AdapterPlusConfig}
    for cls in sorted(classes, key=lambda c: c.__name__):
        assert cls.__name__ in named, f"{cls.__name__} has no generated table on methods.md"
        if issubclass(cls, ConfigUnion):
            continue  # its members are listed by a config-union table, their fields by their own classes
        documented = set().union(*(fields for name, fields in tables.items() if name in _family(cls)))
        missing = {f.name for f in dataclasses.fields(cls)} - documented
        assert not missing, f"methods.md does not list {cls.__name__}'s fields {sorted(missing)}"


def _family(cls: type) -> set[str]:
    """Names of the config classes whose field tables describe ``cls``: its bases' and those of its method's
    presets (``SeqBnConfig``'s table gives the fields every bottleneck config shares)."""
    same_method = {
        type(config).__name__ for config in ADAPTER_CONFIG_MAP.values() if config.architecture == cls.architecture
    }
    return {klass.__name__ for klass in cls.__mro__} | same_method


def test_every_method_section_has_a_paper_link_and_a_formula():
    for heading, text in _sections("methods.md").items():
        if "<!-- generated: config-" not in text or heading == "Method combinations":
            continue
        assert "](https://arxiv.org/abs/" in text, f"methods.md, {heading}: no paper link"
        first = re.search(r"^```(\w*)$", text, flags=re.MULTILINE)
        assert first and first[1] == "text", f"methods.md, {heading}: the first block is not the formula"


def test_every_composition_block_has_a_section_opening_with_a_diagram():
    sections = _sections("composition.md")
    blocks = [block.__name__ for block in composition.ALLOWED_NESTINGS]
    assert set(blocks) >= {"Stack", "Fuse", "Split", "BatchSplit", "Parallel", "Average", "MultiTask"}
    for name in blocks:
        assert name in sections, f"composition.md has no section {name}"
        diagram = re.search(r"```(\w*)\n(.*?)```", sections[name], flags=re.DOTALL)
        assert diagram and diagram[1] == "text" and "──" in diagram[2], f"composition.md, {name}: no diagram first"
    assert "<!-- generated: composition-nesting -->" in sections["Nesting rules"]
    assert "migration.md#composition-average" in sections["Average"]


def test_the_migration_guide_shows_each_fixed_quirk_with_code():
    text = (DOCS / "migration.md").read_text(encoding="utf-8")
    assert "](compatibility.md)" in text
    sections = re.split(r"^### (.+)$", text, flags=re.MULTILINE)
    by_heading = {sections[i]: sections[i + 1] for i in range(1, len(sections), 2)}
    quirks = ["Average", "safetensors", "Failed loads", "DiReFT", "sdpa", "T5"]
    for quirk in quirks:
        heading = next((h for h in by_heading if quirk in h), None)
        assert heading, f"migration.md has no section on {quirk}"
        assert "```python" in by_heading[heading], f"migration.md, {heading}: no code"
    runnable = [b for b in code_blocks(DOCS / "migration.md") if b.runs]
    assert len(runnable) >= len(quirks)

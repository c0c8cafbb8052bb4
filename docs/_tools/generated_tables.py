"""Tables generated from the code (config fields and defaults, composition rules), written into the pages.

A page asks for a table with a marker line and gets it written below, up to the closing marker::

    <!-- generated: config-fields LoRAConfig -->
    | field | default | meaning |
    ...
    <!-- /generated -->

Kinds:

* ``config-fields CLASS [BASE]``: every field of ``CLASS`` (with ``BASE``: only the fields ``BASE`` does not have)
  with its default and the meaning from the ``Attributes:`` section of the class docstrings (nearest class first).
* ``config-presets BASE CLASS ...``: each ``CLASS`` with its identifiers and the defaults in which it differs
  from ``BASE``.
* ``config-identifiers``: every identifier of ``ADAPTER_CONFIG_MAP`` with the config it stands for.
* ``config-union CLASS``: the member configs of a ``ConfigUnion`` preset (``MAMConfig``, ``UniPELTConfig``).
* ``composition-nesting``: which children each composition block accepts (``adapters.composition``).
* ``composition-methods``: which blocks each adapter method supports (the method registry).
* ``head-methods``: the ``add_*_head`` methods of AdapterModel classes with their options and defaults.
* ``head-families``: the AdapterModel class of each model type and the head types it accepts.
* ``error-types``: the exception classes of ``adapters.errors`` with their bases and meaning.
* ``benchmark-results``: the results table of the last ``make bench`` run (``benchmarks/results.md``).

Tables are derived from the code, so they cannot drift: ``tests/docs/test_generated_tables.py`` fails
when a page differs from what this script writes. Regenerate with::

    .venv/bin/python docs/_tools/generated_tables.py          # rewrite the pages
    .venv/bin/python docs/_tools/generated_tables.py --check  # exit 1 if a page is out of date
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import sys
from pathlib import Path
from typing import Any

import adapters.composition as composition
import adapters.configuration as configuration
import adapters.errors as errors
from adapters.architectures.specs import SPECS
from adapters.configuration.base import _default_of
from adapters.heads.families import HEAD_FAMILIES
from adapters.heads.model_mixin import MODEL_HEAD_MAP, ModelWithFlexibleHeadsAdaptersMixin
from adapters.methods import registered_methods

DOCS = Path(__file__).resolve().parents[1]
_OPEN = re.compile(r"^<!-- generated: (?P<spec>[^>]*?) -->\s*$")
_CLOSE = "<!-- /generated -->"
_FENCE = re.compile(r"^(`{3,}|~{3,})")
_ATTRIBUTE = re.compile(r"^(?P<name>\w+): (?P<text>.*)$")


def _config_class(name: str) -> type:
    cls = getattr(configuration, name, None)
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise ValueError(f"{name!r} is not a config class of adapters.configuration")
    return cls


def fmt(value: Any) -> str:
    """A default as Python source, with double quotes (``"relu"``, ``["q", "v"]``, ``None``)."""
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(fmt(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{fmt(k)}: {fmt(v)}" for k, v in value.items()) + "}"
    return repr(value)


def attribute_docs(cls: type) -> dict[str, str]:
    """Field name -> description from the ``Attributes:`` sections along the MRO (nearest class wins)."""
    found: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        doc = inspect.cleandoc(klass.__dict__.get("__doc__") or "")
        section = doc.split("Attributes:\n", 1)
        if len(section) < 2:
            continue
        name = None
        for line in section[1].splitlines():
            if line and not line.startswith(" "):
                break  # the next section
            match = _ATTRIBUTE.match(line.strip()) if line.startswith("    ") and line[4] != " " else None
            if match:
                name = match["name"]
                found[name] = match["text"].strip()
            elif name and line.strip():
                found[name] += " " + line.strip()
    return found


def _cell(text: str) -> str:
    return text.replace("``", "`").replace("|", "\\|")


def fields_table(name: str, base_name: str | None = None) -> str:
    cls = _config_class(name)
    docs = attribute_docs(cls)
    inherited = {f.name for f in dataclasses.fields(_config_class(base_name))} if base_name else set()
    rows = ["| field | default | meaning |", "|---|---|---|"]
    for f in dataclasses.fields(cls):
        if f.name in inherited:
            continue
        default = _default_of(f)
        shown = "required" if default is dataclasses.MISSING else f"`{fmt(default)}`"
        rows.append(f"| `{f.name}` | {_cell(shown)} | {_cell(docs.get(f.name, ''))} |")
    return "\n".join(rows) + "\n"


def _defaults(cls: type) -> dict[str, Any]:
    return {f.name: _default_of(f) for f in dataclasses.fields(cls)}


def _identifiers(cls: type) -> list[str]:
    """The identifiers of ``ADAPTER_CONFIG_MAP`` that stand for ``cls`` (with their changes, if any)."""
    names = []
    defaults = _defaults(cls)
    maps = {**configuration.ADAPTER_CONFIG_MAP, **configuration.ADAPTERFUSION_CONFIG_MAP}
    for identifier, config in maps.items():
        if type(config) is cls:
            changes = {k: v for k, v in config.to_dict().items() if k in defaults and defaults[k] != v}
            extra = ", ".join(f"{k}={fmt(v)}" for k, v in changes.items())
            names.append(f"`{identifier}`" + (f" (`{extra}`)" if extra else ""))
    return names


def presets_table(base_name: str, *names: str) -> str:
    base = _defaults(_config_class(base_name))
    rows = [f"| config | identifiers | defaults that differ from `{base_name}` |", "|---|---|---|"]
    for name in names:
        own = _defaults(_config_class(name))
        diffs = [f"`{k}={fmt(v)}`" for k, v in own.items() if k not in base or base[k] != v]
        rows.append(
            f"| `{name}` | {_cell(', '.join(_identifiers(_config_class(name))) or '—')} | "
            f"{_cell(', '.join(diffs) or 'none')} |"
        )
    return "\n".join(rows) + "\n"


def _constructor(config: Any) -> str:
    """``config`` as the constructor call that builds it, e.g. ``ParBnConfig(scaling="learned")``."""
    cls = type(config)
    base = {} if isinstance(config, configuration.ConfigUnion) else _defaults(cls)
    changes = ", ".join(f"{k}={fmt(v)}" for k, v in config.to_dict().items() if k in base and base[k] != v)
    return f"{cls.__name__}({changes})"


def identifiers_table() -> str:
    rows = ["| identifier | config |", "|---|---|"]
    for identifier, config in configuration.ADAPTER_CONFIG_MAP.items():
        rows.append(f"| `{identifier}` | `{_constructor(config)}` |")
    return "\n".join(rows) + "\n"


def union_table(name: str) -> str:
    rows = ["| member | config |", "|---|---|"]
    for index, member in enumerate(_config_class(name)().configs):
        rows.append(f"| {index} | `{_constructor(member)}` |")
    return "\n".join(rows) + "\n"


_BLOCK_ORDER = ("Stack", "Fuse", "Split", "BatchSplit", "Parallel", "Average", "MultiTask")


def nesting_table() -> str:
    rows = ["| block | may contain |", "|---|---|"]
    for parent, allowed in composition.ALLOWED_NESTINGS.items():
        names = ["adapter names" if t is str else f"`{t.__name__}`" for t in allowed]
        rows.append(f"| `{parent.__name__}` | {', '.join(names)} |")
    return "\n".join(rows) + "\n"


def methods_blocks_table() -> str:
    rows = ["| method | " + " | ".join(_BLOCK_ORDER) + " |", "|---" * (len(_BLOCK_ORDER) + 1) + "|"]
    for method in registered_methods():
        supported = {b.__name__ for b in method.supported_blocks}
        marks = ["✓" if name in supported else "" for name in _BLOCK_ORDER]
        rows.append(f"| `{method.name}` | " + " | ".join(marks) + " |")
    return "\n".join(rows) + "\n"


_GENERIC_HEAD_METHODS = ("add_prediction_head", "add_prediction_head_from_config", "add_custom_head")


def head_methods_table() -> str:
    rows = ["| method | options (defaults) | head |", "|---|---|---|"]
    for name, method in vars(ModelWithFlexibleHeadsAdaptersMixin).items():  # definition order
        if not (name.startswith("add_") and name.endswith("_head")) or name in _GENERIC_HEAD_METHODS:
            continue
        params = list(inspect.signature(method).parameters.values())[2:]  # self, head_name
        options = [f"`{p.name}={fmt(p.default)}`" for p in params if p.name != "overwrite_ok"]
        summary = inspect.getdoc(method).split("\n")[0]
        rows.append(f"| `{name}(head_name, ...)` | {_cell(', '.join(options))} | {_cell(summary)} |")
    return "\n".join(rows) + "\n"


def head_families_table() -> str:
    rows = ["| model type | class | head types |", "|---|---|---|"]
    for model_type, family in HEAD_FAMILIES.items():
        types = ", ".join(f"`{t}`" for t in family.head_types if t in MODEL_HEAD_MAP)
        rows.append(f"| `{model_type}` | `{family.class_prefix}AdapterModel` | {types} |")
    return "\n".join(rows) + "\n"


def error_types_table() -> str:
    rows = ["| error | is also a | raised when |", "|---|---|---|"]
    for name in errors.__all__:
        cls = getattr(errors, name)
        bases = [
            b.__name__ for b in cls.__mro__[1:] if b not in (errors.AdapterError, Exception, BaseException, object)
        ]
        doc = " ".join(inspect.getdoc(cls).split())
        rows.append(f"| `{name}` | {', '.join(f'`{b}`' for b in bases) or '—'} | {_cell(doc)} |")
    return "\n".join(rows) + "\n"


def _code(text: str) -> str:
    return f"`{text}`" if text != "—" else text


def _groups(groups: list, render) -> str:
    """One cell for the layer groups of a spec, each named by its path when there are several."""
    if len(groups) == 1:
        return render(groups[0])
    return "; ".join(f"in `{group.path}`: {render(group)}" for group in groups) or "none"


def lora_sites_table() -> str:
    """The LoRA sites of every spec: feed-forward projections and attention matrices (paths relative to a layer)."""
    rows = ["| spec | model types | intermediate | output | attention q, k, v |", "|---|---|---|---|---|"]
    for spec in SPECS:
        sites = {site.location: site.path for group in spec.layer_groups for site in group.lora_sites}
        ffn = [_code(sites.get(location, "—").replace("|", " or ")) for location in ("intermediate", "output")]
        attention = _groups(
            [g for g in spec.layer_groups if any(s.location == "selfattn" for s in g.lora_sites)],
            lambda g: ", ".join(f"`{s.path}`" for s in g.lora_sites if s.location == "selfattn"),
        )
        rows.append(f"| {spec.name} | {', '.join(spec.model_types)} | {ffn[0]} | {ffn[1]} | {_cell(attention)} |")
    return "\n".join(rows) + "\n"


def _prompt_site(spec) -> str:
    prompt = spec.prompt
    if prompt is None:
        return "none"
    return f"{prompt.embedding} output" if prompt.mode == "embedding_output" else f"{prompt.embedding} (inputs_embeds)"


def _attention_site(site) -> str:
    glue = f", own attention code: `{site.legacy}` glue" if site.legacy else ""
    return f"{site.path} ({site.location}{glue})"


def attention_sites_table() -> str:
    """The attention modules prefix tuning hooks in every spec, and where prompt tuning inserts its prompt."""
    rows = ["| spec | model types | attention modules (location key) | prompt tuning |", "|---|---|---|---|"]
    for spec in SPECS:
        attention = _groups(
            [g for g in spec.layer_groups if g.attention_sites],
            lambda g: ", ".join(_attention_site(s) for s in g.attention_sites),
        )
        rows.append(f"| {spec.name} | {', '.join(spec.model_types)} | {_cell(attention)} | {_prompt_site(spec)} |")
    return "\n".join(rows) + "\n"


def benchmark_results_table() -> str:
    """The first table of ``benchmarks/results.md`` (written by ``make bench``), as it is."""
    lines = (DOCS.parent / "benchmarks" / "results.md").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| workload |"))
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    return "\n".join(lines[start:end]) + "\n"


def render(spec: str) -> str:
    kind, *args = spec.split()
    if kind == "config-fields" and len(args) in (1, 2):
        return fields_table(*args)
    if kind == "config-presets" and len(args) >= 2:
        return presets_table(*args)
    if kind == "config-identifiers" and not args:
        return identifiers_table()
    if kind == "config-union" and len(args) == 1:
        return union_table(args[0])
    if kind == "composition-nesting" and not args:
        return nesting_table()
    if kind == "composition-methods" and not args:
        return methods_blocks_table()
    if kind == "head-methods" and not args:
        return head_methods_table()
    if kind == "head-families" and not args:
        return head_families_table()
    if kind == "error-types" and not args:
        return error_types_table()
    if kind == "lora-sites" and not args:
        return lora_sites_table()
    if kind == "attention-sites" and not args:
        return attention_sites_table()
    if kind == "benchmark-results" and not args:
        return benchmark_results_table()
    raise ValueError(
        f"unknown generated block {spec!r}; kinds: config-fields CLASS [BASE], config-presets BASE CLASS..., "
        "config-identifiers, config-union CLASS, composition-nesting, composition-methods, "
        "head-methods, head-families, error-types, lora-sites, attention-sites, benchmark-results"
    )


def render_page(text: str) -> str:
    """``text`` with every generated block rewritten (markers inside fenced code blocks are left alone)."""
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    fence: str | None = None
    index = 0
    while index < len(lines):
        line = lines[index]
        out.append(line)
        index += 1
        stripped = line.strip()
        if fence is not None:
            fence = None if stripped.startswith(fence) and stripped.strip(fence[0]) == "" else fence
            continue
        opening = _FENCE.match(stripped)
        if opening:
            fence = opening[1]
            continue
        marker = _OPEN.match(line)
        if marker:
            close = next((i for i in range(index, len(lines)) if lines[i].strip() == _CLOSE), None)
            if close is None:
                raise ValueError(f"generated block {marker['spec']!r} has no closing {_CLOSE}")
            out.append(render(marker["spec"]))
            index = close
    return "".join(out)


def pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if "<!-- generated:" in p.read_text(encoding="utf-8"))


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for page in pages():
        text = page.read_text(encoding="utf-8")
        new = render_page(text)
        if new != text:
            stale.append(page)
            if not check:
                page.write_text(new, encoding="utf-8")
    verb = "out of date" if check else "rewritten"
    for page in stale:
        print(f"{page.relative_to(DOCS.parent)}: {verb}")
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

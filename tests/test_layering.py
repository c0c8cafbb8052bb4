"""The package has no import cycles, function-level imports included (the layer contract between packages is
checked by ``lint-imports`` in ``make lint``; this test also covers the modules inside each package), and every
top-level module of the package is in a layer of that contract (an unlisted module would be unchecked)."""

from __future__ import annotations

import pkgutil
import re
from pathlib import Path

import grimp

import adapters


def _cycles(graph) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    modules = sorted(graph.modules)
    edges = {m: sorted(i for i in graph.find_modules_directly_imported_by(m) if i in graph.modules) for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in modules:
        if root in index:
            continue
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = counter
                counter += 1
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(edges[child])))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


def test_no_import_cycles():
    graph = grimp.build_graph("adapters", cache_dir=None)
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_cycles():
    graph = grimp.ImportGraph()
    for module in ("p.a", "p.b", "p.c"):
        graph.add_module(module)
    graph.add_import(importer="p.a", imported="p.b")
    graph.add_import(importer="p.b", imported="p.a")
    graph.add_import(importer="p.b", imported="p.c")
    assert _cycles(graph) == [["p.a", "p.b"]]


def test_every_top_level_module_is_in_a_layer():
    pyproject = (Path(__file__).parents[1] / "pyproject.toml").read_text()  # tomllib needs Python 3.11
    (layers,) = re.findall(r"^layers = \[(.*?)^\]", pyproject, flags=re.M | re.S)
    layered = {name for layer in re.findall(r'"([^"]+)"', layers) for name in re.split(r"\s*[|:]\s*", layer)}
    modules = {f"adapters.{info.name}" for info in pkgutil.iter_modules(adapters.__path__)}
    assert modules == layered, (sorted(modules - layered), sorted(layered - modules))

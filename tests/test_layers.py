"""Dependencies point one way: core ← domain (rating, cutover, collectors, notify) ← edges (web, cli, scheduler).

Only monitor/web/ knows Flask. Imports are read from the source (every module's AST, imports
inside functions included), so an import hidden in a function counts as much as one at the top.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "monitor"
DOMAIN = ("rating", "cutover", "collectors", "notify")


def module_name(path: Path) -> str:
    """`monitor.web.pages.cache` for monitor/web/pages/cache.py, `monitor.web` for its __init__.py."""
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    """Every module of the package (migration scripts left out: Alembic loads them by path)."""
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py")) if "migrations" not in p.parts}


def imported_names(path: Path, name: str, at_import_time: bool = False) -> set[str]:
    """Every module `path` imports, anywhere in the file, relative imports resolved.

    `from . import x` names the submodule `x` when there is one, else the package itself;
    `from .a import f` names `.a`. With `at_import_time`, only what runs while the module is
    being imported: module-level statements, not functions and not `if TYPE_CHECKING:`.
    """
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    nodes = module_level_imports(tree) if at_import_time else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


def module_level_imports(tree: ast.Module) -> list[ast.stmt]:
    """The import statements that run when the module is imported."""
    found: list[ast.stmt] = []
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        elif isinstance(node, ast.If):
            pending.extend(node.orelse if "TYPE_CHECKING" in ast.unparse(node.test) else node.body + node.orelse)
        elif isinstance(node, ast.Try):
            pending.extend(node.body + node.orelse + node.finalbody + [s for h in node.handlers for s in h.body])
    return found


def import_graph(at_import_time: bool = False) -> dict[str, set[str]]:
    """Module → the package's modules it imports (see `imported_names`)."""
    known = modules()
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        edges: set[str] = set()
        for target in imported_names(path, name, at_import_time):
            # `monitor.web.pages.bp` is not a module: the nearest enclosing module is what loads.
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                edges.add(target)
        graph[name] = edges
    return graph


def find_cycle(graph: Mapping[str, Iterable[str]]) -> list[str] | None:
    """One cycle of `graph` as [a, b, ..., a], or None when it has none (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in sorted(graph):
        if state.get(start):
            continue
        path = [start]
        stack = [iter(sorted(graph.get(start, ())))]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph.get(nxt, ()))))
    return None


@pytest.mark.parametrize(("graph", "expected"), [
    ({"a": {"b"}, "b": {"c"}, "c": set()}, None),
    ({"a": {"b", "c"}, "b": {"d"}, "c": {"d"}, "d": set()}, None),  # a diamond is no cycle
    ({"a": {"a"}}, ["a", "a"]),
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
    ({"x": {"a"}, "a": {"b"}, "b": {"c"}, "c": {"b"}}, ["b", "c", "b"]),
])
def test_the_cycle_finder_finds_a_cycle_exactly_when_there_is_one(graph, expected):
    assert find_cycle(graph) == expected


def test_the_graph_resolves_relative_and_function_level_imports():
    graph = import_graph()
    assert "monitor.settings" in graph["monitor.metrics"]  # `from .settings import Settings`
    assert "monitor.cutover.core" in graph["monitor.cutover.queries"]  # `from . import core`
    assert "monitor.web.app" in graph["monitor"]  # inside create_app
    assert "monitor.web.pages.blueprint" in graph["monitor.web.pages"]  # `from .blueprint import bp`
    assert "monitor.web.pages.overview" in graph["monitor.web.pages"]  # `from . import overview`
    assert all(graph[name] <= set(graph) for name in graph)


def flask_or_web_imports(name: str) -> list[str]:
    """What module `name` imports of Flask, its extensions, Werkzeug or monitor.web."""
    return sorted(n for n in imported_names(modules()[name], name)
                  if n.split(".")[0] in ("flask", "werkzeug") or n.startswith("flask_")
                  or n == "monitor.web" or n.startswith("monitor.web."))


@pytest.mark.parametrize("name", sorted(n for n in modules() if n.split(".")[1:2] and n.split(".")[1] in DOMAIN))
def test_domain_modules_know_no_flask_and_no_web(name):
    bad = flask_or_web_imports(name)
    assert not bad, f"{name} imports {bad}"


def test_the_layer_check_sees_an_import_inside_a_function(tmp_path):
    module = tmp_path / "probe.py"
    module.write_text("def f():\n    from flask import Flask\n    from ..web import pages\n", encoding="utf-8")
    assert imported_names(module, "monitor.rating.probe") >= {"flask.Flask", "monitor.web.pages"}


# The layers of docs/architecture.md. A module in neither list is core.
DOMAIN_MODULES = ("monitor.rating", "monitor.cutover", "monitor.collectors", "monitor.notify", "monitor.noticeview",
                  "monitor.availability", "monitor.calendarplan",
                  "monitor.fingerprints", "monitor.doccache", "monitor.demo", "monitor.demo_feed", "monitor.demo_live", "monitor.demo_inputs",
                  "monitor.ical")
EDGE_MODULES = ("monitor.web", "monitor.cli", "monitor.cli_output", "monitor.scheduler", "monitor.metrics", "monitor.__main__")


def layer(name: str) -> int:
    """0 core, 1 domain, 2 edge (the package itself is an edge: create_app imports the web app)."""
    def inside(prefixes: tuple[str, ...]) -> bool:
        return any(name == p or name.startswith(p + ".") for p in prefixes)

    return 2 if name == "monitor" or inside(EDGE_MODULES) else 1 if inside(DOMAIN_MODULES) else 0


def test_dependencies_point_from_the_edges_to_the_domain_to_the_core():
    upward = sorted((a, b) for a, targets in import_graph().items() for b in targets if layer(b) > layer(a))
    assert not upward, f"imports against the layers (core ← domain ← edges): {upward}"


def test_collectors_never_import_notify():
    # notify reads what the collectors store (and queues deliveries through a function handed to
    # the notice collector); a collector that imported notify would make the two one package.
    graph = import_graph()
    back = sorted((a, b) for a, targets in graph.items() if a.startswith("monitor.collectors")
                  for b in targets if b == "monitor.notify" or b.startswith("monitor.notify."))
    assert not back, f"collectors import notify: {back}"
    assert any(b.startswith("monitor.collectors.") for b in graph["monitor.notify.collect"])  # the check sees edges


def test_importing_the_rating_method_loads_no_flask():
    code = "import sys, monitor.rating.method; print(sorted(m for m in sys.modules if 'flask' in m))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=PACKAGE.parent).stdout.strip()
    assert out == "[]", out


def test_the_import_graph_has_no_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " → ".join(cycle or [])


def import_order_graph() -> dict[str, set[str]]:
    """The graph Python walks when it imports: what runs at import time, parents included.

    Importing `a.b.c` first imports `a` and `a.b`, so each module depends on its parent
    packages. A package whose `__init__` imports its own submodules is loaded whole whichever
    of them is asked for first, so it and the submodules it loads (transitively, inside the
    package) are one node: a path that leaves it and comes back meets it half-initialised.
    """
    graph = import_graph(at_import_time=True)
    for name in list(graph):
        parent = name.rpartition(".")[0]
        if parent:
            graph[name].add(parent)
    known = modules()
    group: dict[str, str] = {}
    for package in sorted(graph, key=lambda n: n.count(".")):  # outer packages claim first
        if known[package].name != "__init__.py" or package in group:
            continue
        members, pending = {package}, [package]
        while pending:
            for target in graph[pending.pop()]:
                if target.startswith(package + ".") and target not in members and target not in group:
                    members.add(target)
                    pending.append(target)
        if len(members) > 1:
            group.update((m, package) for m in members)
    merged: dict[str, set[str]] = {}
    for name, targets in graph.items():
        node = group.get(name, name)
        merged.setdefault(node, set()).update(group.get(t, t) for t in targets)
    return {node: targets - {node} for node, targets in merged.items()}


def test_the_import_order_graph_sees_a_package_loaded_whole():
    graph = import_order_graph()
    assert "monitor.web.pages.blueprint" not in graph  # it is part of the pages package's node
    assert "monitor.cutover.core" not in graph and "monitor.cutover" in graph  # `from .core import ...`
    assert "monitor" in graph["monitor.settings"]  # importing a module first imports its package
    assert "monitor.web.app" not in graph["monitor"]  # create_app imports it when called, not at import


def test_no_module_meets_a_half_initialised_module_whichever_is_imported_first():
    cycle = find_cycle(import_order_graph())
    assert cycle is None, "a module imported first finds another half-initialised: " + " → ".join(cycle or [])


def _import_alone(name: str) -> tuple[str, str]:
    done = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True, text=True,
                          cwd=PACKAGE.parent)
    return name, done.stderr.strip().splitlines()[-1] if done.returncode else ""


def test_every_module_imports_alone_in_a_fresh_interpreter():
    from concurrent.futures import ThreadPoolExecutor

    alone = sorted(set(modules()) - {"monitor.__main__"})  # importing it runs the command line, by design
    with ThreadPoolExecutor(max_workers=4) as pool:
        failures = {name: err for name, err in pool.map(_import_alone, alone) if err}
    assert not failures, failures

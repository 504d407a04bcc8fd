"""The package's layering: no import cycles between beat_store's modules (issue #9).

Only imports executed at import time count: module-level ``import``/``from`` statements, not those under
``if TYPE_CHECKING:`` nor inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import beat_store

PACKAGE_ROOT = Path(beat_store.__file__).parent


def module_names() -> dict[str, Path]:
    names = {}
    for path in PACKAGE_ROOT.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        parts = ("beat_store", *path.relative_to(PACKAGE_ROOT).with_suffix("").parts)
        names[".".join(part for part in parts if part != "__init__")] = path
    return names


def imports_at_import_time(path: Path, known: set[str]) -> set[str]:
    """The beat_store modules a module's top-level statements import."""
    found: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("beat_store"):
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found & known


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in graph[module]:
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            group = set()
            while True:
                member = stack.pop()
                group.add(member)
                if member == module:
                    break
            if len(group) > 1:
                found.append(group)

    for module in graph:
        if module not in index:
            visit(module)
    return found


def test_no_module_of_beat_store_imports_itself_back_at_import_time() -> None:
    modules = module_names()
    graph = {
        name: {other for other in imports_at_import_time(path, set(modules)) if other != name}
        for name, path in modules.items()
    }

    assert len(graph) > 50  # the walk found the package
    assert cycles(graph) == []


def test_the_cycle_finder_sees_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]

"""The driver's shape: no import cycle in driver/, nobody but Client reads `client._*`, one public API."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

import driver

ROOT = Path(__file__).resolve().parents[2]
DRIVER = ROOT / "driver"


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, package: str, known: set[str]) -> set[str]:
    """driver modules an AST imports at run time, wherever the import sits (module or function
    level); imports under `if TYPE_CHECKING:` are for annotations only and not counted."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in known:
                    found.add(sub)        # `from driver.sdam import topology`: the submodule
                elif base in known:
                    found.add(base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph(root: Path = DRIVER) -> dict[str, set[str]]:
    """Module -> the driver modules it imports (the package facade driver/__init__ excluded:
    its names load lazily, and every `driver.x` import runs it first anyway)."""
    paths = sorted(root.rglob("*.py"))
    known = {_module_name(p, root.parent) for p in paths}
    graph: dict[str, set[str]] = {}
    for path in paths:
        name = _module_name(path, root.parent)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = _imports(ast.parse(path.read_text(encoding="utf-8")), package, known)
        graph[name] = {m for m in edges if m != name and m != root.name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None (depth-first search, three colours)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = dfs(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            cycle = dfs(start)
            if cycle:
                return cycle
    return None


def test_driver_has_no_import_cycle() -> None:
    graph = import_graph()
    assert "driver.client" in graph and "driver.database" in graph["driver.client"]
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle in driver/: " + " -> ".join(cycle or [])


def test_cycle_finder_finds_a_planted_cycle(tmp_path: Path) -> None:
    pkg = tmp_path / "driver"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from driver.sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from driver import c\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import driver.a\n"
                              "from . import a\n")
    assert find_cycle(import_graph(pkg)) == ["driver.a", "driver.sub.b", "driver.c", "driver.a"]
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import driver.a\n")
    assert find_cycle(import_graph(pkg)) is None  # annotation-only imports are no cycle


# Reading `client._x` (or `self.client._x`, `x._client._y`) outside driver/client.py is reaching
# into the client's private state: objects get what they need through driver.context.ClientContext.
_PRIVATE_CLIENT_READ = re.compile(r"(?<![A-Za-z0-9])_?client\._[A-Za-z]")


@pytest.mark.parametrize("path", sorted(p for base in ("driver", "mongocli", "tests", "bench")
                                        for p in (ROOT / base).rglob("*.py")
                                        if p != DRIVER / "client.py" and p != Path(__file__).resolve()),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_nobody_but_client_reads_private_client_attributes(path: Path) -> None:
    hits = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
            if _PRIVATE_CLIENT_READ.search(line)]
    assert not hits, "private client attributes read outside driver/client.py:\n" + "\n".join(hits)


def test_private_read_pattern_matches_what_it_must() -> None:
    assert _PRIVATE_CLIENT_READ.search("self._client._executor.execute(op)")
    assert _PRIVATE_CLIENT_READ.search("client._server_sessions.checkout()")
    assert not _PRIVATE_CLIENT_READ.search("client.retry_budget.tokens")
    assert not _PRIVATE_CLIENT_READ.search("self._context.executor")


def test_public_api_is_exported_with_all() -> None:
    for name in driver.__all__:
        value = getattr(driver, name)
        if isinstance(value, type):
            module = importlib.import_module(value.__module__)
            assert getattr(module, name) is value
    assert {"Client", "Database", "Collection", "Cursor", "ClientSession", "ReadPreference", "WriteConcern",
            "ReadConcern", "DriverError", "OperationFailure", "BulkWriteError", "InsertOne",
            "UpdateResult"} <= set(driver.__all__)
    with pytest.raises(AttributeError, match="no attribute 'NoSuchThing'"):
        driver.NoSuchThing  # noqa: B018

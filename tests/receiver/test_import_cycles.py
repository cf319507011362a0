"""No module of the receiver imports a module that imports it back, directly or in a loop.

What it checks: every ``.py`` file under ``backend/src/spanlink/receiver`` is parsed with
``ast``; each ``import x`` / ``from x import y`` statement anywhere in it (module level,
inside functions, under ``if TYPE_CHECKING:``) is an edge to the receiver module it names
(``from pkg import name`` is an edge to ``pkg.name`` when that is a module, else to ``pkg``;
relative imports are resolved). The implicit import of a parent package's ``__init__`` is not
an edge, nor are ``importlib.import_module`` calls with computed names (the lazy
``__getattr__`` of a few ``__init__`` files). The graph must have no cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import spanlink.receiver

ROOT = Path(spanlink.receiver.__file__).resolve().parent
PACKAGE = "spanlink.receiver"


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join([PACKAGE, *parts])] = path
    return found


def _imports(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    is_package = path.name == "__init__.py"
    edges: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" for alias in node.names]
            names = [name for name in targets if name in modules]
            if len(names) < len(targets):  # some names are attributes of ``base`` itself
                names.append(base)
        else:
            continue
        edges.update(name for name in names if name in modules and name != module)
    return edges


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
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
                work.append((child, iter(sorted(graph[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


def test_the_checker_sees_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_has_the_receivers_imports() -> None:
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert f"{PACKAGE}.api.auth" in graph[f"{PACKAGE}.api.traces"]
    assert f"{PACKAGE}.storage" in graph[f"{PACKAGE}.api.auth"]
    # A function-level import counts too.
    assert f"{PACKAGE}.embedded" in graph[f"{PACKAGE}.cli._options"]


def test_no_module_of_the_receiver_imports_one_that_imports_it_back() -> None:
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert _cycles(graph) == []

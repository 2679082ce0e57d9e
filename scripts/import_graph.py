"""The project's import graph, read from the source (nothing is imported): circles, imports that cross the
layering in the wrong direction, and imports written inside functions.

The layers, lowest first; a package may import its own layer and the ones below, never one above:

    texplain          the method (imports nothing of the project)
    contracts         the floor plug-ins stand on (imports only texplain)
    harness           configs, pipeline, datasets, worlds, metrics, reporting, command line
    explainers, suites, human_eval   plug-ins (found by the harness through the registries of contracts)

Plug-ins do not import each other, and suites import nothing of ``harness.pipeline``, ``harness.reporting``
or ``harness.cli`` (they get what they need from the RunContext protocol). An import inside a function
is counted; the ones the project keeps are there to defer an optional heavy dependency.

Usage: .venv/bin/python scripts/import_graph.py [--root DIR]   (exit 1 when a rule is broken)
"""

from __future__ import annotations

import argparse
import ast
import sys
from dataclasses import dataclass, field
from pathlib import Path

PACKAGES = ("texplain", "contracts", "harness", "explainers", "suites", "human_eval")
LAYER = {"texplain": 0, "contracts": 1, "harness": 2, "explainers": 3, "suites": 3, "human_eval": 3}
FORBIDDEN_FOR_SUITES = ("harness.pipeline", "harness.reporting", "harness.cli")


@dataclass
class Graph:
    edges: dict[str, set[str]] = field(default_factory=dict)  # module -> project modules it imports at module level
    function_level: list[tuple[str, int, str]] = field(default_factory=list)  # (module, line, imported)


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(imported: str, known: set[str]) -> str | None:
    """The project module an import names (a name imported from a package may be a submodule)."""
    candidate = imported
    while candidate:
        if candidate in known:
            return candidate
        candidate = candidate.rpartition(".")[0]
    return None


def read_graph(root: Path) -> Graph:
    files = [p for package in PACKAGES for p in sorted((root / package).rglob("*.py")) if (root / package).is_dir()]
    known = {module_name(root, p) for p in files}
    graph = Graph()
    for path in files:
        name = module_name(root, path)
        graph.edges.setdefault(name, set())
        tree = ast.parse(path.read_text(), filename=str(path))
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node, in_function in _imports(tree):
            targets = {_resolve(imported, known) for imported in _names(node, package, known)} - {None, name}
            for target in sorted(targets):
                if in_function:
                    graph.function_level.append((name, node.lineno, target))
                else:
                    graph.edges[name].add(target)
    return graph


def _imports(tree: ast.AST):
    """(import node, whether it sits inside a function), skipping `if TYPE_CHECKING:` blocks."""
    def walk(node, in_function):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and isinstance(child.test, ast.Name) and child.test.id == "TYPE_CHECKING":
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                yield child, in_function
            yield from walk(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)))
    yield from walk(tree, False)


def _names(node: ast.AST, package: str, known: set[str]) -> list[str]:
    """The modules an import statement names: `from a.b import c` names a.b.c where that is a module, else a.b."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        parent = package.split(".")
        parent = parent[: len(parent) - (node.level - 1)] if node.level > 1 else parent
        base = ".".join(parent + ([base] if base else []))
    return [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]


def with_function_level(graph: Graph) -> Graph:
    """The graph with the imports inside functions as edges too: an import moved into a function to hide
    a circle still closes it."""
    edges = {module: set(targets) for module, targets in graph.edges.items()}
    for module, _, target in graph.function_level:
        edges.setdefault(module, set()).add(target)
    return Graph(edges, list(graph.function_level))


def circles(graph: Graph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10000)
    for v in sorted(graph.edges):
        if v not in index:
            visit(v)
    return sorted(found)


def top(module: str) -> str:
    return module.split(".")[0]


def wrong_way(graph: Graph, include_function_level: bool = True) -> list[tuple[str, str]]:
    """Imports that break the layering: upward, between plug-in packages, or from a suite into the pipeline."""
    pairs = [(a, b) for a, targets in graph.edges.items() for b in targets]
    if include_function_level:
        pairs += [(a, b) for a, _, b in graph.function_level]
    bad = []
    for a, b in sorted(set(pairs)):
        ta, tb = top(a), top(b)
        if ta == tb:
            continue
        if LAYER[tb] > LAYER[ta] or (LAYER[ta] == LAYER[tb] == 3):
            bad.append((a, b))
        elif ta == "suites" and b.startswith(FORBIDDEN_FOR_SUITES):
            bad.append((a, b))
    return bad


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", default=str(Path(__file__).resolve().parents[1]))
    args = parser.parse_args()
    graph = read_graph(Path(args.root))
    found_circles, bad = circles(with_function_level(graph)), wrong_way(graph)
    across = [(a, line, b) for a, line, b in graph.function_level if top(a) != top(b)]
    print(f"modules: {len(graph.edges)}; module-level imports: {sum(len(t) for t in graph.edges.values())}")
    print(f"circles (imports inside functions included): {len(found_circles)}")
    for circle in found_circles:
        print("  " + " <-> ".join(circle))
    print(f"imports against the layering: {len(bad)}")
    for a, b in bad:
        print(f"  {a} -> {b}")
    print(f"imports inside functions: {len(graph.function_level)} ({len(across)} across top-level packages)")
    for a, line, b in across:
        print(f"  {a}:{line} -> {b}")
    return 1 if found_circles or bad else 0


if __name__ == "__main__":
    sys.exit(main())

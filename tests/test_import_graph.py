"""The layering of the code (scripts/import_graph.py): no import circle, imports inside functions
included; nothing imports a layer above its own; plug-ins do not import each other; suites reach the
run only through the RunContext protocol."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import import_graph  # noqa: E402

GRAPH = import_graph.read_graph(ROOT)


def test_no_import_circle():
    assert import_graph.circles(import_graph.with_function_level(GRAPH)) == []


def test_no_import_against_the_layering():
    assert import_graph.wrong_way(GRAPH) == []


def test_the_floor_imports_only_texplain():
    for module, targets in GRAPH.edges.items():
        if module.startswith("contracts"):
            assert {import_graph.top(t) for t in targets} <= {"contracts", "texplain"}, module


def test_the_checker_finds_a_planted_circle(tmp_path):
    for package, body in (("texplain", "from harness import a\n"), ("harness", "from texplain import b\n")):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "texplain" / "b.py").write_text("from harness.a import x\n")
    (tmp_path / "harness" / "a.py").write_text("def f():\n    from texplain.b import y\n")
    graph = import_graph.read_graph(tmp_path)
    assert import_graph.circles(import_graph.with_function_level(graph)) == [["harness.a", "texplain.b"]]
    assert ("texplain.b", "harness.a") in import_graph.wrong_way(graph)

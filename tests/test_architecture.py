"""The layout's promises (issue 18, docs/design.md#code-layout), checked on the source itself."""

from __future__ import annotations

import ast
import re
from pathlib import Path

SOURCE = Path(__file__).parent.parent / "src" / "safeterraform"


def modules() -> dict[str, Path]:
    found = {}
    for path in SOURCE.rglob("*.py"):
        parts = path.relative_to(SOURCE).with_suffix("").parts
        name = ".".join(("safeterraform", *parts)).removesuffix(".__init__")
        found[name] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Project modules `name` imports; `from pkg import submodule` is an edge to the
    submodule, not to the package."""
    edges: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if not node.module.startswith("safeterraform"):
                continue
            submodules = {f"{node.module}.{alias.name}" for alias in node.names}
            hits = submodules & set(known)
            edges |= hits
            if len(hits) < len(node.names):
                edges.add(node.module)
        elif isinstance(node, ast.Import):
            edges |= {a.name for a in node.names if a.name.startswith("safeterraform")}
    edges.discard(name)
    return edges & set(known)


def test_the_import_graph_has_no_cycle() -> None:
    """Mutation: make statecmd import flows.state back (the old guard<->statecmd cycle)."""
    known = modules()
    graph = {name: imports(name, path, known) for name, path in known.items()}
    visiting: list[str] = []
    done: set[str] = set()

    def visit(name: str) -> None:
        if name in done:
            return
        assert name not in visiting, " -> ".join([*visiting[visiting.index(name) :], name])
        visiting.append(name)
        for target in sorted(graph[name]):
            visit(target)
        visiting.pop()
        done.add(name)

    for name in sorted(graph):
        visit(name)


def test_judge_is_the_only_production_decision() -> None:
    """Only policy.judge builds a Verdict, and callers read `.production` only from it.
    Mutation: let a flow or doctor re-derive "is this production" itself -> fails."""
    builders = []
    readers = []
    for name, path in modules().items():
        text = path.read_text()
        if re.search(r"\bVerdict\(", text) and name != "safeterraform.policy":
            builders.append(name)
        if re.search(r"\bhas_production_token\(|\b_workspace_rule\(|\b_path_rule\(", text):
            readers.append(name)
    assert builders == []
    assert readers == ["safeterraform.policy"]
    callers = sorted(
        name for name, path in modules().items() if "policy.judge(" in path.read_text()
    )
    assert callers == [
        "safeterraform.commands.approve",
        "safeterraform.commands.doctor",
        "safeterraform.commands.rollout",
        "safeterraform.shim",
    ]


def test_every_module_starts_by_saying_what_it_is() -> None:
    for name, path in modules().items():
        doc = ast.get_docstring(ast.parse(path.read_text()))
        assert doc and doc.strip(), f"{name} has no module docstring"

"""The layering of ``src/rlvr``, read from its import statements (function-level imports included, and the package
``__init__`` that importing a submodule runs): ``rlvr.api`` is the public face that nothing below imports, and
no imports run in a circle (task modules register in the leaf ``rlvr.registry``, never in ``rlvr.rewards``,
which imports them)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
def modules() -> dict[str, Path]:
    out = {}
    for path in (SRC / "rlvr").rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imported(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The rlvr modules ``module`` imports anywhere in its body, and the packages whose ``__init__`` that runs."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            targets = [base, *(f"{base}.{a.name}" for a in node.names)]
        else:
            continue
        for target in targets:
            if not target.startswith("rlvr"):
                continue
            while target not in known and "." in target:
                target = target.rsplit(".", 1)[0]
            parts = target.split(".")
            for i in range(2, len(parts) + 1):  # the target and the packages above it, outside module's own
                name = ".".join(parts[:i])
                if name in known and name != module and not module.startswith(name + "."):
                    found.add(name)
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {m: imported(m, p, known) for m, p in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(component)

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_nothing_below_the_public_api_imports_it() -> None:
    importers = sorted(m for m, deps in graph().items() if "rlvr.api" in deps)
    assert importers == [], f"{importers} import rlvr.api: import what they need from the module that holds it"


def test_no_import_cycles() -> None:
    found = [sorted(c) for c in cycles(graph())]
    assert found == [], f"import cycles: {found}"


def test_the_graph_sees_function_level_imports_and_package_inits() -> None:
    edges = graph()
    assert "rlvr.evaluation.vllm_backend" in edges["rlvr.evaluation.offline"]  # imported inside a function
    assert "rlvr.trainers" in edges["rlvr.replay.mixin"]  # importing rlvr.trainers.base runs rlvr/trainers/__init__
    assert "rlvr.tasks" in edges["rlvr.rewards"] and "rlvr.registry" in edges["rlvr.tasks.math"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]


def test_lower_packages_do_not_import_each_other_sideways() -> None:
    """What docs/architecture.md promises: rewards and tasks never import replay, replay never imports data loading
    (an extension gets other rows through its ExtensionContext)."""
    edges = graph()
    sideways = sorted(
        (m, d)
        for m, deps in edges.items()
        for d in deps
        if (m.startswith(("rlvr.rewards", "rlvr.tasks", "rlvr.registry")) and d.startswith("rlvr.replay"))
        or (m.startswith("rlvr.replay") and d.startswith("rlvr.data"))
    )
    assert sideways == [], sideways

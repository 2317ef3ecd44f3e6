"""The packages depend on each other one way: run_search.py -> driver -> search_spaces ->
trainables, with analysis beside them (the driver calls it; it reads results folders and imports
none of the others, except the activation-maximisation tool, which rebuilds models). Every import
of every module counts, those inside functions too, and no module imports itself in a circle."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("driver", "search_spaces", "trainables", "analysis")
# What each layer may import from the suite's own packages.
ALLOWED = {
    "run_search": {"driver", "search_spaces", "trainables", "analysis"},
    "driver": {"driver", "search_spaces", "trainables", "analysis"},
    "search_spaces": {"search_spaces", "trainables"},
    "trainables": {"trainables"},
    "analysis": {"analysis"},
}
EXCEPTIONS = {"analysis.visualize": {"trainables"}}


def modules() -> dict[str, Path]:
    found = {"run_search": ROOT / "run_search.py"}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The suite's modules `name` imports, at any depth of its code."""
    out = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            targets = [f"{base}.{a.name}" for a in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports(name, path, set(found)) for name, path in found.items()}


def test_every_import_points_down_the_layers():
    wrong = []
    for name, targets in graph().items():
        layer = name.split(".")[0]
        allowed = ALLOWED[layer] | EXCEPTIONS.get(name, set())
        wrong += [f"{name} -> {t}" for t in sorted(targets) if t.split(".")[0] not in allowed]
    assert not wrong, "imports against the layers: " + ", ".join(wrong)


def test_no_module_imports_itself_through_others():
    g = graph()
    cycles = []

    def visit(node, path):
        for nxt in sorted(g.get(node, ())):
            if nxt == path[0]:
                cycles.append(" -> ".join([*path, nxt]))
            elif nxt not in path and nxt > path[0]:  # each cycle once, from its smallest name
                visit(nxt, [*path, nxt])

    for start in sorted(g):
        visit(start, [start])
    assert not cycles, "import cycles: " + "; ".join(cycles)


def test_the_checker_sees_function_level_imports():
    g = graph()
    assert "trainables.phases" in g["trainables.train"]  # imported inside train()
    assert "trainables.models.transfer" in g["trainables.phases"]

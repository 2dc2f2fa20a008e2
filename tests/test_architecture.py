"""The package keeps its layers: no import cycles, imports only downward, small modules.

Read from the source with ``ast`` (nothing is imported), so a cycle through a lazy import inside a
function, or through a ``TYPE_CHECKING`` block, counts like any other. The layers and the reasons
behind them are described in ``docs/architecture.md``; change both together.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "demp"

# Bottom to top. A module may import modules of its own package and of packages on a lower
# line; never one on its own line (another package) or above.
LAYERS: list[set[str]] = [
    # import nothing of demp ("demp" itself is the root package's __init__, which every import
    # of a demp module runs first)
    {"demp", "demp.errors", "demp.dotted", "demp.registry", "demp.pareto", "demp.yamlfile",
     "demp.writable"},
    {"demp.config"},
    {"demp.models", "demp.data", "demp.spec"},
    {"demp.train"},
    {"demp.methods"},
    {"demp.results"},
    {"demp.track"},
    {"demp.sweep"},
    {"demp.cli"},
    {"demp.__main__"},
]

# Third-party imports that belong to one package: Ray runs sweeps, W&B is tracking.
OWNED_IMPORTS = {"ray": "demp.sweep", "wandb": "demp.track"}

MAX_LINES = 400
# Modules allowed above MAX_LINES, each with its reason. Empty: none needs it today.
LONG_MODULES: dict[str, str] = {}


# ------------------------------------------------------------------------------ reading demp/


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(root: Path = ROOT) -> dict[str, Path]:
    return {module_name(p, root): p for p in sorted(root.rglob("*.py"))}


def imported_names(path: Path, name: str) -> set[str]:
    """Every dotted name ``path`` imports (absolute, relative ones resolved), wherever it
    imports it: top level, inside functions, under ``if TYPE_CHECKING``."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(pkg + ([base] if base else []))
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names)
    return out


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module → the modules of the package it imports. A package's ``__init__`` re-exporting
    its own children is its public face, not an edge."""
    files = modules(root)
    known = set(files)
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        targets = set()
        for t in imported_names(path, name):
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name and not (path.name == "__init__.py"
                                        and t.startswith(name + ".")):
                targets.add(t)
        graph[name] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
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

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))
    try:
        for v in sorted(graph):
            if v not in index:
                visit(v)
    finally:
        sys.setrecursionlimit(limit)
    return found


def package_of(module: str) -> str:
    """``demp.sweep.runner`` → ``demp.sweep``; top-level modules are their own package."""
    return ".".join(module.split(".")[:2])


def layer_of(package: str) -> int:
    for i, layer in enumerate(LAYERS):
        if package in layer:
            return i
    raise KeyError(package)


# ------------------------------------------------------------------------------ the checks


def test_every_package_has_a_layer():
    unplaced = sorted({package_of(m) for m in modules()} - set().union(*LAYERS))
    assert not unplaced, f"add these to LAYERS (and docs/architecture.md): {unplaced}"


def test_no_import_cycles():
    found = cycles(import_graph())
    assert not found, "import cycles:\n" + "\n".join("  " + " <-> ".join(c) for c in found)


def test_packages_import_only_downward():
    wrong = []
    for module, targets in sorted(import_graph().items()):
        here = package_of(module)
        for t in sorted(targets):
            there = package_of(t)
            if there != here and layer_of(there) >= layer_of(here):
                wrong.append(f"{module} imports {t} ({there} is not below {here})")
    assert not wrong, "imports that go up or sideways:\n" + "\n".join(wrong)


def test_ray_and_wandb_stay_in_their_packages():
    wrong = []
    for module, path in modules().items():
        for t in imported_names(path, module):
            owner = OWNED_IMPORTS.get(t.split(".")[0])
            if owner is not None and package_of(module) != owner:
                wrong.append(f"{module} imports {t} (only {owner} may)")
    assert not wrong, "\n".join(wrong)


def test_modules_stay_small():
    lengths = {m: len(p.read_text(encoding="utf-8").splitlines()) for m, p in modules().items()}
    long = {m: n for m, n in lengths.items() if n > MAX_LINES}
    unexplained = sorted(f"{m}: {n} lines" for m, n in long.items() if m not in LONG_MODULES)
    assert not unexplained, (f"modules over {MAX_LINES} lines; split them or list them in "
                             f"LONG_MODULES with a reason:\n" + "\n".join(unexplained))
    stale = sorted(m for m in LONG_MODULES if m not in long)
    assert not stale, f"LONG_MODULES lists modules that are no longer long (or gone): {stale}"


# ------------------------------------------------------------------------------ the checker


def test_the_checker_finds_cycles_and_upward_imports(tmp_path):
    """The checks above would fail on a cycle: shown on a throwaway package."""
    pkg = tmp_path / "demp"
    (pkg / "low").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from demp.low import a\n")  # its own child: not an edge
    (pkg / "low" / "__init__.py").write_text("")
    (pkg / "low" / "a.py").write_text("def f():\n    from demp.low import b  # lazy\n")
    (pkg / "low" / "b.py").write_text("from typing import TYPE_CHECKING\n"
                                      "if TYPE_CHECKING:\n    from .a import f\n")
    (pkg / "low" / "c.py").write_text("import demp.high\n")
    (pkg / "high.py").write_text("from demp.low.c import x\n")
    graph = import_graph(pkg)
    assert graph["demp"] == set()
    assert graph["demp.low.a"] == {"demp.low", "demp.low.b"}
    assert graph["demp.low.b"] == {"demp.low.a"}
    assert sorted(cycles(graph)) == [["demp.high", "demp.low.c"], ["demp.low.a", "demp.low.b"]]
    assert package_of("demp.low.c") == "demp.low" and package_of("demp.high") == "demp.high"


def test_the_trainer_names_no_method():
    """The loop calls a strategy; only ``demp.methods.build_trainer`` knows which one."""
    names = imported_names(modules()["demp.train.trainer"], "demp.train.trainer")
    assert not [n for n in names if n.startswith(("demp.methods", "demp.registry"))]

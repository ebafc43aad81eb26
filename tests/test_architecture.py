"""The layout of the package is the pipeline of a fit, and it stays so.

Every module's imports — at the top, inside functions and under ``TYPE_CHECKING`` — point down
the pipeline (``LAYERS``), never up; there is no import cycle; no module is over 600 lines.
``ARCHITECTURE.md`` describes the layers.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "mixedmodels"
# the steps of a fit, bottom to top: a module may import its own layer or any layer below
LAYERS: list[set[str]] = [
    {"_typing", "_jit", "errors"},
    {"formula", "datasets"},
    {"spec"},
    {"linalg"},
    {"objective"},
    {"optimize"},
    {"fitted"},
    {"fit"},
    {"results", "inference", "plots"},
    {"models"},
    {"chunked"},
    {"api", "glmm_api"},
    {"cli", "__main__", "__init__"},
]
MAX_LINES = 600


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts)
        out[name] = path
    return out


MODULES = _modules()


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> set[str]:
    """The package's modules an import statement names (the nearest existing module)."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        base = node.module or ""
        if node.level:
            parts = module.split(".")
            package = MODULES[module].name == "__init__.py"
            parts = parts if package else parts[:-1]
            parts = parts[: len(parts) - (node.level - 1)]
            base = ".".join(["mixedmodels", *parts, *([base] if base else [])])
        names = [base] + [f"{base}.{a.name}" for a in node.names]
    found = set()
    for name in names:
        if not name.startswith("mixedmodels"):
            continue
        name = name.removeprefix("mixedmodels").removeprefix(".") or "__init__"
        while name and name not in MODULES:
            name = name.rpartition(".")[0]
        if name and name != module:
            found.add(name)
    return found


def _graph() -> dict[str, set[str]]:
    graph = {}
    for module, path in MODULES.items():
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import | ast.ImportFrom):
                edges |= _targets(module, node)
        # a package's __init__ re-exporting its own modules is not an arrow between steps
        graph[module] = {t for t in edges if not t.startswith(module + ".")}
    return graph


def _layer(module: str) -> int:
    top = module.split(".")[0]
    for rank, names in enumerate(LAYERS):
        if top in names:
            return rank
    raise AssertionError(f"module {module!r} is in no layer of tests/test_architecture.py")


def test_every_import_points_down_the_pipeline() -> None:
    upward = [
        f"{a} -> {b}" for a, targets in _graph().items() for b in targets if _layer(b) > _layer(a)
    ]
    assert not upward, "imports that point up the pipeline:\n" + "\n".join(sorted(upward))


def test_there_is_no_import_cycle() -> None:
    graph = _graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    assert not cycles, "import cycles: " + "; ".join(", ".join(c) for c in cycles)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_is_over_600_lines(module: str) -> None:
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{module} has {lines} lines"


def test_the_checks_see_the_known_layout() -> None:
    graph = _graph()
    assert "models.linear" in graph and "fit.lmm" in graph["models.linear"]
    assert "spec.frame" in graph["models.linear"]
    assert all(_layer(m) >= 0 for m in MODULES)

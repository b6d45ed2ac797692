"""The repo's own standards, enforced by the same command CI runs: ruff, mypy, and the
import contracts of pyproject.toml (import-linter: the layers of docs/layout.md, no
import cycle)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("tool", [
    [sys.executable, "-m", "ruff", "check", "promptctl", "tests", "bench"],
    [sys.executable, "-m", "mypy"],
    [str(Path(sys.executable).with_name("lint-imports")), "--no-cache"],
], ids=["ruff", "mypy", "import-contracts"])
def test_static_checks_are_clean(tool):
    proc = subprocess.run(tool, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_no_module_imports_itself_through_others():
    """Module by module (import-linter's contracts compare packages): the import graph
    of promptctl, imports inside functions and under TYPE_CHECKING included, has no
    cycle. Tarjan's strongly connected components over grimp's graph."""
    import grimp

    graph = grimp.build_graph("promptctl", cache_dir=None)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for other in graph.find_modules_directly_imported_by(module):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in on_stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == module:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    assert not cycles, cycles

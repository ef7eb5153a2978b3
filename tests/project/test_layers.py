"""The layering the README's Development section describes: no import cycle anywhere, and the
import-linter contracts in pyproject.toml kept (``make test`` runs ``lint-imports`` too; this
test keeps the promise when pytest runs alone)."""

from __future__ import annotations

import ast
import graphlib
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "daemon", "devices", "feeds", "search", "algorithms")


def _graph() -> dict[str, set[str]]:
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)  # type-checking imports count: a cycle is a cycle
    # `from package import submodule` in a package's __init__ shows as the package importing itself
    return {m: set(graph.find_modules_directly_imported_by(m)) - {m} for m in graph.modules}


def test_no_module_imports_itself_back_through_another() -> None:
    try:
        graphlib.TopologicalSorter(_graph()).prepare()
    except graphlib.CycleError as exc:
        raise AssertionError(f"import cycle: {' -> '.join(exc.args[1])}") from None


def test_the_cycle_check_sees_a_cycle() -> None:
    """The check above is only worth something if it notices one."""
    graph = _graph()
    graph["core.errors"].add("devices.stove")  # as if the foundation imported a feature back
    with pytest.raises(graphlib.CycleError) as caught:
        graphlib.TopologicalSorter(graph).prepare()
    assert "core.errors" in caught.value.args[1]


def test_the_import_contracts_are_kept() -> None:
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout



# Imports inside a function are the composition root's alone, each for a reason (README "Layout and
# layers"):
LATE_IMPORTS_ALLOWED = {
    # start order: the relays are reconciled and overdue timers fired before the web stack and the paper
    # feed load
    ("daemon/app.py", "_papers"),
    ("daemon/app.py", "_start_http"),
    # the stove's commands start without pydantic (~0.2 s): the schema loads when a command needs it
    ("daemon/cli.py", "load"),
    ("daemon/cli.py", "find_daemon"),
}


def test_imports_are_at_module_level() -> None:
    """Late imports hid the old cycles; only the allowed start-order ones remain."""
    late = set()
    for package in PACKAGES[:-1]:  # algorithms is checked by its own tests
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            for func in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                    for node in ast.walk(func):
                        if isinstance(node, ast.Import | ast.ImportFrom):
                            late.add((rel, func.name))
    assert late == LATE_IMPORTS_ALLOWED

"""Backend code stays in ``monitor/store/``: the rest of the package asks for capabilities.

What only some backends can do is reached through ``wakeups_of``, ``work_sharing_of``,
``raw_rows_of``, ``scan_of`` and ``pauses_of`` (``monitor.store.base``), never by
testing a store's class or importing a backend module — so a new backend, or the
memory twin, works everywhere at once. These tests read the source, so they fail the
moment someone writes ``isinstance(store, PostgresEventStore)`` again.
"""

from __future__ import annotations

import ast
from pathlib import Path

import monitor

PACKAGE = Path(monitor.__file__).parent
STORE = PACKAGE / "store"
CONCRETE_STORES = {"MemoryEventStore", "SqliteEventStore", "PostgresEventStore"}
BACKEND_MODULES = ("monitor.store.memory", "monitor.store.sqlite", "monitor.store.postgres")


def modules_outside_store() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if STORE not in p.parents)


def class_names(node: ast.expr) -> set[str]:
    """The names a class test's second argument mentions (``A``, ``m.A``, ``(A, B)``, ``A | B``)."""
    return {
        sub.id if isinstance(sub, ast.Name) else sub.attr
        for sub in ast.walk(node)
        if isinstance(sub, ast.Name | ast.Attribute)
    }


def is_backend(module: str) -> bool:
    return any(module == m or module.startswith(m + ".") for m in BACKEND_MODULES)


def leaks(path: Path, root: Path = PACKAGE.parent) -> list[str]:
    """Every class test against a concrete store, and every backend import, in ``path``."""
    found = []
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        where = f"{path.relative_to(root)}:{getattr(node, 'lineno', 0)}"
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("isinstance", "issubclass")
            and len(node.args) == 2
            and class_names(node.args[1]) & CONCRETE_STORES
        ):
            found.append(f"{where}: {ast.unparse(node)}")
        if isinstance(node, ast.ImportFrom) and node.module is not None:
            imported = {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
            names = {a.name for a in node.names}
            if names & CONCRETE_STORES or any(map(is_backend, imported)):
                found.append(f"{where}: from {node.module} import {', '.join(sorted(names))}")
        if isinstance(node, ast.Import):
            found += [
                f"{where}: import {a.name}"
                for a in node.names
                if a.name.startswith(BACKEND_MODULES)
            ]
    return found


def test_no_module_outside_the_store_tests_a_stores_class_or_imports_a_backend() -> None:
    offending = [line for path in modules_outside_store() for line in leaks(path)]
    assert offending == [], "ask for a capability (monitor.store.base) instead:\n" + "\n".join(
        offending
    )


def test_the_check_finds_a_leak(tmp_path: Path) -> None:
    """The scan above is not vacuous: each form of leak it must catch, it catches."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from monitor.store.postgres import PostgresEventStore\n"
        "import monitor.store.sqlite.files\n"
        "from monitor import store\n"
        "def f(s):\n"
        "    return isinstance(s, store.SqliteEventStore | store.MemoryEventStore)\n",
        encoding="utf-8",
    )
    found = leaks(sample, root=tmp_path)
    assert [line.split(": ", 1)[0] for line in found] == [
        "sample.py:1",
        "sample.py:2",
        "sample.py:5",
    ], found

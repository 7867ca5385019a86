"""Readers match on event classes, not on type-name strings or stored capture keys.

Outside ``monitor/events/`` no string literal names an event type and no code indexes a
``"capture"`` key: readers take ``stored.event`` and its ``Capture`` (groups of types for
store queries are ``names(GROUP)``). These tests read the source, so they fail the moment
someone writes ``event.type == "ChangeDetected"`` or ``data["capture"]`` again.
"""

from __future__ import annotations

import ast
from pathlib import Path

import monitor
from monitor.events import EVENT_TYPES

PACKAGE = Path(monitor.__file__).parent
EVENTS = PACKAGE / "events"
# Strings that are not event types although they are spelled like one, with why.
NOT_TYPES = {
    # The kind of a search-index row written by older versions (the index is a cache
    # on disk, rebuilt from the log; its rows say "change" now).
    ("desk/search_index.py", "ChangeDetected"),
}


def readers() -> list[tuple[str, str]]:
    """(path relative to the package, source) of every module outside ``monitor/events/``."""
    return [
        (p.relative_to(PACKAGE).as_posix(), p.read_text(encoding="utf-8"))
        for p in sorted(PACKAGE.rglob("*.py"))
        if EVENTS not in p.parents
    ]


def type_literals(where: str, source: str) -> list[str]:
    return [
        f"{where}:{node.lineno} {node.value!r}"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value in EVENT_TYPES
        and (where, node.value) not in NOT_TYPES
    ]


def capture_keys(where: str, source: str) -> list[str]:
    """``x["capture"]`` and ``x.get("capture")``: a stored capture read as a dict."""
    found = []
    for node in ast.walk(ast.parse(source)):
        key = None
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
            key = node.slice
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and node.args
        ):
            key = node.args[0]
        if isinstance(key, ast.Constant) and key.value == "capture":
            found.append(f"{where}:{node.lineno}")
    return found


def test_no_reader_names_an_event_type_in_a_string() -> None:
    found = [hit for where, source in readers() for hit in type_literals(where, source)]
    assert found == [], "match on event classes (monitor.events), not on type names"


def test_no_reader_indexes_a_stored_capture() -> None:
    found = [hit for where, source in readers() for hit in capture_keys(where, source)]
    assert found == [], "read a capture through Capture (event.capture), not data['capture']"


def test_the_scans_catch_a_reader_written_the_old_way() -> None:
    old = 'def f(e):\n    return e.type == "ChangeDetected" and e.data["capture"]["raw_sha256"]\n'
    assert type_literals("web/old.py", old) == ["web/old.py:2 'ChangeDetected'"]
    assert capture_keys("web/old.py", old) == ["web/old.py:2"]
    assert capture_keys("web/old.py", 'x = e.data.get("capture") or {}\n') == ["web/old.py:1"]

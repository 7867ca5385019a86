"""Dataclasses made with compiled methods from the cache are the ones ``dataclasses`` makes.

``monitor.codecache`` stores the code ``dataclasses`` compiles for every class's
generated methods, so a later process skips the compiling. These tests define the same
classes with and without it and compare what a caller can see, and check that the
second process takes the code from the file instead of compiling it.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from monitor import codecache

# A module's worth of classes exercising every generated method: __init__ with defaults
# and factories, repr, eq, order, frozen __setattr__, __hash__, slots, kw_only.
CLASSES = """
from __future__ import annotations
import dataclasses

@dataclasses.dataclass(frozen=True, order=True, slots=True)
class Point:
    x: int
    y: int = 0
    tags: tuple[str, ...] = ()

@dataclasses.dataclass(kw_only=True)
class Settings:
    name: str
    items: list[int] = dataclasses.field(default_factory=list)
    hidden: str = dataclasses.field(default="h", repr=False, compare=False)

@dataclasses.dataclass(unsafe_hash=True)
class Same:
    x: int
    y: int = 0
"""


def define(cache: codecache.CodeCache | None, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A new module with the classes, defined through ``cache`` (None: plain dataclasses)."""
    module = ModuleType("cached_classes")
    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, module.__name__, module)  # dataclasses looks it up
        patch.setattr(dataclasses, "exec", cache.exec if cache else exec, raising=False)
        exec(compile(CLASSES, "<classes>", "exec", dont_inherit=True), vars(module))
    return vars(module)


def behaviour(ns: dict[str, Any]) -> list[object]:
    point, settings, same = ns["Point"], ns["Settings"], ns["Same"]
    a, b = point(1, 2, ("t",)), point(1)
    seen: list[object] = [
        repr(a),
        a == point(1, 2, ("t",)),
        a < b,
        b < a,
        hash(a) == hash(point(1, 2, ("t",))),
    ]
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.x = 3
    s = settings(name="n")
    seen += [repr(s), s.items, s == settings(name="n", hidden="other")]
    with pytest.raises(TypeError):
        settings("positional")
    seen += [hash(same(1)) == hash(same(1)), same(1, 2) != same(1)]
    for cls in (point, settings, same):
        for method in ("__init__", "__repr__", "__eq__"):
            function = getattr(cls, method)
            # Annotations stay objects as dataclasses makes them (no inherited __future__).
            seen.append((cls.__name__, method, function.__qualname__, function.__annotations__))
            seen.append(function.__code__.co_filename)
    return seen


def test_cached_classes_behave_as_plain_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = behaviour(define(None, monkeypatch))
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    first = codecache.CodeCache(tmp_path / "methods.marshal")
    assert behaviour(define(first, monkeypatch)) == plain
    assert first.fresh  # compiled here ...
    first.save()
    assert (tmp_path / "methods.marshal").exists()  # ... and stored

    second = codecache.CodeCache(tmp_path / "methods.marshal")
    stored = len(second.known)
    assert behaviour(define(second, monkeypatch)) == plain
    assert second.fresh == {}  # nothing compiled: every method came from the file
    assert len(second.known) < stored


def test_a_damaged_or_foreign_file_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = behaviour(define(None, monkeypatch))
    for content in (
        b"",
        b"garbage",
        codecache._FORMAT + b"\x00\x01",
        b"monitor-dataclass-code-1\n\x00\x00\r\n",
    ):
        path = tmp_path / "methods.marshal"
        path.write_bytes(content)
        cache = codecache.CodeCache(path)
        assert cache.known == {}
        assert behaviour(define(cache, monkeypatch)) == plain


def test_nothing_is_written_without_bytecode_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # PYTHONDONTWRITEBYTECODE
    cache = codecache.CodeCache(tmp_path / "methods.marshal")
    define(cache, monkeypatch)
    cache.save()
    assert not (tmp_path / "methods.marshal").exists()


def test_a_read_only_directory_is_no_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    cache = codecache.CodeCache(tmp_path / "file-not-dir" / "methods.marshal")
    (tmp_path / "file-not-dir").write_text("a file where the directory would be")
    define(cache, monkeypatch)
    cache.save()
    assert (tmp_path / "file-not-dir").is_file()


def test_the_cli_installs_it_and_importing_the_package_does_not(tmp_path: Path) -> None:
    """A ``monitor`` command serves its dataclasses from the cache; a program that only
    imports the package keeps the stdlib's ``dataclasses`` as it is (new processes)."""
    installed = 'print(getattr(dataclasses.exec, "__self__", None).__class__.__name__)'
    library = textwrap.dedent(
        f"""
        import dataclasses, monitor.events, monitor.config.settings
        try:
            {installed}
        except AttributeError:
            print("stdlib")
        """
    )
    command = textwrap.dedent(
        f"""
        import contextlib, dataclasses, io
        from monitor.cli import main
        with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
            main(["--version"])
        {installed}
        """
    )
    for probe, expected in ((library, "stdlib"), (command, "CodeCache")):
        done = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, check=True
        )
        assert done.stdout.strip() == expected

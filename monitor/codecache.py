"""The methods ``dataclasses`` writes for a class, compiled once per installation, not per start.

``@dataclass`` writes ``__init__``, ``__repr__``, ``__eq__``, ``__hash__`` … of every class
as source text and compiles it with ``exec`` when the class is defined: the package's
~130 dataclasses cost ~55 ms of CPU at every start of ``monitor check`` — about a sixth of
its start-up — in ``compile`` alone. Python caches a module's bytecode in
``__pycache__``; this caches those generated methods beside it the same way:
``install()`` gives the ``dataclasses`` module an ``exec`` that looks the text up in a
marshal file (keyed by a digest of the text, valid for this interpreter's bytecode
magic only) and compiles only what is not there; at exit the new ones are added to the
file, unless bytecode writing is off (``PYTHONDONTWRITEBYTECODE``) or the directory is
read-only.

The code object of a text is what ``exec`` would compile from it (the same file name
``<string>``, no inherited ``__future__`` flags), so the classes are exactly the ones
``dataclasses`` makes without it; it only skips the compiling.
"""

from __future__ import annotations

import atexit
import dataclasses
import hashlib
import importlib.util
import marshal
import os
import sys
from pathlib import Path
from types import CodeType
from typing import Any

_FORMAT = b"monitor-dataclass-code-1\n" + importlib.util.MAGIC_NUMBER
_LIMIT = 4096  # entries kept: texts of classes long gone are dropped past this


def _key(text: str) -> bytes:
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


def _read(path: Path) -> dict[bytes, CodeType]:
    try:
        data = path.read_bytes()
        if not data.startswith(_FORMAT):
            return {}
        found = marshal.loads(data[len(_FORMAT) :])
    except (OSError, ValueError, EOFError, TypeError):
        return {}
    return found if isinstance(found, dict) else {}


class CodeCache:
    """Compiled generated methods by the digest of their text, stored at ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.known = _read(path)
        self.used: set[bytes] = set()  # taken from the file (some texts recur: equal fields)
        self.fresh: dict[bytes, CodeType] = {}  # compiled in this process, not yet stored

    def exec(self, source: Any, globals: dict[str, Any] | None = None, locals: Any = None) -> None:
        """``exec`` as ``dataclasses`` calls it, compiling a text only the first time."""
        if isinstance(source, str):
            key = _key(source)
            # Popped: the function made from it holds what it needs; the rest is garbage.
            code = self.known.pop(key, None) or self.fresh.get(key)
            if isinstance(code, CodeType):
                self.used.add(key)
            else:
                code = compile(source, "<string>", "exec", dont_inherit=True)
                if key not in self.used:
                    self.fresh[key] = code
            source = code
        # What dataclasses would have run, in the globals it would have run it in.
        exec(source, vars(dataclasses) if globals is None else globals, locals)

    def save(self) -> None:
        """Add what was compiled here to the file (whatever other processes stored meanwhile)."""
        if not self.fresh or sys.dont_write_bytecode:
            return
        import tempfile  # only when there is something to store: most starts have nothing

        entries = _read(self.path)
        if len(entries) + len(self.fresh) > _LIMIT:
            entries = {}
        entries.update(self.fresh)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".dataclass-")
            try:
                with os.fdopen(handle, "wb") as out:
                    out.write(_FORMAT + marshal.dumps(entries))
                # Readable as the package's bytecode is (mkstemp makes it private).
                os.chmod(temporary, Path(__file__).stat().st_mode & 0o666)
                os.replace(temporary, self.path)  # readers see the old file or the new one
            except BaseException:
                os.unlink(temporary)
                raise
        except OSError:
            return  # a read-only installation: it compiles at every start, as before
        self.fresh = {}


def default_path() -> Path:
    """Beside the package's bytecode (``__pycache__``, or under ``sys.pycache_prefix``)."""
    bytecode = Path(importlib.util.cache_from_source(str(Path(__file__).with_name("__init__.py"))))
    return bytecode.with_name(f"dataclass-methods.{sys.implementation.cache_tag}.marshal")


def install(path: Path | None = None) -> CodeCache | None:
    """Serve ``dataclasses``' compiling from the cache from now on, and store it at exit."""
    if "exec" in vars(dataclasses):  # installed already (or someone else's)
        return None
    cache = CodeCache(path or default_path())
    dataclasses.exec = cache.exec  # type: ignore[attr-defined]
    atexit.register(cache.save)
    return cache

"""Where each key of a TOML text is written: key paths → line numbers.

tomllib reports no positions, so this small scanner walks text that tomllib has
accepted and records the line of every key path, for problems that name their line.
Pure.
"""

from __future__ import annotations

import re
import tomllib

__all__ = ["KeyPath", "locate_lines"]

KeyPath = tuple[str | int, ...]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_SCALAR = re.compile(r"[^,\]}\n#]*")


class _Scanner:
    """Walks TOML text that tomllib has accepted, recording the line of every key path.

    Paths look like ``("source", 2, "headers", "Accept")``: array-of-tables
    entries and array items are counted from 0. Strings, multi-line strings and
    multi-line arrays are stepped over, so their contents never look like keys.
    """

    def __init__(self, text: str) -> None:
        self.text, self.pos, self.line = text, 0, 1
        self.lines: dict[KeyPath, int] = {}
        self.counts: dict[tuple[str, ...], int] = {}

    def peek(self, size: int = 1) -> str:
        return self.text[self.pos : self.pos + size]

    def advance(self, size: int) -> None:
        self.line += self.text.count("\n", self.pos, self.pos + size)
        self.pos += size

    def skip_blank(self, *, newlines: bool) -> None:
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char in " \t\r" or (newlines and char == "\n"):
                self.advance(1)
            elif char == "#":
                end = self.text.find("\n", self.pos)
                self.advance((len(self.text) if end < 0 else end) - self.pos)
            else:
                return

    def record(self, path: KeyPath) -> None:
        self.lines.setdefault(path, self.line)

    def run(self) -> dict[KeyPath, int]:
        table: KeyPath = ()
        while True:
            self.skip_blank(newlines=True)
            if self.pos >= len(self.text):
                return self.lines
            if self.peek() == "[":
                table = self.header()
            else:
                self.key_value(table)

    def header(self) -> KeyPath:
        is_array = self.peek(2) == "[["
        self.advance(2 if is_array else 1)
        names = self.key()
        self.skip_blank(newlines=False)
        self.advance(2 if is_array else 1)
        path: list[str | int] = []
        for i, name in enumerate(names):
            path.append(name)
            so_far = tuple(names[: i + 1])
            if is_array and i == len(names) - 1:
                index = self.counts.get(so_far, 0)
                self.counts[so_far] = index + 1
                # A new entry starts its own nested arrays of tables from 0.
                for nested in [k for k in self.counts if len(k) > i + 1 and k[: i + 1] == so_far]:
                    del self.counts[nested]
                path.append(index)
            elif so_far in self.counts:
                path.append(self.counts[so_far] - 1)
        for end in range(1, len(path) + 1):
            self.record(tuple(path[:end]))
        return tuple(path)

    def key(self) -> list[str]:
        parts: list[str] = []
        while True:
            self.skip_blank(newlines=False)
            char = self.peek()
            if char in "\"'":
                start = self.pos
                self.string()
                parts.append(tomllib.loads(f"k = {self.text[start : self.pos]}")["k"])
            else:
                found = _BARE_KEY.match(self.text, self.pos)
                if found is None:
                    raise ValueError(f"unexpected {char!r} in a key")
                parts.append(found.group())
                self.advance(found.end() - self.pos)
            self.skip_blank(newlines=False)
            if self.peek() != ".":
                return parts
            self.advance(1)

    def key_value(self, table: KeyPath) -> None:
        parts = self.key()
        for i in range(1, len(parts) + 1):
            self.record(table + tuple(parts[:i]))
        self.skip_blank(newlines=False)
        self.advance(1)  # "="
        self.skip_blank(newlines=False)
        self.value(table + tuple(parts))

    def string(self) -> None:
        quote = self.peek()
        triple = self.peek(3) == quote * 3
        i = self.pos + (3 if triple else 1)
        while i < len(self.text):
            char = self.text[i]
            if char == "\\" and quote == '"':
                i += 2
            elif triple and self.text.startswith(quote * 3, i):
                end = i + 3
                # Up to two quotes may sit right before the closing delimiter.
                while end < len(self.text) and self.text[end] == quote and end - i < 5:
                    end += 1
                self.advance(end - self.pos)
                return
            elif not triple and char == quote:
                self.advance(i + 1 - self.pos)
                return
            else:
                i += 1
        raise ValueError("unterminated string")

    def value(self, path: KeyPath) -> None:
        char = self.peek()
        if char in "\"'":
            self.string()
        elif char == "[":
            self.advance(1)
            index = 0
            while True:
                self.skip_blank(newlines=True)
                if self.peek() == "]":
                    self.advance(1)
                    return
                self.record((*path, index))
                self.value((*path, index))
                self.skip_blank(newlines=True)
                if self.peek() == ",":
                    self.advance(1)
                index += 1
        elif char == "{":
            self.advance(1)
            while True:
                self.skip_blank(newlines=False)
                if self.peek() == "}":
                    self.advance(1)
                    return
                if self.peek() == ",":
                    self.advance(1)
                    continue
                self.key_value(path)
        else:
            end = _SCALAR.match(self.text, self.pos)
            assert end is not None  # the pattern matches the empty string
            self.advance(end.end() - self.pos)


def locate_lines(text: str) -> dict[KeyPath, int]:
    """Map key paths of valid TOML ``text`` to the 1-based lines where they are written.

    Best effort by design: if the scanner meets a construct it does not model,
    the lines found so far are returned and the rest are reported without a line.
    """
    scanner = _Scanner(text)
    try:
        return scanner.run()
    except (ValueError, IndexError, tomllib.TOMLDecodeError):
        return scanner.lines

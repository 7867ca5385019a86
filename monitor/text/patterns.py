"""User regular expressions (``ignore``, rule ``regex``), run on RE2: linear time, always.

The patterns come from the configuration but run against page text, which anyone
controlling a watched page can shape. Python's backtracking ``re`` takes time
exponential in the text for patterns like ``(a+)+$``: 24 ``a`` and a ``!`` cost
seconds per check, each more character doubles it, and the check holds its
worker the whole time. RE2 (google-re2) matches in time linear in the text for
every pattern it accepts.

What RE2 refuses — backreferences and lookaround, the features that need
backtracking — is refused at validation (``regex_problem``), with the reason and
the configuration line, so nothing is discovered at run time.

Python's ``\\w``, ``\\d`` and ``\\s`` match any script; RE2's match ASCII only. They
are rewritten to the equivalent Unicode classes, so a pattern written for ``re``
still matches "données" or "٣". ``\\b`` and ``\\B`` stay ASCII-based (RE2 cannot
express more), as do ``\\W``, ``\\D`` and ``\\S`` written inside ``[...]``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Protocol

import re2

__all__ = ["UserPattern", "compile_user_regex", "regex_problem"]


class UserMatch(Protocol):
    def start(self, group: int = 0) -> int: ...

    def end(self, group: int = 0) -> int: ...


class UserPattern(Protocol):
    """The part of a compiled pattern the monitor uses (``re.Pattern`` has the same)."""

    pattern: str

    def finditer(self, text: str) -> Iterator[UserMatch]: ...

    def search(self, text: str) -> UserMatch | None: ...

    def sub(self, replacement: str | Callable[[UserMatch], str], text: str) -> str: ...


# Python's Unicode classes, in RE2 syntax (see str.isalnum, str.isdecimal, str.isspace).
_WORD, _DIGIT, _SPACE = r"\pL\pN_", r"\p{Nd}", r"\s\p{Z}\x{85}\x{1c}-\x{1f}"
_OUTSIDE = {
    "w": f"[{_WORD}]",
    "W": f"[^{_WORD}]",
    "d": _DIGIT,
    "D": r"\P{Nd}",
    "s": f"[{_SPACE}]",
    "S": f"[^{_SPACE}]",
    "Z": r"\z",  # Python's end of text; RE2 spells it \z
}
_INSIDE = {"w": _WORD, "d": _DIGIT, "s": _SPACE}
_HEX = "0123456789abcdefABCDEF"


def to_re2(pattern: str) -> str:
    """``pattern`` (Python ``re`` syntax) with the escapes whose meaning differs rewritten."""
    out: list[str] = []
    i, in_class, class_open = 0, False, -1
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            escape = pattern[i + 1]
            table = _INSIDE if in_class else _OUTSIDE
            width = {"u": 4, "U": 8}.get(escape, 0)
            digits = pattern[i + 2 : i + 2 + width]
            if escape in table:
                out.append(table[escape])
            elif width and len(digits) == width and all(d in _HEX for d in digits):
                out.append(f"\\x{{{digits}}}")  # \u00e9 → \x{00e9}
                i += width
            else:
                out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            # "]" right after "[" or "[^" is a literal, not the end of the class.
            if char == "]" and i > class_open:
                in_class = False
        elif char == "[":
            in_class = True
            class_open = i + 1
            if pattern.startswith("^", i + 1):
                class_open += 1
                out.append("[^")
                i += 2
                continue
        out.append(char)
        i += 1
    return "".join(out)


def _options(*, ignore_case: bool) -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # RE2 would print each refusal to stderr itself
    options.case_sensitive = not ignore_case
    return options


# Features of Python's re that need backtracking, as they are spelled in a pattern.
_UNSUPPORTED = (
    (re.compile(r"\\[1-9]|\(\?P="), "backreferences"),
    (re.compile(r"\(\?[=!]"), "lookahead assertions"),
    (re.compile(r"\(\?<[=!]"), "lookbehind assertions"),
)


def _reason(exc: Exception, pattern: str) -> str:
    raw = exc.args[0] if exc.args else exc
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    for spelling, feature in _UNSUPPORTED:
        if spelling.search(pattern):
            return (
                f"{feature} are not supported: they cannot run in linear time, which keeps a "
                f"hostile page from stalling a check ({text})"
            )
    return text


def compile_user_regex(pattern: str, *, ignore_case: bool = False) -> UserPattern:
    """``pattern`` compiled for RE2; ValueError (with a readable reason) if RE2 refuses it."""
    try:
        options = _options(ignore_case=ignore_case)
        compiled: UserPattern = re2.compile(to_re2(pattern), options=options)
    except re2.error as exc:
        raise ValueError(_reason(exc, pattern)) from None
    return compiled


def regex_problem(pattern: str) -> str | None:
    """Why ``pattern`` cannot be used (for the config's problem list), or None."""
    try:
        re.compile(pattern)  # a plain syntax error is named as Python users know it
    except re.error as exc:
        return f"{pattern!r} is not a valid regular expression: {exc}"
    try:
        compile_user_regex(pattern)
    except ValueError as exc:
        return f"{pattern!r} is not a valid regular expression for the linear time engine: {exc}"
    return None

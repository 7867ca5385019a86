"""Typed, located reads from one TOML table: every bad value becomes a problem.

``Sink`` collects problems and places each on the line of the key path it concerns;
``Table`` reads one table's values by kind (text, whole number, duration, size…) and
reports what is wrong in words a user can act on, reading a bad value as None so the
rest of the file is still checked. ``read_declared`` reads every declared setting of
a settings class by its declaration.

- ``${VAR}`` in any string value is replaced from the environment; ``$${`` writes a
  literal ``${``. A value taken from the environment is never echoed in a message:
  it shows as ``${VAR}``. Nor is a secret value (``secret=True``).
- Keys in problems read ``monitor.timeout``, ``web.token`` or
  ``source[3] (id "meta-gov").interval``; a key that is missing is reported at the
  header of its table.
"""

from __future__ import annotations

import difflib
import functools
import os
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import date, datetime, time
from typing import Any

from monitor.config.checks import url_problem
from monitor.config.durations import (
    DURATION_EXAMPLE,
    MAX_CONFIG_SECONDS,
    parse_duration,
    parse_size,
    size_text,
)
from monitor.config.locate import KeyPath
from monitor.config.registry import TABLE_KEYS, Declared, declared, table_header
from monitor.errors import ConfigProblem

__all__ = ["Sink", "Table", "given", "kind_of", "read_declared", "suggest"]

_VARIABLE = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$\{")


# What a TOML value is, in a problem's words; bool before int (True is an int).
_KINDS: tuple[tuple[Any, str], ...] = (
    (bool, "true/false"),
    (int, "a whole number"),
    (float, "a decimal number"),
    (str, "a string"),
    (list, "a list"),
    (dict, "a table"),
    (datetime | date | time, "a date or time"),
)


def kind_of(value: Any) -> str:
    return next((name for kind, name in _KINDS if isinstance(value, kind)), type(value).__name__)


def suggest(key: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


class Sink:
    """Collects problems, placing each on the line of the key path it concerns."""

    def __init__(
        self, file: str, locate: Callable[[], dict[KeyPath, int]], environ: Mapping[str, str]
    ) -> None:
        self.file, self._locate, self.environ = file, locate, environ
        self.problems: list[ConfigProblem] = []
        # Values taken from the environment, by variable name: never echoed in a message.
        self.from_env: dict[str, str] = {}

    @functools.cached_property
    def lines(self) -> dict[KeyPath, int]:
        # Located when a message first needs a line: a valid file never does.
        return self._locate()

    def line(self, path: KeyPath) -> int | None:
        for end in range(len(path), 0, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return None

    def add(self, path: KeyPath, key: str, message: str) -> None:
        # Any value read from the environment may be a credential (a token in a URL, say),
        # so it is shown as the variable that holds it. Values under 4 characters are left
        # alone: they cannot be secrets and would mangle ordinary words.
        for name, value in sorted(self.from_env.items(), key=lambda item: -len(item[1])):
            if len(value) >= 4:
                message = message.replace(value, f"${{{name}}}")
        self.problems.append(ConfigProblem(self.file, self.line(path), key, message))


class Table:
    """Typed reads from one TOML table; every bad value becomes a problem and reads as None."""

    def __init__(self, sink: Sink, data: dict[str, Any], path: KeyPath, label: str) -> None:
        self.sink, self.data, self.path, self.label = sink, data, path, label

    def problem(self, key: str | None, message: str, *, item: int | None = None) -> None:
        path = self.path + ((key,) if key else ()) + ((item,) if item is not None else ())
        self.sink.add(path, f"{self.label}.{key}" if key else self.label, message)

    def line_of(self, key: str) -> int | None:
        return self.sink.line((*self.path, key))

    def unknown_items(
        self,
        key: str,
        items: Iterable[str] | None,
        known: Collection[str],
        describe: Callable[[str], str],
    ) -> bool:
        """Report each of ``items`` (the list at ``key``) that is not in ``known``, with a
        "did you mean"; True when there was one."""
        found = False
        for index, item in enumerate(items or ()):
            if item not in known:
                self.problem(key, f"{describe(item)}{suggest(item, known)}", item=index)
                found = True
        return found

    def check_keys(self, table: str) -> None:
        """Report each key that ``[table]`` does not declare (a top-level table)."""
        known = TABLE_KEYS[table]
        for key in self.data:
            if key in known:
                continue
            hint = suggest(key, known)
            home = [name for name, keys in TABLE_KEYS.items() if key in keys and name != table]
            if not hint and home:
                hint = f"; it belongs in {table_header(home[0])}"
            self.problem(key, f"unknown key {key!r} in {table_header(table)}{hint}")

    def check_known(self, known: Collection[str], where: str = "") -> None:
        """Report each key not in ``known`` (a table inside another; ``where`` names it)."""
        for key in self.data:
            if key not in known:
                self.problem(key, f"unknown key {key!r}{where}{suggest(key, known)}")

    def subtable(self, key: str, expected: str) -> Table | None:
        """The table at ``key`` (``[source.figures]``, ``headers = {…}``), or None and a
        problem saying it ``expected`` one."""
        raw = self.data.get(key)
        if raw is None:
            return None
        if not isinstance(raw, dict):
            self.problem(key, f"expected {expected}, got {kind_of(raw)}")
            return None
        return Table(self.sink, raw, (*self.path, key), f"{self.label}.{key}")

    def file(self, key: str, *, required: bool = False) -> str | None:
        """A file named in the config, relative to the config file's directory (pure)."""
        value = self.text(key, required=required)
        if value is None or os.path.isabs(value) or value.startswith("~"):
            return value  # "~" is expanded where the file is opened
        return os.path.join(os.path.dirname(self.sink.file), value)

    def read(self, item: Declared) -> Any:
        """The value of a declared setting, read and checked as its kind says."""
        setting, key = item.setting, item.key
        match setting.kind:
            case "text":
                return self.text(
                    key, required=setting.required, secret=setting.secret, empty=setting.empty
                )
            case "texts":
                if setting.required and key not in self.data:
                    self.problem(key, f"is required; {setting.missing}")
                return self.texts(key)
            case "flag":
                return self.flag(key)
            case "whole":
                return self.whole(key, minimum=setting.minimum or 0, maximum=setting.maximum)
            case "seconds":
                return self.seconds(
                    key,
                    minimum=1 if setting.minimum is None else setting.minimum,
                    maximum=setting.maximum or MAX_CONFIG_SECONDS,
                )
            case "size":
                assert setting.maximum is not None, f"{key}: a size needs a maximum"
                return self.size(key, maximum=setting.maximum)
            case "choice":
                return self.choice(key, item.choices)
            case "url":
                return self.http_url(key, required=setting.required)
            case "file":
                return self.file(key, required=setting.required)
        raise ValueError(f"{item.owner.__name__}.{item.attr} is read by its table's own code")

    def expand(self, key: str, value: str, *, item: int | None = None) -> str | None:
        """Replace ``${VAR}`` from the environment; None (and a problem) if a variable is unset."""
        missing: list[str] = []
        malformed = False

        def replace(found: re.Match[str]) -> str:
            nonlocal malformed
            if found.group() == "$${":
                return "${"
            name = found.group(1)
            if name is None:
                malformed = True
                return ""
            if name not in self.sink.environ:
                missing.append(name)
                return ""
            self.sink.from_env[name] = self.sink.environ[name]
            return self.sink.environ[name]

        result = _VARIABLE.sub(replace, value)
        for name in dict.fromkeys(missing):
            self.problem(
                key, f"uses ${{{name}}}, which is not set; set {name} in the environment", item=item
            )
        if malformed:
            self.problem(
                key,
                "has a '${' that is not a variable like ${NAME} (letters, digits "
                "and _); write '$${' for a literal '${'",
                item=item,
            )
        return None if missing or malformed else result

    def text(
        self, key: str, *, required: bool = False, secret: bool = False, empty: bool = False
    ) -> str | None:
        if key not in self.data:
            if required:
                self.problem(key, f'is required; add {key} = "…" to this table')
            return None
        value = self.data[key]
        if not isinstance(value, str):
            shown = "" if secret or isinstance(value, dict | list) else f" ({value!r})"
            self.problem(key, f"expected a string, got {kind_of(value)}{shown}")
            return None
        expanded = self.expand(key, value)
        if expanded is not None and not expanded.strip() and not empty:
            via = " (its environment variable is set but empty)" if "${" in value else ""
            self.problem(key, f"is empty{via}")
            return None
        return expanded

    def texts(self, key: str) -> tuple[str, ...] | None:
        if key not in self.data:
            return None
        value = self.data[key]
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list):
            self.problem(key, f'expected a list of strings like ["a", "b"], got {kind_of(value)}')
            return None
        out: list[str] = []
        ok = True
        for index, item in enumerate(items):
            where = None if isinstance(value, str) else index
            if not isinstance(item, str):
                self.problem(
                    key, f"expected strings only, got {kind_of(item)} ({item!r})", item=where
                )
                ok = False
                continue
            expanded = self.expand(key, item, item=where)
            if expanded is None:
                ok = False
            elif not expanded.strip():
                self.problem(key, "contains an empty string", item=where)
                ok = False
            else:
                out.append(expanded)
        return tuple(out) if ok else None

    def flag(self, key: str) -> bool | None:
        value = self.data.get(key)
        if value is None or isinstance(value, bool):
            return value
        self.problem(key, f"expected true or false, got {kind_of(value)} ({value!r})")
        return None

    def whole(self, key: str, *, minimum: int, maximum: int | None = None) -> int | None:
        if key not in self.data:
            return None
        value = self.data[key]
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(key, f"expected a whole number, got {kind_of(value)} ({value!r})")
            return None
        too_low = f"must be {minimum} or more, got {value}"
        too_high = f"must be at most {maximum}, got {str(value)[:40]}"
        return self._bounded(key, value, (minimum, maximum), too_low, too_high)

    def seconds(
        self, key: str, *, minimum: int = 1, maximum: int = MAX_CONFIG_SECONDS
    ) -> int | None:
        if key not in self.data:
            return None
        value = self.data[key]
        if isinstance(value, int) and not isinstance(value, bool):
            self.problem(
                key,
                f'a bare number has no unit; write "{value}s" for seconds or '
                f'"{value}m" for minutes (expected {DURATION_EXAMPLE})',
            )
            return None
        if not isinstance(value, str):
            self.problem(key, f"expected {DURATION_EXAMPLE}, got {kind_of(value)} ({value!r})")
            return None
        result = self._parsed(key, value, parse_duration)
        if result is None:
            return None
        too_low = f"must be at least {minimum}s, got {value!r}"
        too_high = f"must be at most {maximum // 86400} days, got {value!r}"
        return self._bounded(key, result, (minimum, maximum), too_low, too_high)

    def size(self, key: str, *, maximum: int) -> int | None:
        if key not in self.data:
            return None
        value = self.data[key]
        if isinstance(value, int) and not isinstance(value, bool):
            result: int | None = value
        elif isinstance(value, str):
            result = self._parsed(key, value, parse_size)
        else:
            self.problem(
                key,
                "expected a number of bytes or a size like '20MB', "
                f"got {kind_of(value)} ({value!r})",
            )
            return None
        if result is None:
            return None
        too_low = f"must be at least 1 byte, got {value!r}"
        too_high = f"must be at most {size_text(maximum)}, got {str(value)[:40]!r}"
        return self._bounded(key, result, (1, maximum), too_low, too_high)

    def _parsed(self, key: str, value: str, parse: Callable[[str], int]) -> int | None:
        """``value`` with its variables replaced, read by ``parse``; None (and a problem) if not."""
        text = self.expand(key, value)
        if text is None:
            return None
        try:
            return parse(text)
        except ValueError as exc:
            self.problem(key, str(exc))
            return None

    def _bounded(
        self, key: str, value: int, bounds: tuple[int, int | None], too_low: str, too_high: str
    ) -> int | None:
        """``value`` when it is within ``bounds`` (no maximum: None), else None and a problem."""
        minimum, maximum = bounds
        if value < minimum:
            self.problem(key, too_low)
            return None
        if maximum is not None and value > maximum:
            self.problem(key, too_high)
            return None
        return value

    def choice(self, key: str, options: tuple[str, ...]) -> str | None:
        value = self.text(key)
        if value is None or value in options:
            return value
        self.problem(key, f"{value!r} is not one of {', '.join(options)}{suggest(value, options)}")
        return None

    def http_url(self, key: str, *, required: bool = False) -> str | None:
        value = self.text(key, required=required)
        if value is None:
            return None
        reason = url_problem(value)
        if reason:
            self.problem(key, reason)
            return None
        return value


def read_declared(table: Table, cls: type) -> dict[str, Any]:
    """Every setting of ``cls`` that its kind alone says how to read, by field name.

    ``custom`` settings are left to the table's own code, which adds them; a value that
    is absent or wrong is None (leave it out, and the field keeps its default).
    """
    data = table.data
    # Most tables set few of their keys: an absent optional key is None without a read.
    return {
        attr: table.read(item) if key in data or required else None
        for attr, key, required, item in _read_by_kind(cls)
    }


@functools.cache
def _read_by_kind(cls: type) -> tuple[tuple[str, str, bool, Declared], ...]:
    """``read_declared``'s settings of ``cls``: field, key, whether required, declaration."""
    return tuple(
        (item.attr, item.key, item.setting.required, item)
        for item in declared(cls)
        if item.keys and item.setting.kind != "custom"
    )


def given(values: dict[str, Any]) -> dict[str, Any]:
    """The values that were set and valid: a settings class takes its defaults for the rest."""
    return {name: value for name, value in values.items() if value is not None}

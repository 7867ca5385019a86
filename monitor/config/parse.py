"""Read ``sources.toml`` and the environment into frozen ``Settings``.

One job: turn configuration text into validated settings, or into a
``ConfigError`` that lists *every* problem at once, each located by file, line
and key, so a user can fix the whole file in one pass.

Invariants:

- ``parse_config`` is pure: the text and the environment are passed in; only
  ``load_config`` touches the file system.
- Secret values (channel URLs, source header values, the web token) never
  appear in a problem message; they are named by key and variable only. Nor
  does any value taken from the environment: messages show ``${VAR}`` instead.
- Which keys each table takes, and how each is read and bounded, is declared once
  on the settings classes (``monitor.config.settings``, ``monitor.config.registry``);
  ``monitor.config.reader`` reads by those declarations, and one module per table
  (``monitor_table``, ``channels``, ``sources``, ``rules``, ``discover.config``)
  adds what is particular to it.
- tomllib reports no positions, so ``locate_lines`` maps key paths to the lines
  they are written on; a key that is missing is reported at the header of its table.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, TypeVar

from monitor.config.channels import channel_settings, user_settings
from monitor.config.checks import is_loopback, parse_listen
from monitor.config.cron import normalize_cron, validate_cron
from monitor.config.durations import parse_duration, parse_size
from monitor.config.locate import locate_lines
from monitor.config.monitor_table import (
    audit_settings,
    monitor_settings,
    stories_settings,
    web_settings,
)
from monitor.config.reader import Sink, Table, kind_of, suggest
from monitor.config.registry import TABLE_KEYS, table_header
from monitor.config.rules import RuleRefs, rule_settings
from monitor.config.settings import Settings
from monitor.config.sources import source_settings
from monitor.errors import ConfigError, ConfigProblem
from monitor.gcpause import Paused

__all__ = [
    "is_loopback",
    "load_config",
    "locate_lines",
    "normalize_cron",
    "parse_config",
    "parse_duration",
    "parse_listen",
    "parse_size",
    "validate_cron",
]

T = TypeVar("T")


def load_config(
    path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read and validate the configuration file at ``path`` (UTF-8)."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        raise ConfigError(
            [
                ConfigProblem(
                    name,
                    None,
                    "file",
                    (
                        "the configuration file does not exist; start from the shipped example "
                        "(copy sources.toml from the project into this path and edit it), "
                        "or point --config / MONITOR_CONFIG at your file"
                    ),
                )
            ]
        ) from None
    except IsADirectoryError:
        raise ConfigError(
            [ConfigProblem(name, None, "file", "is a directory; expected a sources.toml file")]
        ) from None
    except OSError as exc:
        raise ConfigError(
            [ConfigProblem(name, None, "file", f"cannot be read: {exc.strerror or exc}")]
        ) from None
    except ValueError:  # a NUL character: no file system has such a name
        raise ConfigError(
            [ConfigProblem(name.replace("\0", "\\0"), None, "file", "the path contains a NUL")]
        ) from None
    try:
        # utf-8-sig: files saved by Windows editors often start with a byte-order mark.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            [ConfigProblem(name, line, "file", "is not valid UTF-8; save it with UTF-8 encoding")]
        ) from None
    # Parsing makes thousands of objects that live as long as the settings (gcpause).
    with Paused():
        return parse_config(text, path=name, environ=os.environ if environ is None else environ)


def parse_config(text: str, *, path: str, environ: Mapping[str, str]) -> Settings:
    """Validate configuration ``text``; pure (no I/O). Raises ``ConfigError`` with every problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([_syntax_problem(path, text, exc)]) from None
    sink = Sink(path, partial(locate_lines, text), environ)
    settings = _Document(sink, data).build()
    if sink.problems:
        # Reading order: a user fixes the file from the top down.
        ordered = sorted(sink.problems, key=lambda p: (p.line is None, p.line or 0))
        raise ConfigError(ordered)
    return settings


def _syntax_problem(path: str, text: str, exc: tomllib.TOMLDecodeError) -> ConfigProblem:
    message = str(exc)
    found = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
    if found:
        line: int | None = int(found.group(1))
        message = f"{message[: found.start()]} (column {found.group(2)})"
    elif message.endswith("(at end of document)"):
        line = text.count("\n") + 1
        message = message.removesuffix(" (at end of document)") + " (at the end of the file)"
    else:
        line = None
    return ConfigProblem(path, line, "syntax", f"invalid TOML: {message[:1].lower()}{message[1:]}")


class _Document:
    """Turns the parsed TOML document into ``Settings``, reporting problems to the sink."""

    def __init__(self, sink: Sink, data: dict[str, Any]) -> None:
        self.sink, self.data = sink, data

    def build(self) -> Settings:
        self.unknown_tables()
        monitor = monitor_settings(self.single("monitor"))
        web = web_settings(self.single("web"))
        audit = audit_settings(self.single("audit"))
        channels = self.entries("channel", "name", channel_settings)
        sources = self.entries("source", "id", lambda t: source_settings(t, monitor))
        # Cross-references are checked against what the file names, not against what was
        # built, so one broken source does not also make every rule naming it an error.
        refs = RuleRefs(
            reachable=self.names("channel", "name") | self.names("channel", "tags"),
            source_ids=self.names("source", "id"),
            source_tags=self.names("source", "tags"),
            with_figures=self.figures_sources(),
        )
        rules = self.entries("rule", "id", lambda t: rule_settings(t, refs))
        from monitor.discover.config import discover_entry  # it builds on this package

        discover = self.entries("discover", "id", lambda t: discover_entry(t, monitor))
        users = self.entries("user", "name", user_settings)
        return Settings(
            path=self.sink.file,
            monitor=monitor,
            web=web,
            audit=audit,
            channels=tuple(channels),
            rules=tuple(rules),
            sources=tuple(sources),
            discover=tuple(discover),
            users=tuple(users),
            stories=stories_settings(self.single("stories")),
        )

    def unknown_tables(self) -> None:
        for key, value in self.data.items():
            if key in TABLE_KEYS:
                continue
            is_table = isinstance(value, dict) or (
                isinstance(value, list) and bool(value) and isinstance(value[0], dict)
            )
            what = "table" if is_table else "top-level key"
            hint = suggest(key, TABLE_KEYS)
            home = [name for name, keys in TABLE_KEYS.items() if key in keys]
            if not hint and home:
                hint = f"; it belongs in {table_header(home[0])}"
            self.sink.add((key,), key, f"unknown {what} {key!r}{hint}")

    def names(self, table: str, key: str) -> set[str]:
        """Every string written as ``key`` (or in the ``key`` list) of the ``[[table]]`` entries."""
        found: set[str] = set()
        entries = self.data.get(table)
        for entry in entries if isinstance(entries, list) else ():
            value = entry.get(key) if isinstance(entry, dict) else None
            values = [value] if isinstance(value, str) else value
            if isinstance(values, list):
                found.update(v for v in values if isinstance(v, str))
        return found

    def figures_sources(self) -> set[str]:
        """The ids of the ``[[source]]`` entries that have a ``[source.figures]`` table."""
        entries = self.data.get("source")
        return {
            entry["id"]
            for entry in (entries if isinstance(entries, list) else ())
            if isinstance(entry, dict) and isinstance(entry.get("id"), str) and "figures" in entry
        }

    def single(self, name: str) -> Table | None:
        value = self.data.get(name)
        if value is None:
            return None
        if not isinstance(value, dict):
            shape = f"[[{name}]] (double brackets)" if isinstance(value, list) else kind_of(value)
            self.sink.add((name,), name, f"expected a single [{name}] table, got {shape}")
            return None
        table = Table(self.sink, value, (name,), name)
        table.check_keys(name)
        return table

    def entries(self, name: str, id_key: str, build: Callable[[Table], T | None]) -> list[T]:
        """Each ``[[name]]`` table built by ``build``; duplicate ids are reported on both lines."""
        value = self.data.get(name, [])
        if isinstance(value, dict):
            self.sink.add(
                (name,),
                name,
                f"expected [[{name}]] (double brackets, one per "
                f"{name}), got a single [{name}] table",
            )
            return []
        if not isinstance(value, list):
            self.sink.add((name,), name, f"expected [[{name}]] tables, got {kind_of(value)}")
            return []
        built: list[T] = []
        seen: dict[str, Table] = {}  # the table of each id's first use
        for index, entry in enumerate(value):
            label = f"{name}[{index + 1}]"
            if not isinstance(entry, dict):
                self.sink.add((name, index), label, f"expected a table, got {kind_of(entry)}")
                continue
            ident = entry.get(id_key)
            if isinstance(ident, str):
                label += f' ({id_key} "{ident}")'
            table = Table(self.sink, entry, (name, index), label)
            table.check_keys(name)
            if isinstance(ident, str):
                if ident in seen:
                    first = seen[ident].line_of(id_key)
                    also = f" (first used on line {first})" if first else ""
                    table.problem(
                        id_key,
                        f"duplicate {name} {id_key} {ident!r}{also}; "
                        f"each {name} needs its own {id_key}",
                    )
                else:
                    seen[ident] = table
            result = build(table)
            if result is not None:
                built.append(result)
        return built

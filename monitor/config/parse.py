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
- ``${VAR}`` in any string value is replaced from the environment; ``$${``
  writes a literal ``${``.
- Keys in problems read ``monitor.timeout``, ``web.token`` or
  ``source[3] (id "meta-gov").interval``: ``[3]`` counts the ``[[source]]``
  tables of the file from 1, and the id (or channel name) is added when known.
- tomllib reports no positions, so a small scanner (``locate_lines``) maps key
  paths to the lines they are written on; a key that is missing is reported at
  the header of its table.
- Cron expressions are standard five-field crontab. ``normalize_cron`` rewrites
  them so that APScheduler 3 (which counts weekday 0 as Monday, not Sunday, and
  knows no month names with steps) fires at exactly the times cron would.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import tomllib
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import date, datetime, time
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

from selectolax.lexbor import LexborHTMLParser, SelectolaxError

from monitor.config.settings import (
    QUIET_CLASSES,
    AuditSettings,
    ChannelSettings,
    FigureRuleSettings,
    FiguresSettings,
    MonitorSettings,
    RuleSettings,
    Settings,
    SourceSettings,
    StoriesSettings,
    TimestampAuthority,
    UserSettings,
    WebSettings,
)
from monitor.errors import ConfigError, ConfigProblem
from monitor.events import EVENT_TYPES
from monitor.text.patterns import regex_problem

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

KeyPath = tuple[str | int, ...]

DURATION_EXAMPLE = "a duration like '90s', '15m', '6h' or '1d'"
SOURCE_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,79}$")
FORMATS = ("html", "pdf", "json", "csv", "text", "markdown")
RENDERS = ("http", "browser", "auto")
ONS = ("added", "removed", "any")
SEVERITIES = ("info", "low", "medium", "high", "critical")

# TOML key -> settings field, per table. Only [monitor] renames a key.
MONITOR_KEYS = {
    "database": "database",
    "user_agent": "user_agent",
    "default_interval": "default_interval",
    "concurrency": "concurrency",
    "per_host": "per_host",
    "timeout": "timeout",
    "max_bytes": "max_bytes",
    "jitter": "jitter_percent",
    "confirm_every": "confirm_every",
    "alert_after_failures": "alert_after_failures",
    "allow_private": "allow_private",
    "allow_networks": "allow_networks",
    "deny_networks": "deny_networks",
    "respect_robots": "respect_robots",
    "key_path": "key_path",
    "checkpoint_every": "checkpoint_every",
    "grace_period": "grace_period",
    "base_url": "base_url",
    "browser_pages": "browser_pages",
    "browser_memory": "browser_memory",
    "browser_restart_after": "browser_restart_after",
    "data_dir": "data_dir",
    "ca_file": "ca_file",
    "gone_after": "gone_after",
    "extract_workers": "extract_workers",
}
WEB_KEYS = ("listen", "token", "base_url")
AUDIT_KEYS = (
    "timestamp_authorities",
    "wayback",
    "wayback_endpoint",
    "wayback_per_minute",
    "wayback_key",
)
TSA_KEYS = ("url", "certificates", "name")
CHANNEL_KEYS = ("name", "url", "tags", "digest", "min_severity", "events")
RULE_KEYS = (
    "id",
    "all",
    "any",
    "none",
    "regex",
    "near",
    "on",
    "severity",
    "notify",
    "sources",
    "tags",
    "when",
    "where",
    "column",
    "rise_pct",
    "fall_pct",
)
FIGURE_RULE_KEYS = ("when", "where", "column", "rise_pct", "fall_pct")
FIGURE_WHENS = ("published", "restated", "from_zero", "to_zero", "rise_pct", "fall_pct")
FIGURES_KEYS = ("key", "period", "values", "table", "member", "sheet")
SOURCE_KEYS = (
    "id",
    "url",
    "company",
    "title",
    "tags",
    "select",
    "remove",
    "ignore",
    "interval",
    "cron",
    "format",
    "render",
    "confirm",
    "watch_links",
    "screenshot",
    "json_path",
    "csv_key",
    "verify_tls",
    "robots",
    "headers",
    "timeout",
    "max_bytes",
    "urls",
    "remove_consent",
    "also_alert",
    "learn_volatile_after",
    "unlearn_volatile_after",
    "figures",
    "gone_after",
)
DISCOVER_KEYS = (
    "id",
    "company",
    "sitemap",
    "index",
    "select",
    "match",
    "text_match",
    "interval",
    "watch",
    "max_new",
    "tags",
    "source",
)
MAX_PARTS = 50  # pages of one multi-part document
USER_KEYS = ("name", "token_env", "role")
STORIES_KEYS = ("min_companies", "window")
USER_ROLES = ("analyst", "viewer")
TABLE_KEYS: dict[str, tuple[str, ...]] = {
    "monitor": tuple(MONITOR_KEYS),
    "web": WEB_KEYS,
    "audit": AUDIT_KEYS,
    "channel": CHANNEL_KEYS,
    "rule": RULE_KEYS,
    "source": SOURCE_KEYS,
    "discover": DISCOVER_KEYS,
    "user": USER_KEYS,
    "stories": STORIES_KEYS,
}
ARRAY_TABLES = ("channel", "rule", "source", "user", "discover")


# --------------------------------------------------------------------------- entry points


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
    return parse_config(text, path=name, environ=os.environ if environ is None else environ)


def parse_config(text: str, *, path: str, environ: Mapping[str, str]) -> Settings:
    """Validate configuration ``text``; pure (no I/O). Raises ``ConfigError`` with every problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([_syntax_problem(path, text, exc)]) from None
    sink = _Sink(path, locate_lines(text), environ)
    settings = _Builder(sink, data).build()
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


# --------------------------------------------------------------------------- durations, sizes

_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_UNIT_NAMES = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), "s"),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), "m"),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), "h"),
    **dict.fromkeys(("d", "day", "days"), "d"),
    **dict.fromkeys(("w", "wk", "week", "weeks"), "w"),
}
_DURATION_PART = re.compile(r"\s*(\d+)\s*([A-Za-z]*)")
# Ten years: far past any sensible setting, far inside what datetime and timers can add.
MAX_DURATION = 3650 * 86400
# Every duration in the config is at most a year: longer is a typo, and a schedule
# that far out would overflow the scheduler's arithmetic only at run time.
MAX_CONFIG_SECONDS = 366 * 86400
MAX_SIZE = 1024**4  # 1 TiB: bounds a float-shaped size before int() sees infinity
MAX_BODY = 1024**3  # max_bytes: a body is held in memory
MAX_BROWSER_MEMORY = 256 * 1024**3


def parse_duration(text: str) -> int:
    """Seconds in "90s", "15m", "6h", "1d", "1w" or a combination such as "1h30m"."""
    if not text.strip():
        raise ValueError(f"the duration is empty; expected {DURATION_EXAMPLE}")
    if re.search(r"\d[.,]\d", text):
        raise ValueError(f"{text!r}: use whole numbers, like '1h30m' rather than '1.5h'")
    total, pos, order = 0, 0, "wdhms"
    last = -1
    while pos < len(text.rstrip()):
        part = _DURATION_PART.match(text, pos)
        if part is None:
            raise ValueError(f"{text!r} is not a duration; expected {DURATION_EXAMPLE}")
        number, unit_text = part.group(1), part.group(2)
        if not unit_text:
            if part.end() == len(text.rstrip()) and pos == 0:
                raise ValueError(
                    f"{text!r} has no unit; write '{number}s' for seconds or '{number}m' "
                    "for minutes (also h, d, w)"
                )
            raise ValueError(f"{number!r} in {text!r} has no unit; expected {DURATION_EXAMPLE}")
        unit = _UNIT_NAMES.get(unit_text.lower())
        if unit is None:
            raise ValueError(
                f"{unit_text!r} in {text!r} is not a unit; use s, m, h, d or w ({DURATION_EXAMPLE})"
            )
        if order.index(unit) <= last:
            raise ValueError(
                f"{text!r}: write units from largest to smallest, each once, like '1h30m'"
            )
        last = order.index(unit)
        total += int(number) * _UNIT_SECONDS[unit]
        if total > MAX_DURATION:
            raise ValueError(
                f"{text!r} is longer than {MAX_DURATION // 86400} days, the longest duration "
                "the monitor accepts"
            )
        pos = part.end()
    return total


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")
_SIZE_UNITS = {
    **dict.fromkeys(("", "b"), 1),
    **dict.fromkeys(("k", "kb", "kib"), 1024),
    **dict.fromkeys(("m", "mb", "mib"), 1024**2),
    **dict.fromkeys(("g", "gb", "gib"), 1024**3),
}


def parse_size(text: str) -> int:
    """``"20MB"``, ``"512 KB"``, ``"1.5GiB"`` or ``"4096"`` → bytes (KB = KiB = 1024 bytes)."""
    found = _SIZE.match(text)
    factor = _SIZE_UNITS.get(found.group(2).lower()) if found else None
    if found is None or factor is None:
        raise ValueError(f"{text!r} is not a size; expected bytes or a size like '512KB' or '20MB'")
    size = float(found.group(1)) * factor  # inf for a number past float range, never an error
    if size > MAX_SIZE:
        raise ValueError(f"{text[:40]!r} is larger than 1 TiB, the largest size accepted")
    return int(size)


# --------------------------------------------------------------------------- cron

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # cron numbering: sun = 0 (or 7)
_APS_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # APScheduler 3 numbering
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_CRON_NICKNAMES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
# name, lowest, highest, names (indexed from `lowest`)
_CRON_FIELDS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _CRON_DAYS),
)


def _cron_number(token: str, field: int) -> int:
    name, low, high, names = _CRON_FIELDS[field]
    if token.isdigit():
        value = int(token)
        if not low <= value <= high:
            raise ValueError(f"{name} {value} is out of range {low}-{high}")
        return value
    if names and token.lower() in names:
        return names.index(token.lower()) + low
    if names:
        close = difflib.get_close_matches(token.lower(), names, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f" ({', '.join(names)})"
        raise ValueError(f"{token!r} is not a {name} number or name{hint}")
    raise ValueError(
        f"{token!r} is not valid in the {name} field; use numbers, *, ranges (1-5), "
        "lists (1,3) or steps (*/15)"
    )


def _cron_values(text: str, field: int) -> set[int]:
    name, low, high, _ = _CRON_FIELDS[field]
    if field == 4:
        high = 6  # 7 is only another spelling of Sunday
    values: set[int] = set()
    for item in text.split(","):
        base, slash, step_text = item.partition("/")
        if not base:
            raise ValueError(f"empty item in the {name} field {text!r}")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) < 1:
                raise ValueError(f"step {step_text!r} in {item!r} must be a whole number from 1")
            step = int(step_text)
        if base == "*":
            first, last = low, high
        elif "-" in base:
            start, _, end = base.partition("-")
            first, last = _cron_number(start, field), _cron_number(end, field)
            if field == 4 and last == 0 and first > 0:
                last = 7  # "fri-sun": Sunday closes the week
            if first > last:
                raise ValueError(
                    f"range {base!r} in the {name} field goes backwards; "
                    "cron ranges do not wrap around"
                )
        else:
            first = _cron_number(base, field)
            last = high if slash else first  # "5/15" means 5-59/15, as in Vixie cron
        if step > 1 and step > last - first:
            hint = (
                f" (for every {step} {name}s use interval = '{step}{name[0]}' instead)"
                if field in (0, 1)
                else ""
            )
            raise ValueError(
                f"step /{step} in {item!r} is larger than the {name} range "
                f"{first}-{last}, so it would only ever match {first}{hint}"
            )
        values.update(range(first, last + 1, step))
    if field == 4 and 7 in values:
        values.discard(7)
        values.add(0)
    return values


def _compress(indexes: Iterable[int], names: tuple[str, ...]) -> str:
    """Sorted indexes into ``names`` → 'mon-fri,sun' (runs of three or more become ranges)."""
    ordered = sorted(set(indexes))
    out: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        if j - i >= 2:
            out.append(f"{names[ordered[i]]}-{names[ordered[j]]}")
        else:
            out.extend(names[k] for k in ordered[i : j + 1])
        i = j + 1
    return ",".join(out)


def normalize_cron(expr: str) -> str:
    """Validate a standard 5-field cron expression and return it in a form APScheduler 3 agrees on.

    Minute, hour and day-of-month are kept as written; month names become numbers;
    the day of week becomes names (``"1-5"`` → ``"mon-fri"``) because APScheduler 3
    reads weekday numbers as Monday = 0. Raises ``ValueError`` with a readable reason.
    """
    text = _CRON_NICKNAMES.get(expr.strip().lower(), expr)
    parts = text.split()
    if len(parts) != 5:
        raise ValueError(
            f"{expr!r} is not a valid cron expression: it needs 5 fields "
            f"(minute hour day-of-month month day-of-week), got {len(parts)}"
        )
    try:
        values = [_cron_values(part, i) for i, part in enumerate(parts)]
    except ValueError as exc:
        raise ValueError(f"{expr!r} is not a valid cron expression: {exc}") from None
    day_text, week_text = parts[2], parts[4]
    if not day_text.startswith("*") and not week_text.startswith("*"):
        raise ValueError(
            f"{expr!r} restricts both the day of month ({day_text!r}) and the day of week "
            f"({week_text!r}); cron fires when either matches, which the scheduler cannot "
            "express — restrict one of them and write * for the other"
        )
    if not any(day <= _DAYS_IN_MONTH[month - 1] for day in values[2] for month in values[3]):
        raise ValueError(f"{expr!r} never fires: none of its months has day {min(values[2])}")
    month_text = re.sub(r"[A-Za-z]+", lambda m: str(_MONTHS.index(m.group().lower()) + 1), parts[3])
    if week_text.startswith("*") and len(values[4]) == 7:
        week = "*"
    else:
        week = _compress(((day - 1) % 7 for day in values[4]), _APS_DAYS)
    return " ".join((parts[0], parts[1], day_text, month_text, week))


def validate_cron(expr: str) -> str | None:
    """The reason ``expr`` is not a valid standard 5-field cron expression, or None if it is."""
    try:
        normalize_cron(expr)
    except ValueError as exc:
        return str(exc)
    return None


# --------------------------------------------------------------------------- line locator


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


# --------------------------------------------------------------------------- validation

_VARIABLE = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$\{")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_DIGEST = re.compile(r"^(?:daily@|weekly@(mon|tue|wed|thu|fri|sat|sun) )(\d\d):(\d\d)$")


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a decimal number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, datetime | date | time):
        return "a date or time"
    return type(value).__name__


def _suggest(key: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


class _Sink:
    """Collects problems, placing each on the line of the key path it concerns."""

    def __init__(self, file: str, lines: dict[KeyPath, int], environ: Mapping[str, str]) -> None:
        self.file, self.lines, self.environ = file, lines, environ
        self.problems: list[ConfigProblem] = []
        # Values taken from the environment, by variable name: never echoed in a message.
        self.from_env: dict[str, str] = {}

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


class _Table:
    """Typed reads from one TOML table; every bad value becomes a problem and reads as None."""

    def __init__(self, sink: _Sink, data: dict[str, Any], path: KeyPath, label: str) -> None:
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
                self.problem(key, f"{describe(item)}{_suggest(item, known)}", item=index)
                found = True
        return found

    def check_keys(self, table: str) -> None:
        known = TABLE_KEYS[table]
        for key in self.data:
            if key in known:
                continue
            hint = _suggest(key, known)
            home = [name for name, keys in TABLE_KEYS.items() if key in keys and name != table]
            if not hint and home:
                hint = f"; it belongs in {_table_header(home[0])}"
            self.problem(key, f"unknown key {key!r} in {_table_header(table)}{hint}")

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
            self.problem(key, f"expected a string, got {_kind(value)}{shown}")
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
            self.problem(key, f'expected a list of strings like ["a", "b"], got {_kind(value)}')
            return None
        out: list[str] = []
        ok = True
        for index, item in enumerate(items):
            where = None if isinstance(value, str) else index
            if not isinstance(item, str):
                self.problem(
                    key, f"expected strings only, got {_kind(item)} ({item!r})", item=where
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
        self.problem(key, f"expected true or false, got {_kind(value)} ({value!r})")
        return None

    def whole(self, key: str, *, minimum: int, maximum: int | None = None) -> int | None:
        if key not in self.data:
            return None
        value = self.data[key]
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(key, f"expected a whole number, got {_kind(value)} ({value!r})")
            return None
        if value < minimum:
            self.problem(key, f"must be {minimum} or more, got {value}")
            return None
        if maximum is not None and value > maximum:
            self.problem(key, f"must be at most {maximum}, got {str(value)[:40]}")
            return None
        return value

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
            self.problem(key, f"expected {DURATION_EXAMPLE}, got {_kind(value)} ({value!r})")
            return None
        text = self.expand(key, value)
        if text is None:
            return None
        try:
            result = parse_duration(text)
        except ValueError as exc:
            self.problem(key, str(exc))
            return None
        if result < minimum:
            self.problem(key, f"must be at least {minimum}s, got {value!r}")
            return None
        if result > maximum:
            self.problem(key, f"must be at most {maximum // 86400} days, got {value!r}")
            return None
        return result

    def size(self, key: str, *, maximum: int) -> int | None:
        if key not in self.data:
            return None
        value = self.data[key]
        if isinstance(value, int) and not isinstance(value, bool):
            result = value
        elif isinstance(value, str):
            text = self.expand(key, value)
            if text is None:
                return None
            try:
                result = parse_size(text)
            except ValueError as exc:
                self.problem(key, str(exc))
                return None
        else:
            self.problem(
                key,
                f"expected a number of bytes or a size like '20MB', got {_kind(value)} ({value!r})",
            )
            return None
        if result < 1:
            self.problem(key, f"must be at least 1 byte, got {value!r}")
            return None
        if result > maximum:
            self.problem(key, f"must be at most {_size_text(maximum)}, got {str(value)[:40]!r}")
            return None
        return result

    def choice(self, key: str, options: tuple[str, ...]) -> str | None:
        value = self.text(key)
        if value is None or value in options:
            return value
        self.problem(key, f"{value!r} is not one of {', '.join(options)}{_suggest(value, options)}")
        return None

    def http_url(self, key: str, *, required: bool = False) -> str | None:
        value = self.text(key, required=required)
        if value is None:
            return None
        reason = _url_problem(value)
        if reason:
            self.problem(key, reason)
            return None
        return value


def _size_text(size: int) -> str:
    for unit, factor in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size >= factor and size % factor == 0:
            return f"{size // factor}{unit}"
    return f"{size} bytes"


def _table_header(table: str) -> str:
    return f"[[{table}]]" if table in ARRAY_TABLES else f"[{table}]"


def _url_problem(url: str) -> str | None:
    if any(char.isspace() for char in url):
        return f"{url!r} contains whitespace; encode spaces as %20"
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a port that is not a number in range
    except ValueError as exc:
        return f"{url!r} is not a valid URL: {exc}"
    if parts.username is not None or parts.password is not None:
        # Never echo it: the point is that a password must not be written anywhere.
        return (
            "the URL carries a user name or password, which would be stored in the log "
            "and shown in the web view; send credentials as a header instead, e.g. "
            'headers = { Authorization = "${PAGE_TOKEN}" }'
        )
    if not parts.scheme:
        return (
            f"{url!r} has no scheme; only http:// and https:// URLs can be watched "
            f"(did you mean 'https://{url}'?)"
        )
    if parts.scheme.lower() not in ("http", "https"):
        return f"only http:// and https:// URLs can be watched; got {parts.scheme!r}"
    if not parts.hostname:
        return f"{url!r} has no host"
    return None


# Query parameters that carry credentials by name, compared lower-case with "-" as "_".
_SECRET_PARAMETERS = frozenset(
    [
        "access_key",
        "access_token",
        "api_key",
        "apikey",
        "auth",
        "auth_token",
        "authorization",
        "client_secret",
        "code_verifier",
        "credential",
        "id_token",
        "jwt",
        "key",
        "pass",
        "passwd",
        "password",
        "private_token",
        "pwd",
        "refresh_token",
        "secret",
        "secret_key",
        "session",
        "session_id",
        "sessionid",
        "sid",
        "sig",
        "signature",
        "token",
        "x_amz_credential",
        "x_amz_security_token",
        "x_amz_signature",
        "x_goog_credential",
        "x_goog_signature",
    ]
)
_SECRET_SUFFIXES = ("_token", "_secret", "_password", "_signature", "_apikey", "_api_key")


def _query_secret_problem(raw: object, url: str) -> str | None:
    """Why a source URL's query must not be used: it carries a credential.

    The URL is stored in the hash-chained log (which cannot be edited afterwards)
    and shown in the web view and alerts, so a token in it would be published for
    good — the reason ``user:pw@`` URLs are refused. ``raw`` is the value as written,
    before ``${VAR}`` was replaced.
    """
    advice = (
        "which would be stored in the log for good and shown in the web view; send "
        'credentials as a header instead, e.g. headers = { Authorization = "Bearer ${TOKEN}" }'
    )
    written = str(raw).replace("$${", "")
    after_path = min((i for i in (written.find("?"), written.find("#")) if i >= 0), default=-1)
    if after_path >= 0 and "${" in written[after_path:]:
        return f"the URL's query takes a value from the environment, {advice}"
    for name, _ in parse_qsl(urlsplit(url).query, keep_blank_values=True):
        folded = name.strip().lower().replace("-", "_")
        if folded in _SECRET_PARAMETERS or folded.endswith(_SECRET_SUFFIXES):
            return f"the URL's query parameter {name[:40]!r} looks like a credential, {advice}"
    return None


def _css_problem(selector: str) -> str | None:
    try:
        LexborHTMLParser("<p></p>").css(selector)
    except SelectolaxError:
        return f"{selector!r} is not a valid CSS selector"
    return None


def _regex_problem(pattern: str) -> str | None:
    # User patterns run on RE2 (monitor.text.patterns): what it refuses is refused here.
    return regex_problem(pattern)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-._")[:80]


class _Builder:
    """Turns the parsed TOML document into ``Settings``, reporting problems to the sink."""

    def __init__(self, sink: _Sink, data: dict[str, Any]) -> None:
        self.sink, self.data = sink, data

    def build(self) -> Settings:
        for key, value in self.data.items():
            if key in TABLE_KEYS:
                continue
            is_table = isinstance(value, dict) or (
                isinstance(value, list) and bool(value) and isinstance(value[0], dict)
            )
            what = "table" if is_table else "top-level key"
            hint = _suggest(key, TABLE_KEYS)
            home = [name for name, keys in TABLE_KEYS.items() if key in keys]
            if not hint and home:
                hint = f"; it belongs in {_table_header(home[0])}"
            self.sink.add((key,), key, f"unknown {what} {key!r}{hint}")
        monitor = self.monitor()
        web = self.web()
        audit = self.audit()
        channels = self.entries("channel", "name", self.channel)
        sources = self.entries("source", "id", lambda t: self.source(t, monitor))
        # Cross-references are checked against what the file names, not against what was
        # built, so one broken source does not also make every rule naming it an error.
        reachable = self.names("channel", "name") | self.names("channel", "tags")
        source_ids, source_tags = self.names("source", "id"), self.names("source", "tags")
        rules = self.entries(
            "rule", "id", lambda t: self.rule(t, reachable, source_ids, source_tags)
        )
        from monitor.discover.config import discover_entry  # it builds on this module

        discover = self.entries("discover", "id", lambda t: discover_entry(self, t, monitor))
        users = self.entries("user", "name", self.user)
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
            stories=self.stories(),
        )

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

    def single(self, name: str) -> _Table | None:
        value = self.data.get(name)
        if value is None:
            return None
        if not isinstance(value, dict):
            shape = f"[[{name}]] (double brackets)" if isinstance(value, list) else _kind(value)
            self.sink.add((name,), name, f"expected a single [{name}] table, got {shape}")
            return None
        table = _Table(self.sink, value, (name,), name)
        table.check_keys(name)
        return table

    def monitor(self) -> MonitorSettings:
        table = self.single("monitor")
        if table is None:
            return MonitorSettings()
        values: dict[str, Any] = {
            "database": table.text("database"),
            "user_agent": table.text("user_agent"),
            "default_interval": table.seconds("default_interval"),
            "concurrency": table.whole("concurrency", minimum=1, maximum=1000),
            "per_host": table.whole("per_host", minimum=1, maximum=100),
            "timeout": table.seconds("timeout"),
            "max_bytes": table.size("max_bytes", maximum=MAX_BODY),
            "jitter_percent": self.jitter(table),
            "confirm_every": table.seconds("confirm_every"),
            "alert_after_failures": table.whole("alert_after_failures", minimum=1, maximum=10_000),
            "allow_private": table.flag("allow_private"),
            "allow_networks": self.networks(table, "allow_networks"),
            "deny_networks": self.networks(table, "deny_networks"),
            "respect_robots": table.flag("respect_robots"),
            "key_path": table.text("key_path"),
            "checkpoint_every": table.seconds("checkpoint_every"),
            "grace_period": table.seconds("grace_period", minimum=0),
            "base_url": table.http_url("base_url"),
            "browser_pages": table.whole("browser_pages", minimum=1, maximum=100),
            "browser_memory": table.size("browser_memory", maximum=MAX_BROWSER_MEMORY),
            "browser_restart_after": table.whole(
                "browser_restart_after", minimum=1, maximum=1_000_000
            ),
            "data_dir": self.config_relative(table.text("data_dir")),
            "ca_file": self.config_relative(table.text("ca_file")),
            "gone_after": table.whole("gone_after", minimum=1, maximum=1000),
            "extract_workers": table.whole("extract_workers", minimum=0, maximum=64),
        }
        return MonitorSettings(**{k: v for k, v in values.items() if v is not None})

    @staticmethod
    def networks(table: _Table, key: str) -> tuple[str, ...] | None:
        """``allow_networks`` / ``deny_networks``: addresses or CIDRs, checked here."""
        values = table.texts(key)
        if values is None:
            return None
        listed = isinstance(table.data.get(key), list)
        ok = True
        for index, value in enumerate(values):
            try:
                ipaddress.ip_network(value.strip(), strict=False)
            except ValueError:
                table.problem(
                    key,
                    f'{value!r} is not an IP network; write an address or a CIDR like "10.0.0.0/8"',
                    item=index if listed else None,
                )
                ok = False
        return tuple(v.strip() for v in values) if ok else None

    @staticmethod
    def jitter(table: _Table) -> int | None:
        value = table.data.get("jitter")
        if isinstance(value, str):
            text = table.expand("jitter", value)
            if text is None:
                return None
            found = re.fullmatch(r"\s*(\d+)\s*%?\s*", text)
            value = int(found.group(1)) if found else value
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 50:
            table.problem(
                "jitter", f'expected a percentage from 0 to 50, like 10 or "10%", got {value!r}'
            )
            return None
        return value

    def web(self) -> WebSettings:
        table = self.single("web")
        if table is None:
            return WebSettings()
        listen = table.text("listen")
        token = table.text("token", secret=True, empty=True) or None
        values: dict[str, Any] = {
            "listen": listen,
            "token": token,
            "base_url": table.http_url("base_url"),
        }
        if listen is not None:
            try:
                host, _ = parse_listen(listen)
            except ValueError as exc:
                table.problem("listen", str(exc))
                values["listen"] = None
            else:
                if not is_loopback(host) and token is None:
                    table.problem(
                        "token",
                        "set [web] token when listening on a non-loopback "
                        f"address (listen is {listen!r})",
                    )
        return WebSettings(**{k: v for k, v in values.items() if v is not None})

    def config_relative(self, value: str | None) -> str | None:
        """A file named in the config, relative to the config file's directory (pure)."""
        if value is None:
            return None
        if os.path.isabs(value) or value.startswith("~"):
            return value  # "~" is expanded where the file is opened
        return os.path.join(os.path.dirname(self.sink.file), value)

    def audit(self) -> AuditSettings:
        table = self.single("audit")
        if table is None:
            return AuditSettings()
        values: dict[str, Any] = {
            "timestamp_authorities": self.authorities(table),
            "wayback": table.flag("wayback"),
            "wayback_endpoint": table.http_url("wayback_endpoint"),
            "wayback_per_minute": table.whole("wayback_per_minute", minimum=1, maximum=60),
            "wayback_key": table.text("wayback_key", secret=True),
        }
        return AuditSettings(**{k: v for k, v in values.items() if v is not None})

    def authorities(self, table: _Table) -> tuple[TimestampAuthority, ...] | None:
        """``timestamp_authorities = [{ url = "…", certificates = "tsa.pem" }, …]``."""
        value = table.data.get("timestamp_authorities")
        if value is None:
            return None
        if not isinstance(value, list):
            table.problem(
                "timestamp_authorities",
                'expected a list like [{ url = "https://…", certificates = "tsa-chain.pem" }], '
                f"got {_kind(value)}",
            )
            return None
        found: list[TimestampAuthority] = []
        for index, item in enumerate(value):
            label = f"audit.timestamp_authorities[{index + 1}]"
            if not isinstance(item, dict):
                table.problem(
                    "timestamp_authorities", f"expected a table, got {_kind(item)}", item=index
                )
                continue
            entry = _Table(self.sink, item, ("audit", "timestamp_authorities", index), label)
            for key in item:
                if key not in TSA_KEYS:
                    entry.problem(key, f"unknown key {key!r}{_suggest(key, TSA_KEYS)}")
            url = entry.http_url("url", required=True)
            certificates = self.config_relative(entry.text("certificates", required=True))
            name = entry.text("name")
            if url is not None and certificates is not None:
                found.append(
                    TimestampAuthority(url=url, certificates=certificates, name=name or "")
                )
        return tuple(found)

    def entries(self, name: str, id_key: str, build: Callable[[_Table], Any]) -> list[Any]:
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
            self.sink.add((name,), name, f"expected [[{name}]] tables, got {_kind(value)}")
            return []
        built: list[Any] = []
        seen: dict[str, int | None] = {}
        for index, entry in enumerate(value):
            label = f"{name}[{index + 1}]"
            if not isinstance(entry, dict):
                self.sink.add((name, index), label, f"expected a table, got {_kind(entry)}")
                continue
            ident = entry.get(id_key)
            if isinstance(ident, str):
                label += f' ({id_key} "{ident}")'
            table = _Table(self.sink, entry, (name, index), label)
            table.check_keys(name)
            if isinstance(ident, str):
                line = table.line_of(id_key)
                if ident in seen:
                    first = seen[ident]
                    also = f" (first used on line {first})" if first else ""
                    table.problem(
                        id_key,
                        f"duplicate {name} {id_key} {ident!r}{also}; "
                        f"each {name} needs its own {id_key}",
                    )
                else:
                    seen[ident] = line
            result = build(table)
            if result is not None:
                built.append(result)
        return built

    def channel(self, table: _Table) -> ChannelSettings | None:
        name = table.text("name", required=True)
        url = table.text("url", required=True, secret=True)
        if url is not None and "://" not in url:
            table.problem(
                "url", "is not an Apprise URL (expected scheme://…, like slack://… or mailto://…)"
            )
            url = None
        digest = table.text("digest")
        if digest is not None:
            found = _DIGEST.match(digest)
            if not found or int(found.group(2)) > 23 or int(found.group(3)) > 59:
                table.problem(
                    "digest",
                    f'expected "daily@HH:MM" or "weekly@mon HH:MM" (24-hour time), got {digest!r}',
                )
                digest = None
        events = table.texts("events")
        if table.unknown_items(
            "events", events, EVENT_TYPES, lambda e: f"unknown event type {e!r}"
        ):
            events = None
        values: dict[str, Any] = {
            "tags": table.texts("tags"),
            "digest": digest,
            "min_severity": table.choice("min_severity", SEVERITIES),
            "events": events,
        }
        if name is None or url is None:
            return None
        return ChannelSettings(
            name=name, url=url, **{k: v for k, v in values.items() if v is not None}
        )

    def source(self, table: _Table, monitor: MonitorSettings) -> SourceSettings | None:
        source_id = table.text("id", required=True)
        if source_id is not None and not SOURCE_ID.match(source_id):
            slug = _slug(source_id)
            hint = f"; try {slug!r}" if slug and SOURCE_ID.match(slug) else ""
            table.problem(
                "id",
                f"{source_id!r} must be 1-80 characters of a-z, 0-9, '.', '_' "
                "or '-', starting with a letter or digit (ids name event "
                f"streams and appear in URLs){hint}",
            )
            source_id = None
        urls = self.parts(table)
        if urls:
            url: str | None = urls[0]
        else:
            url = table.http_url("url", required="urls" not in table.data)
            if url is not None and (reason := _query_secret_problem(table.data["url"], url)):
                table.problem("url", reason)
                url = None
        select = table.text("select")
        if select is not None and (reason := _css_problem(select)):
            table.problem("select", reason)
        remove = table.texts("remove")
        for index, selector in enumerate(remove or ()):
            if reason := _css_problem(selector):
                table.problem("remove", reason, item=index)
        ignore = table.texts("ignore")
        for index, pattern in enumerate(ignore or ()):
            if reason := _regex_problem(pattern):
                table.problem("ignore", reason, item=index)
        interval = table.seconds("interval")
        cron = table.text("cron")
        if cron is not None:
            try:
                cron = normalize_cron(cron)
            except ValueError as exc:
                table.problem("cron", str(exc))
        if "interval" in table.data and "cron" in table.data:
            table.problem("cron", "set either interval or cron, not both")
        fmt = table.choice("format", FORMATS)
        json_path = table.text("json_path")
        csv_key = table.texts("csv_key")
        if json_path is not None and fmt not in (None, "json"):
            table.problem("json_path", f'only applies to format = "json", not {fmt!r}')
        if csv_key is not None and fmt not in (None, "csv"):
            table.problem("csv_key", f'only applies to format = "csv", not {fmt!r}')
        values: dict[str, Any] = {
            "company": table.text("company", empty=True),
            "title": table.text("title", empty=True),
            "tags": table.texts("tags"),
            "select": select,
            "remove": remove,
            "ignore": ignore,
            "cron": cron,
            "interval": interval,
            "format": fmt,
            "render": table.choice("render", RENDERS),
            "confirm": table.whole("confirm", minimum=1, maximum=100),
            "watch_links": self.watch_links(table),
            "screenshot": table.flag("screenshot"),
            "json_path": json_path,
            "csv_key": csv_key,
            "verify_tls": table.flag("verify_tls"),
            "robots": table.flag("robots"),
            "headers": self.headers(table),
            "timeout": table.seconds("timeout"),
            "max_bytes": table.size("max_bytes", maximum=MAX_BODY),
            "urls": urls,
            "figures": self.figures(table),
            "gone_after": table.whole("gone_after", minimum=1, maximum=1000),
            **self.noise(table),
        }
        if urls and (values["render"] not in (None, "http") or values["screenshot"]):
            table.problem(
                "urls",
                "a document over several pages is fetched over plain HTTP: drop render "
                "and screenshot, or watch the pages as separate sources",
            )
        if "interval" not in table.data and "cron" not in table.data:
            values["interval"] = monitor.default_interval
        figures = values["figures"]
        if figures is not None and csv_key is None and fmt in (None, "csv"):
            # The report's rows, keyed as its figures are, make the change diff read
            # "Hong Kong · Subpoena · 2011-06-30 · User Data Requests: 45".
            values["csv_key"] = (*figures.key, figures.period)
        if source_id is None or url is None:
            return None
        return SourceSettings(
            id=source_id, url=url, **{k: v for k, v in values.items() if v is not None}
        )

    @staticmethod
    def parts(table: _Table) -> tuple[str, ...] | None:
        """``urls``: the pages of one document, in order, instead of ``url``."""
        if "urls" not in table.data:
            return None
        if "url" in table.data:
            table.problem("urls", "set either url (one page) or urls (the parts), not both")
            return None
        urls = table.texts("urls")
        if urls is None:
            return None
        if isinstance(table.data["urls"], str) or not 2 <= len(urls) <= MAX_PARTS:
            table.problem(
                "urls",
                f"expected a list of 2 to {MAX_PARTS} page URLs, the parts in order "
                '(urls = ["https://…/part-1", "https://…/part-2"]); use url for one page',
            )
            return None
        ok = True
        for index, part in enumerate(urls):
            reason = _url_problem(part) or _query_secret_problem(table.data["urls"][index], part)
            if reason:
                table.problem("urls", reason, item=index)
                ok = False
        if len(set(urls)) != len(urls):
            table.problem("urls", "lists the same page twice")
            ok = False
        return urls if ok else None

    @staticmethod
    def noise(table: _Table) -> dict[str, Any]:
        """The source's noise settings (monitor.noise), validated."""
        also = table.texts("also_alert")
        for index, name in enumerate(also or ()):
            if name not in QUIET_CLASSES:
                table.problem(
                    "also_alert",
                    f"{name!r} is not a quiet class of change; choose from "
                    + ", ".join(QUIET_CLASSES),
                    item=index,
                )
        return {
            "remove_consent": table.flag("remove_consent"),
            "also_alert": also,
            "learn_volatile_after": table.whole("learn_volatile_after", minimum=0, maximum=100),
            "unlearn_volatile_after": table.whole(
                "unlearn_volatile_after", minimum=1, maximum=10000
            ),
        }

    @staticmethod
    def watch_links(table: _Table) -> bool | Literal["documents"] | None:
        """``true``, ``false``, or ``"documents"`` (only links to PDFs, spreadsheets, reports)."""
        value = table.data.get("watch_links")
        if value == "documents":
            return "documents"
        if isinstance(value, str):
            table.problem(
                "watch_links",
                f"expected true or false, got {_kind(value)} ({value!r}); "
                'or "documents" to watch links to documents only',
            )
            return None
        return table.flag("watch_links")

    def user(self, table: _Table) -> UserSettings | None:
        """A ``[[user]]``: the token is read from the environment variable ``token_env`` names."""
        name = table.text("name", required=True)
        token_env = table.text("token_env", required=True)
        role = table.choice("role", USER_ROLES) or "viewer"
        token: str | None = None
        if token_env is not None:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", token_env):
                table.problem("token_env", f"{token_env!r} is not an environment variable name")
            elif not self.sink.environ.get(token_env, "").strip():
                table.problem(
                    "token_env", f"{token_env} is not set (or empty); set it to this user's token"
                )
            else:
                token = self.sink.environ[token_env].strip()
                self.sink.from_env[token_env] = token
        if name is None or token is None:
            return None
        return UserSettings(name=name, token=token, role=role)  # type: ignore[arg-type]

    def stories(self) -> StoriesSettings:
        table = self.single("stories")
        if table is None:
            return StoriesSettings()
        values: dict[str, Any] = {
            "min_companies": table.whole("min_companies", minimum=2),
            "window": table.seconds("window"),
        }
        return StoriesSettings(**{k: v for k, v in values.items() if v is not None})

    @staticmethod
    def headers(table: _Table) -> tuple[tuple[str, str], ...] | None:
        raw = table.data.get("headers")
        if raw is None:
            return None
        if not isinstance(raw, dict):
            table.problem(
                "headers",
                "expected a table of header names to values, like "
                'headers = { Authorization = "Bearer ${API_TOKEN}" }, '
                f"got {_kind(raw)}",
            )
            return None
        sub = _Table(table.sink, raw, (*table.path, "headers"), f"{table.label}.headers")
        out: list[tuple[str, str]] = []
        for name in raw:
            if not _HEADER_NAME.match(name):
                sub.problem(name, f"{name!r} is not a valid HTTP header name")
                continue
            # Header values may carry credentials: read as secrets, never echoed.
            text = sub.text(name, secret=True, empty=True)
            if text is None:
                continue
            if any(char in text for char in "\r\n\0"):
                sub.problem(name, "the header value contains a line break or NUL character")
                continue
            out.append((name, text))
        return tuple(out)

    def rule(
        self, table: _Table, reachable: set[str], source_ids: set[str], source_tags: set[str]
    ) -> RuleSettings | None:
        rule_id = table.text("id", required=True)
        regex = table.texts("regex")
        for index, pattern in enumerate(regex or ()):
            if reason := _regex_problem(pattern):
                table.problem("regex", reason, item=index)
        terms = {key: table.texts(key) for key in ("all", "any", "none")}
        figures = self.figure_rule(table)
        if any(key in table.data for key in FIGURE_RULE_KEYS):
            pass  # a rule over figures: figure_rule reported what is wrong with it
        elif not any(table.data.get(key) for key in ("all", "any", "regex")):
            table.problem(
                None,
                "a rule needs at least one of all, any or regex to match on "
                "(none alone only excludes)",
            )
        near = table.whole("near", minimum=1, maximum=10_000)
        notify = table.texts("notify")
        if reachable:
            table.unknown_items(
                "notify", notify, reachable, lambda n: f"no [[channel]] has the tag or name {n!r}"
            )
        sources = table.texts("sources")
        table.unknown_items("sources", sources, source_ids, lambda s: f"unknown source id {s!r}")
        tags = table.texts("tags")
        table.unknown_items("tags", tags, source_tags, lambda g: f"no [[source]] has the tag {g!r}")
        if figures is not None:
            with_figures = self.figures_sources()
            for index, source_id in enumerate(sources or ()):
                if source_id in source_ids and source_id not in with_figures:
                    table.problem(
                        "sources",
                        f"source {source_id!r} has no [source.figures] table, and a rule "
                        "with when (or rise_pct, fall_pct) matches figures only",
                        item=index,
                    )
        values: dict[str, Any] = {
            **terms,
            "regex": regex,
            "near": near,
            "on": table.choice("on", ONS),
            "severity": table.choice("severity", SEVERITIES),
            "notify": notify,
            "sources": sources,
            "tags": tags,
            "figures": figures,
        }
        if rule_id is None:
            return None
        return RuleSettings(id=rule_id, **{k: v for k, v in values.items() if v is not None})

    @staticmethod
    def figures(table: _Table) -> FiguresSettings | None:
        """``[source.figures]``: the columns that name a row, its period, and its figures."""
        raw = table.data.get("figures")
        if raw is None:
            return None
        if not isinstance(raw, dict):
            table.problem(
                "figures",
                'expected a table like [source.figures] with key = ["Country"] and '
                f'period = "Period", got {_kind(raw)}',
            )
            return None
        sub = _Table(table.sink, raw, (*table.path, "figures"), f"{table.label}.figures")
        for name in raw:
            if name not in FIGURES_KEYS:
                sub.problem(
                    name, f"unknown key {name!r} in [source.figures]{_suggest(name, FIGURES_KEYS)}"
                )
        key = sub.texts("key")
        if "key" not in raw:
            sub.problem("key", 'is required; name the columns of a row, like key = ["Country"]')
        period = sub.text("period", required=True)
        values = sub.texts("values") or ()
        selector = sub.text("table")
        if selector is not None and (reason := _css_problem(selector)):
            sub.problem("table", reason)
            selector = None
        if key is not None and period is not None:
            overlap = [name for name in values if name in key or name == period]
            if overlap:
                sub.problem("values", f"{overlap[0]!r} is already the key or the period")
        if key is None or period is None:
            return None
        return FiguresSettings(
            key=key,
            period=period,
            values=values,
            table=selector,
            member=sub.text("member"),
            sheet=sub.text("sheet"),
        )

    @staticmethod
    def figure_rule(table: _Table) -> FigureRuleSettings | None:
        """The figures part of a ``[[rule]]`` (``when``, ``where``, ``column``, ``rise_pct``…)."""
        if not any(key in table.data for key in FIGURE_RULE_KEYS):
            return None
        for key in ("all", "any", "none", "regex", "near", "on"):
            if key in table.data:
                table.problem(
                    key,
                    "a rule over figures (when, rise_pct, fall_pct) does not match text; "
                    "write a separate rule for the text",
                )
        when = table.choice("when", FIGURE_WHENS)
        pct = None
        for name in ("rise_pct", "fall_pct"):
            if name in table.data:
                if when is not None and when != name:
                    table.problem(name, f'cannot be combined with when = "{when}"')
                when = name
                pct = table.whole(name, minimum=1, maximum=100_000)
        if when in ("rise_pct", "fall_pct") and pct is None and "when" in table.data:
            table.problem("when", f'write {when} = N (a percentage) instead of when = "{when}"')
            return None
        if when is None:
            if "when" not in table.data:
                table.problem(
                    "when",
                    'a rule over figures needs when = "published", "restated", '
                    '"from_zero" or "to_zero", or rise_pct = N / fall_pct = N',
                )
            return None
        where: list[tuple[str, str]] = []
        raw = table.data.get("where")
        if raw is not None:
            if not isinstance(raw, dict) or not all(
                isinstance(v, str) and v.strip() for v in raw.values()
            ):
                table.problem(
                    "where",
                    'expected a table of column = value, like where = { Country = "Hong Kong" }',
                )
                return None
            where = [(str(k), str(v)) for k, v in raw.items()]
        return FigureRuleSettings(
            when=when,  # type: ignore[arg-type]  # one of FIGURE_WHENS, checked above
            where=tuple(where),
            column=table.text("column"),
            pct=pct,
        )


def parse_listen(text: str) -> tuple[str, int]:
    """``"HOST:PORT"`` (``"[::1]:8080"`` for IPv6) → (host, port); ValueError with a reason."""
    host, _, port = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(
            f"expected HOST:PORT like '127.0.0.1:8080' or '0.0.0.0:8080' "
            f"(port 1-65535), got {text!r}"
        )
    return host, int(port)


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses: only this machine can connect."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

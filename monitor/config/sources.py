"""A ``[[source]]``: a page to watch and how to read it, with its ``[source.figures]``.

What a setting's declaration says how to read is read by it (``read_declared``);
this module adds what only a source has: its id and URL(s), which must never carry
a credential (they are stored in the log for good), its headers (secrets), the
checks of selectors and patterns, and the rules across keys (``interval`` or
``cron``, ``json_path`` only with JSON, …). ``[[discover]]`` reads its
``[discover.source]`` template with the same function.
"""

from __future__ import annotations

import re
import sys
from typing import Any, Literal

from monitor.config.checks import (
    SOURCE_ID,
    css_problem,
    query_secret_problem,
    slug,
    url_problem,
)
from monitor.config.cron import normalize_cron
from monitor.config.reader import Table, given, kind_of, read_declared
from monitor.config.registry import declaration, nested_table
from monitor.config.settings import (
    QUIET_CLASSES,
    FiguresSettings,
    MonitorSettings,
    SourceSettings,
)
from monitor.text.patterns import regex_problem

__all__ = ["check_patterns", "check_selectors", "source_settings"]

_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def source_settings(table: Table, monitor: MonitorSettings) -> SourceSettings | None:
    """One ``[[source]]`` entry, or None (with problems recorded) when it is unusable."""
    values = read_declared(table, SourceSettings)
    source_id = values["id"]
    if source_id is not None and not SOURCE_ID.match(source_id):
        fixed = slug(source_id)
        hint = f"; try {fixed!r}" if fixed and SOURCE_ID.match(fixed) else ""
        table.problem(
            "id",
            f"{source_id!r} must be 1-80 characters of a-z, 0-9, '.', '_' "
            "or '-', starting with a letter or digit (ids name event "
            f"streams and appear in URLs){hint}",
        )
        values["id"] = None
    urls = values["urls"] = _parts(table)
    values["url"] = urls[0] if urls else _url(table)
    if values["select"] is not None:
        check_selectors(table, "select", (values["select"],))
    check_selectors(table, "remove", values["remove"])
    check_patterns(table, "ignore", values["ignore"])
    if values["cron"] is not None:
        try:
            values["cron"] = normalize_cron(values["cron"])
        except ValueError as exc:
            table.problem("cron", str(exc))
    if "interval" in table.data and "cron" in table.data:
        table.problem("cron", "set either interval or cron, not both")
    fmt = values["format"]
    for key, applies in (("json_path", "json"), ("csv_key", "csv")):
        if values[key] is not None and fmt not in (None, applies):
            table.problem(key, f'only applies to format = "{applies}", not {fmt!r}')
    values.update(
        watch_links=_watch_links(table),
        headers=_headers(table),
        figures=_figures(table),
        also_alert=_quiet_classes(table, values["also_alert"]),
    )
    if urls and (values["render"] not in (None, "http") or values["screenshot"]):
        table.problem(
            "urls",
            "a document over several pages is fetched over plain HTTP: drop render "
            "and screenshot, or watch the pages as separate sources",
        )
    if "interval" not in table.data and "cron" not in table.data:
        values["interval"] = monitor.default_interval
    figures = values["figures"]
    if figures is not None and values["csv_key"] is None and fmt in (None, "csv"):
        # The report's rows, keyed as its figures are, make the change diff read
        # "Hong Kong · Subpoena · 2011-06-30 · User Data Requests: 45".
        values["csv_key"] = (*figures.key, figures.period)
    if values["id"] is None or values["url"] is None:
        return None
    # A daemon keeps each source's id and URL in its configuration, its cached state and
    # its notifier for months: one string each (``check.statecache`` and the notifier
    # intern theirs too).
    values["id"], values["url"] = sys.intern(values["id"]), sys.intern(values["url"])
    return SourceSettings(**given(values))


def check_selectors(table: Table, key: str, selectors: tuple[str, ...] | None) -> None:
    """Report each CSS selector at ``key`` that lexbor cannot read."""
    listed = isinstance(table.data.get(key), list)
    for index, selector in enumerate(selectors or ()):
        if reason := css_problem(selector):
            table.problem(key, reason, item=index if listed else None)


def check_patterns(table: Table, key: str, patterns: tuple[str, ...] | None) -> bool:
    """Report each pattern at ``key`` that RE2 refuses; True when all are usable."""
    listed = isinstance(table.data.get(key), list)
    ok = True
    for index, pattern in enumerate(patterns or ()):
        # User patterns run on RE2 (monitor.text.patterns): what it refuses is refused here.
        if reason := regex_problem(pattern):
            table.problem(key, reason, item=index if listed else None)
            ok = False
    return ok


def _url(table: Table) -> str | None:
    """``url``: one page, over HTTP(S), with no credential in it."""
    url = table.http_url("url", required="urls" not in table.data)
    if url is not None and (reason := query_secret_problem(table.data["url"], url)):
        table.problem("url", reason)
        return None
    return url


def _parts(table: Table) -> tuple[str, ...] | None:
    """``urls``: the pages of one document, in order, instead of ``url``."""
    if "urls" not in table.data:
        return None
    if "url" in table.data:
        table.problem("urls", "set either url (one page) or urls (the parts), not both")
        return None
    urls = table.texts("urls")
    if urls is None:
        return None
    bounds = declaration(SourceSettings, "urls").setting
    fewest, most = bounds.minimum or 2, bounds.maximum or len(urls)
    if isinstance(table.data["urls"], str) or not fewest <= len(urls) <= most:
        table.problem(
            "urls",
            f"expected a list of {fewest} to {most} page URLs, the parts in order "
            '(urls = ["https://…/part-1", "https://…/part-2"]); use url for one page',
        )
        return None
    ok = True
    for index, part in enumerate(urls):
        reason = url_problem(part) or query_secret_problem(table.data["urls"][index], part)
        if reason:
            table.problem("urls", reason, item=index)
            ok = False
    if len(set(urls)) != len(urls):
        table.problem("urls", "lists the same page twice")
        ok = False
    return urls if ok else None


def _quiet_classes(table: Table, names: tuple[str, ...] | None) -> tuple[str, ...] | None:
    """``also_alert``: the quiet classes of change (monitor.noise) that still alert."""
    for index, name in enumerate(names or ()):
        if name not in QUIET_CLASSES:
            table.problem(
                "also_alert",
                f"{name!r} is not a quiet class of change; choose from " + ", ".join(QUIET_CLASSES),
                item=index,
            )
    return names


def _watch_links(table: Table) -> bool | Literal["documents"] | None:
    """``true``, ``false``, or ``"documents"`` (only links to PDFs, spreadsheets, reports)."""
    value = table.data.get("watch_links")
    if value == "documents":
        return "documents"
    if isinstance(value, str):
        table.problem(
            "watch_links",
            f"expected true or false, got {kind_of(value)} ({value!r}); "
            'or "documents" to watch links to documents only',
        )
        return None
    return table.flag("watch_links")


def _headers(table: Table) -> tuple[tuple[str, str], ...] | None:
    sub = table.subtable(
        "headers",
        "a table of header names to values, like "
        'headers = { Authorization = "Bearer ${API_TOKEN}" },',
    )
    if sub is None:
        return None
    out: list[tuple[str, str]] = []
    for name in sub.data:
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


def _figures(table: Table) -> FiguresSettings | None:
    """``[source.figures]``: the columns that name a row, its period, and its figures."""
    sub = table.subtable(
        "figures",
        'a table like [source.figures] with key = ["Country"] and period = "Period"',
    )
    if sub is None:
        return None
    sub.check_known(nested_table("source.figures").keys, " in [source.figures]")
    values: dict[str, Any] = read_declared(sub, FiguresSettings)
    key, period = values["key"], values["period"]
    if values["table"] is not None and (reason := css_problem(values["table"])):
        sub.problem("table", reason)
        values["table"] = None
    if key is not None and period is not None:
        overlap = [name for name in values["values"] or () if name in key or name == period]
        if overlap:
            sub.problem("values", f"{overlap[0]!r} is already the key or the period")
    if key is None or period is None:
        return None
    return FiguresSettings(**given(values))

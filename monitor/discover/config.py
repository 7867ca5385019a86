"""The ``[[discover]]`` table of ``sources.toml`` → ``DiscoverSettings``.

Built with the same typed reads as every other table (``monitor.config``), so a
problem names its file, line and key like the rest (``discover[2] (id
"meta").match``). ``[discover.source]`` is a ``[[source]]`` without ``id`` and
``url``: the settings every URL the entry registers is watched with.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from monitor.config.parse import (
    SOURCE_ID,
    _css_problem,
    _kind,
    _regex_problem,
    _Table,
)
from monitor.config.settings import DiscoverSettings, MonitorSettings

if TYPE_CHECKING:
    from monitor.config.parse import _Builder

MAX_NEW_LIMIT = 1000
TEMPLATE_FORBIDDEN = ("id", "url", "urls")


def discover_entry(
    builder: _Builder, table: _Table, monitor: MonitorSettings
) -> DiscoverSettings | None:
    """One ``[[discover]]`` entry, or None (with problems recorded) when it is unusable."""
    entry_id = table.text("id", required=True)
    if entry_id is not None and not SOURCE_ID.match(entry_id):
        table.problem(
            "id",
            f"{entry_id!r} must be 1-80 characters of a-z, 0-9, '.', '_' or '-', starting "
            "with a letter or digit (it names the entry's stream and its sources' ids)",
        )
        entry_id = None
    sitemap = table.http_url("sitemap")
    index = table.http_url("index")
    if "sitemap" not in table.data and "index" not in table.data:
        table.problem(
            None,
            'a [[discover]] entry needs sitemap = "https://…/sitemap.xml" and/or '
            'index = "https://…" (a page whose links are the documents)',
        )
    select = table.text("select")
    if select is not None:
        if "index" not in table.data:
            table.problem("select", "only applies to an index page (set index = …)")
        elif reason := _css_problem(select):
            table.problem("select", reason)
    patterns: dict[str, str | None] = {}
    for key in ("match", "text_match"):
        pattern = table.text(key)
        if pattern is not None and (reason := _regex_problem(pattern)):
            table.problem(key, reason)
            pattern = None
        patterns[key] = pattern
    template = _template(builder, table, monitor, sitemap or index)
    values: dict[str, Any] = {
        "company": table.text("company", empty=True),
        "select": select,
        "interval": table.seconds("interval"),
        "watch": table.flag("watch"),
        "max_new": table.whole("max_new", minimum=1, maximum=MAX_NEW_LIMIT),
        "tags": table.texts("tags"),
        "source": template,
        **patterns,
    }
    if entry_id is None or (sitemap is None and index is None):
        return None
    return DiscoverSettings(
        id=entry_id,
        sitemap=sitemap,
        index=index,
        **{k: v for k, v in values.items() if v is not None},
    )


def _template(
    builder: _Builder, table: _Table, monitor: MonitorSettings, listing: str | None
) -> Any:
    raw = table.data.get("source")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        table.problem(
            "source",
            f"expected a [discover.source] table of source settings, got {_kind(raw)}",
        )
        return None
    sub = _Table(table.sink, raw, (*table.path, "source"), f"{table.label}.source")
    for key in TEMPLATE_FORBIDDEN:
        if key in raw:
            sub.problem(key, "is set per discovered document; leave it out of [discover.source]")
    # Read as a [[source]] whose id and url discovery fills in for each document.
    filled = {k: v for k, v in raw.items() if k not in TEMPLATE_FORBIDDEN}
    filled.update(id="template", url=listing or "https://example.invalid/")
    probe = _Table(table.sink, filled, sub.path, sub.label)
    probe.check_keys("source")
    return builder.source(probe, monitor)

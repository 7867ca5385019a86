"""The ``[[discover]]`` table of ``sources.toml`` → ``DiscoverSettings``.

Built with the same typed reads as every other table (``monitor.config``), so a
problem names its file, line and key like the rest (``discover[2] (id
"meta").match``). ``[discover.source]`` is a ``[[source]]`` without ``id`` and
``url``: the settings every URL the entry registers is watched with.
"""

from __future__ import annotations

from monitor.config.checks import SOURCE_ID, css_problem
from monitor.config.reader import Table, given, read_declared
from monitor.config.settings import DiscoverSettings, MonitorSettings, SourceSettings
from monitor.config.sources import check_patterns, source_settings

TEMPLATE_FORBIDDEN = ("id", "url", "urls")


def discover_entry(table: Table, monitor: MonitorSettings) -> DiscoverSettings | None:
    """One ``[[discover]]`` entry, or None (with problems recorded) when it is unusable."""
    values = read_declared(table, DiscoverSettings)
    entry_id = values["id"]
    if entry_id is not None and not SOURCE_ID.match(entry_id):
        table.problem(
            "id",
            f"{entry_id!r} must be 1-80 characters of a-z, 0-9, '.', '_' or '-', starting "
            "with a letter or digit (it names the entry's stream and its sources' ids)",
        )
        values["id"] = None
    if "sitemap" not in table.data and "index" not in table.data:
        table.problem(
            None,
            'a [[discover]] entry needs sitemap = "https://…/sitemap.xml" and/or '
            'index = "https://…" (a page whose links are the documents)',
        )
    select = values["select"]
    if select is not None:
        if "index" not in table.data:
            table.problem("select", "only applies to an index page (set index = …)")
        elif reason := css_problem(select):
            table.problem("select", reason)
    for key in ("match", "text_match"):
        if not check_patterns(table, key, (values[key],) if values[key] else ()):
            values[key] = None
    values["source"] = _template(table, monitor, values["sitemap"] or values["index"])
    if values["id"] is None or (values["sitemap"] is None and values["index"] is None):
        return None
    return DiscoverSettings(**given(values))


def _template(table: Table, monitor: MonitorSettings, listing: str | None) -> SourceSettings | None:
    sub = table.subtable("source", "a [discover.source] table of source settings")
    if sub is None:
        return None
    for key in TEMPLATE_FORBIDDEN:
        if key in sub.data:
            sub.problem(key, "is set per discovered document; leave it out of [discover.source]")
    # Read as a [[source]] whose id and url discovery fills in for each document.
    filled = {k: v for k, v in sub.data.items() if k not in TEMPLATE_FORBIDDEN}
    filled.update(id="template", url=listing or "https://example.invalid/")
    probe = Table(table.sink, filled, sub.path, sub.label)
    probe.check_keys("source")
    return source_settings(probe, monitor)

"""Pure: the sources discovery registered, as settings the checks and the scheduler use.

A discovered source lives in the log, not in ``sources.toml``: its settings are
rebuilt from its entry's ``[discover.source]`` template and the URL and title
recorded when it was registered. So the configuration reconciles them like any
other source (a changed template is a ``SourceUpdated``), and removing the
``[[discover]]`` entry removes them (their history stays).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from monitor.config.settings import Settings, SourceSettings
from monitor.core.projections import SourceState


def discovered_sources(
    settings: Settings, states: Mapping[str, SourceState]
) -> tuple[SourceSettings, ...]:
    """Every live source a configured ``[[discover]]`` entry registered, by id."""
    entries = {entry.id: entry for entry in settings.discover}
    configured = {source.id for source in settings.sources}
    found = []
    for source_id in sorted(states):
        state = states[source_id]
        entry = entries.get(state.discovered_by or "")
        if entry is None or not state.registered or state.removed or source_id in configured:
            continue
        url = str(state.settings.get("url") or "")
        if not url:
            continue
        title = str(state.settings.get("title") or "")
        from monitor.discover.decide import discovered_source  # sitemaps, listings: if any

        found.append(discovered_source(entry, source_id=source_id, url=url, title=title))
    return tuple(found)


def with_discovered(settings: Settings, states: Mapping[str, SourceState]) -> Settings:
    """``settings`` whose sources also hold the discovered ones (configured ones first)."""
    extra = discovered_sources(settings, states)
    return replace(settings, sources=settings.sources + extra) if extra else settings

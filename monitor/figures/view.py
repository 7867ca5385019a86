"""Load a source's figures from the log and its blobs, as of a time (shell: reads the store).

Shared by ``monitor figures``, ``GET /api/sources/{id}/figures`` and the web
source page, so all three show the same rows.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass

from monitor.config.settings import FiguresSettings, MonitorSettings
from monitor.errors import FiguresError
from monitor.events import FIGURES_EVENTS, GOOD_CAPTURES, SETTINGS_EVENTS, names
from monitor.figures.history import CaptureMark, FiguresHistory, fold_history
from monitor.figures.model import FiguresTable
from monitor.figures.read import read_table
from monitor.store import EventStore

HISTORY_TYPES = names((*SETTINGS_EVENTS, *GOOD_CAPTURES, *FIGURES_EVENTS))
THREAD_READ_BYTES = 256 * 1024
TABLE_CACHE_SIZE = 8
# Tables by (raw body hash, settings): the same bytes read the same way give the same
# table, so a web view shown again (or another source's page) need not parse it again.
_TABLES: OrderedDict[tuple[str, FiguresSettings], FiguresTable] = OrderedDict()


class NoFigures(FiguresError):
    """The source has no figures to show (none configured, or no capture yet)."""


@dataclass(frozen=True, slots=True)
class FiguresView:
    history: FiguresHistory
    capture: CaptureMark  # the capture whose table is shown
    table: FiguresTable


async def load_figures(
    store: EventStore, source_id: str, *, until: str | None = None
) -> FiguresView:
    """The figures of ``source_id`` as the log knew them at ``until`` (default: now)."""
    events = await store.read(stream=source_id, types=HISTORY_TYPES)
    history = fold_history(source_id, events, until=until)
    settings = history.figures
    if settings is None:
        latest = fold_history(source_id, events).figures
        if latest is None:
            raise NoFigures(f"source {source_id!r} has no [source.figures] table in its settings")
        settings = latest
    capture = history.current
    if capture is None:
        raise NoFigures(f"source {source_id!r} has no good capture at or before {until or 'now'}")
    cached = _TABLES.get((capture.raw_sha256, settings))
    if cached is not None:
        _TABLES.move_to_end((capture.raw_sha256, settings))
        return FiguresView(history=history, capture=capture, table=cached)
    limit = int(history.settings.get("max_bytes") or MonitorSettings().max_bytes)
    body = await store.get_blob(capture.raw_sha256)
    if len(body) >= THREAD_READ_BYTES:
        table = await asyncio.to_thread(
            read_table, body, capture.content_type, settings, limit=limit
        )
    else:
        table = read_table(body, capture.content_type, settings, limit=limit)
    _TABLES[(capture.raw_sha256, settings)] = table
    while len(_TABLES) > TABLE_CACHE_SIZE:
        _TABLES.popitem(last=False)
    return FiguresView(history=history, capture=capture, table=table)

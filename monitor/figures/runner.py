"""The check pipeline's figures step: read the tables, compare, record. The shell of this package.

For a source with ``[source.figures]``, each capture that is about to become the
new reference (a changed text, or a new extraction) has its table read and
compared with the table of the last good capture, before ``classify.decide``:
the figure rules it satisfies go into the ``ChangeDetected`` like text rules
(severity, channels, headline). Once that event is in the log, the facts
(``FiguresPublished`` / ``Restated`` / ``Withdrawn``) are appended right after
it, naming its seq. A capture whose table cannot be read as configured records
no figures (logged); its text change is recorded as usual.

The table of the last good capture is kept per source, so a change costs one
table read, not two. The two appends are separate batches (the facts name the
seq the store gave the change); if the process stops between them, the first
check of the source in the next process finds the last capture without its
facts and records them (``catch_up``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from monitor.config.settings import FiguresSettings, SourceSettings
from monitor.core.classify import Captured, Outcome
from monitor.core.projections import CaptureRef, SourceState
from monitor.core.rules import RuleMatch
from monitor.errors import BlobMissingError, ConcurrencyError, FiguresError
from monitor.events import (
    CAPTURE_EVENTS,
    FIGURES_EVENTS,
    GOOD_CAPTURES,
    SETTINGS_EVENTS,
    Capture,
    StoredEvent,
    names,
)
from monitor.figures.decide import FiguresDelta, compare, figure_matches
from monitor.figures.model import FiguresTable
from monitor.figures.read import read_table

if TYPE_CHECKING:
    from monitor.check.pipeline import CheckRunner

log = logging.getLogger(__name__)

THREAD_READ_BYTES = 256 * 1024  # larger tables are read in a worker thread


@dataclass(frozen=True, slots=True)
class FiguresStep:
    """The figures of one capture, compared with the last good capture's."""

    raw_sha256: str
    settings: FiguresSettings
    table: FiguresTable
    delta: FiguresDelta
    matches: tuple[RuleMatch, ...]


async def _read(
    body: bytes, content_type: str | None, settings: FiguresSettings, limit: int
) -> FiguresTable:
    if len(body) >= THREAD_READ_BYTES:
        return await asyncio.to_thread(read_table, body, content_type, settings, limit=limit)
    return read_table(body, content_type, settings, limit=limit)


def source_name(source: SourceSettings) -> str:
    """How a figure sentence names the source: its company, else its title, else its id."""
    return source.company or source.title or source.id


@dataclass
class FiguresCache:
    """The last good capture's table of each figures source, by its raw body's hash."""

    tables: dict[str, tuple[str, FiguresSettings, FiguresTable]] = field(default_factory=dict)
    verified: set[str] = field(default_factory=set)  # sources whose last facts were checked

    async def catch_up(self, runner: CheckRunner, source: SourceSettings) -> list[StoredEvent]:
        """Record the facts of the source's last capture if a stop between the two appends
        lost them: possible only while that capture is the last event of its stream.
        Checked once per source and process."""
        settings = source.figures
        if settings is None or source.id in self.verified:
            return []
        self.verified.add(source.id)
        last_good = (await runner.state(source.id)).last_good
        if last_good is None:
            return []
        if await runner.store.read(stream=source.id, after=last_good.seq, limit=1):
            # Something followed the last capture: the check that recorded it finished
            # (or a later process's first check already looked), so nothing was lost.
            return []
        events = await runner.store.read(
            stream=source.id, types=names((*GOOD_CAPTURES, *FIGURES_EVENTS, *SETTINGS_EVENTS))
        )
        captures = [(e.seq, e.event) for e in events if isinstance(e.event, GOOD_CAPTURES)]
        if len(captures) < 2:
            return []
        (last_seq, last), (_, before) = captures[-1], captures[-2]
        recorded = {e.event.change_seq for e in events if isinstance(e.event, FIGURES_EVENTS)}
        in_force = [
            e.event.settings
            for e in events
            if isinstance(e.event, SETTINGS_EVENTS) and e.seq < last_seq
        ]
        had_figures = bool(in_force) and "figures" in in_force[-1]
        if last_seq in recorded or not had_figures:
            return []
        limit = source.max_bytes or runner.settings.monitor.max_bytes
        try:
            old, new = [
                await self._read_capture(runner, e.capture, settings, limit) for e in (before, last)
            ]
        except (FiguresError, BlobMissingError) as exc:
            log.warning("figures of %s cannot be caught up: %s", source.id, exc)
            return []
        self.tables[source.id] = (last.capture.raw_sha256, settings, new)
        facts = compare(old, new).events(last_seq)
        if not facts:
            return []
        log.info(
            "figures of %s: recording %d facts of capture #%d", source.id, len(facts), last_seq
        )
        try:
            return await runner.append_events(source.id, facts)
        except ConcurrencyError:
            self.verified.discard(source.id)  # another writer: look again next time
            return []

    @staticmethod
    async def _read_capture(
        runner: CheckRunner, capture: Capture, settings: FiguresSettings, limit: int
    ) -> FiguresTable:
        body = await runner.store.get_blob(capture.raw_sha256)
        return await _read(body, capture.headers.get("content-type"), settings, limit)

    async def compare(
        self, runner: CheckRunner, source: SourceSettings, state: SourceState, outcome: Outcome
    ) -> FiguresStep | None:
        """The figures step of a capture that may become the new reference, else None."""
        settings = source.figures
        if settings is None or not isinstance(outcome, Captured) or not outcome.text:
            return None  # no figures, no capture, or the same bytes as the last capture
        capture = outcome.capture
        last = state.last_good
        if (
            last is not None
            and last.text_sha256 == capture["text_sha256"]
            and last.extraction_key == capture.get("extraction_key")
        ):
            return None  # the text is unchanged: so is the table it was read from
        limit = source.max_bytes or runner.settings.monitor.max_bytes
        content_type = (capture.get("headers") or {}).get("content-type")
        try:
            table = await _read(outcome.body, content_type, settings, limit)
        except FiguresError as exc:
            log.warning("figures of %s cannot be read: %s", source.id, exc)
            return None
        previous = await self._table_of(runner, source.id, last, settings, limit)
        delta = compare(previous, table)
        matches = figure_matches(
            runner.rules,
            delta,
            table,
            source_id=source.id,
            source_tags=source.tags,
            name=source_name(source),
        )
        return FiguresStep(str(capture["raw_sha256"]), settings, table, delta, matches)

    async def _table_of(
        self,
        runner: CheckRunner,
        source_id: str,
        last: CaptureRef | None,
        settings: FiguresSettings,
        limit: int,
    ) -> FiguresTable | None:
        if last is None:
            return None
        cached = self.tables.get(source_id)
        if cached is not None and cached[:2] == (last.raw_sha256, settings):
            return cached[2]
        event = await runner.store.get_event(last.seq)
        captured = event.event if event is not None else None
        headers = captured.capture.headers if isinstance(captured, CAPTURE_EVENTS) else {}
        try:
            body = await runner.store.get_blob(last.raw_sha256)
            table = await _read(body, headers.get("content-type"), settings, limit)
        except (FiguresError, BlobMissingError) as exc:
            # Without the old table there is nothing to compare with: this capture is
            # the figures' new baseline (recorded, nothing published).
            log.warning("figures of %s: the last capture's table is unreadable: %s", source_id, exc)
            return None
        self.tables[source_id] = (last.raw_sha256, settings, table)
        return table

    async def record(
        self, runner: CheckRunner, source_id: str, stored: Sequence[StoredEvent], step: FiguresStep
    ) -> list[StoredEvent]:
        """Append the step's facts after the capture event they belong to (if it was stored)."""
        event = next(
            (
                e
                for e in stored
                if isinstance(e.event, GOOD_CAPTURES)
                and e.event.capture.raw_sha256 == step.raw_sha256
            ),
            None,
        )
        if event is None:
            return []  # pending confirmation, suspect: the capture is not the reference yet
        self.tables[source_id] = (step.raw_sha256, step.settings, step.table)
        facts = step.delta.events(event.seq)
        if not facts:
            return []
        try:
            return await runner.append_events(source_id, facts)
        except ConcurrencyError:
            log.error(
                "figures of %s for capture #%d not recorded: another writer appended first",
                source_id,
                event.seq,
            )
            return []

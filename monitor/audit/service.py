"""The daemon's audit tasks: time stamps of new checkpoints, Save Page Now captures of changes.

Each runs as its own asyncio task, woken by the daemon (a checkpoint was signed, a
change was recorded) or by its own retry timer, so an unreachable TSA or archive
never holds a check or an alert. On PostgreSQL a pass runs only in the worker that
holds the purpose's advisory lock (``exclusive(purpose)`` yields False elsewhere, at
once), so several workers neither ask twice nor queue pool connections on the lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime

from monitor.audit.stamper import Stamper
from monitor.audit.wayback import WaybackArchiver
from monitor.config.settings import AuditSettings
from monitor.errors import MonitorError
from monitor.events import StoredEvent
from monitor.store.base import EventStore

log = logging.getLogger(__name__)

IDLE = 3600.0  # a pass at least hourly, even without a wake-up


class AuditService:
    """Owns the stamper and the archiver loops; ``start`` / ``stop``."""

    def __init__(
        self,
        store: EventStore,
        settings: AuditSettings,
        *,
        clock: Callable[[], datetime],
        exclusive: Callable[[str], AbstractAsyncContextManager[bool]],
        stamper: Stamper | None = None,
        archiver: WaybackArchiver | None = None,
    ) -> None:
        self.clock = clock
        self._exclusive = exclusive
        if stamper is None and settings.timestamp_authorities:
            stamper = Stamper(store, settings.timestamp_authorities)
        if archiver is None and settings.wayback:
            archiver = WaybackArchiver(store, settings)
        self.stamper, self.archiver = stamper, archiver
        self._stamp_wake = asyncio.Event()
        self._archive_wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        if self.stamper is not None:
            stamper = self.stamper

            async def stamp() -> list[StoredEvent]:
                return await stamper.stamp_pending(self.clock())

            self._tasks.append(
                asyncio.create_task(
                    self._loop("timestamps", self._stamp_wake, stamp, stamper.seconds_until_due),
                    name="timestamps",
                )
            )
            self._stamp_wake.set()  # a checkpoint signed while we were down still needs stamps
        if self.archiver is not None:
            archiver = self.archiver

            async def archive() -> list[StoredEvent]:
                return await archiver.process()

            async def first() -> None:
                await archiver.start()

            self._tasks.append(
                asyncio.create_task(
                    self._loop(
                        "wayback", self._archive_wake, archive, archiver.seconds_until_due, first
                    ),
                    name="wayback",
                )
            )

    def checkpoint_signed(self, *_: object) -> None:
        self._stamp_wake.set()

    def change_recorded(self) -> None:
        self._archive_wake.set()

    async def stop(self) -> None:
        self._stop.set()
        self._stamp_wake.set()
        self._archive_wake.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for part in (self.stamper, self.archiver):
            if part is not None:
                await part.__aexit__(None, None, None)

    async def _loop(
        self,
        purpose: str,
        wake: asyncio.Event,
        work: Callable[[], Awaitable[list[StoredEvent]]],
        due: Callable[[], float | None],
        first: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        if first is not None:
            try:
                async with self._exclusive(purpose) as mine:
                    if mine:
                        await first()
            except MonitorError as exc:
                log.error("%s: %s", purpose, exc)
        while not self._stop.is_set():
            wait = due()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(IDLE if wait is None else max(wait, 0.05)):
                    await wake.wait()
            wake.clear()
            if self._stop.is_set():
                return
            try:
                async with self._exclusive(purpose) as mine:
                    if mine:  # else another worker is at it right now
                        await work()
            except MonitorError as exc:
                log.error("%s: %s", purpose, exc)

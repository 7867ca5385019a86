"""``Leadership``: exactly one of several workers holds a role (the notifier), through the
store's leader seat (``monitor.store.base.WorkSharing``); the rules are in its docstring.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from monitor.errors import StoreError
from monitor.store.base import DEFAULT_POLL_INTERVAL, EventStore, require_work_sharing

log = logging.getLogger(__name__)


async def sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds``, or less if ``stop`` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(max(0.0, seconds)):
            await stop.wait()


class Leadership:
    """Exactly one holder across all workers of a log: the store's leader seat.

    ``run(body, stop)`` waits to become leader, runs ``body(term_over)``, steps down when
    it returns, and starts over until ``stop`` is set. ``body`` must return once ``stop``
    is set (after any last work, which it does still holding the seat) and at once when
    ``term_over`` is set: the seat — on PostgreSQL a session-level advisory lock on a
    connection of its own — was lost.

    No overlap: a leader whose seat stops answering notices within two heartbeat
    periods (one period asleep, one for the check to time out) and ends its term; a
    new leader waits that long before starting ``body``, unless its predecessor
    announced stepping down (``NOTIFY monitor_leader``) — then it starts at once.
    """

    def __init__(
        self,
        store: EventStore,
        purpose: str = "notifier",
        *,
        retry_interval: float = DEFAULT_POLL_INTERVAL,
        heartbeat: float = DEFAULT_POLL_INTERVAL,
    ) -> None:
        self.purpose = purpose
        self.retry_interval = retry_interval
        self.heartbeat = heartbeat
        self._retry_now = asyncio.Event()
        self._seat = require_work_sharing(store).leader_seat(purpose, self._retry_now.set)
        self.is_leader = False
        self.terms = 0  # how many times this worker became leader

    async def run(
        self, body: Callable[[asyncio.Event], Awaitable[None]], stop: asyncio.Event
    ) -> None:
        try:
            while not stop.is_set():
                handed_over = await self._acquire(stop)
                if handed_over is None:
                    return
                if not handed_over:
                    # A predecessor cut off from the database may not know it yet.
                    await sleep_unless(stop, 2 * self.heartbeat)
                    if stop.is_set():
                        break
                term_over = asyncio.Event()
                watch = asyncio.create_task(self._watch(term_over))
                try:
                    await body(term_over)
                finally:
                    watch.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await watch
                    await self._step_down()
        finally:
            self.is_leader = False
            await self._seat.close()

    async def _acquire(self, stop: asyncio.Event) -> bool | None:
        """Wait until this worker holds the seat, or ``stop`` is set (None).

        True when the seat came right after a predecessor announced stepping down.
        """
        handed_over = False
        while not stop.is_set():
            self._retry_now.clear()  # before trying: a NOTIFY during the try is not lost
            try:
                got = await self._seat.try_take()
            except StoreError as exc:
                log.warning("cannot reach the database to elect a %s: %s", self.purpose, exc)
                got = False
            if got:
                self.is_leader = True
                self.terms += 1
                log.info("this worker is now the %s (term %d)", self.purpose, self.terms)
                return handed_over
            waiters = {
                asyncio.ensure_future(stop.wait()),
                asyncio.ensure_future(self._retry_now.wait()),
            }
            try:
                await asyncio.wait(
                    waiters, timeout=self.retry_interval, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                for waiter in waiters:
                    waiter.cancel()
            handed_over = self._retry_now.is_set()
        return None

    async def _watch(self, term_over: asyncio.Event) -> None:
        """End the term when the seat stops answering (cancelled with the term)."""
        while True:
            await asyncio.sleep(self.heartbeat)
            try:
                await self._seat.check(self.heartbeat)
            except StoreError as exc:
                log.error("lost the %s seat (%s); stepping down", self.purpose, exc)
                self.is_leader = False
                term_over.set()
                return

    async def _step_down(self) -> None:
        if not self.is_leader:
            return
        self.is_leader = False
        await self._seat.step_down()
        log.info("stepped down as %s", self.purpose)

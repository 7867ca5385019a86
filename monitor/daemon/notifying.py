"""The daemon's notifier task: who sends the alerts, when, and with which configuration.

The notifier follows the log (``monitor.notify.notifier``), so an alert for a change
recorded just before a crash is sent after the restart; nothing here keeps alert state.

* it is woken by every append of this daemon (and, with several workers, of any
  worker), and reconfigured between rounds when a reload changed channels, rules,
  ``[monitor]`` or ``[web]``;
* if it ever dies it is logged and restarted after ``NOTIFIER_RESTART_SECONDS``;
* on PostgreSQL only the worker holding the notifier lock (``Leadership``) runs it;
  a worker that loses the lock stops sending at once;
* at a stop it makes one last pass within the grace period, so the alerts of the last
  checks go out now; a leader makes that pass while it still holds the lock, so no
  successor sends the same alerts meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from monitor.config.settings import Settings
from monitor.daemon.context import RunContext
from monitor.daemon.leadership import Leadership
from monitor.daemon.status import log
from monitor.daemon.workers import follow_log
from monitor.errors import MonitorError
from monitor.notify.notifier import Notifier

NOTIFIER_RESTART_SECONDS = 5.0


class Notifying:
    """Runs the notifier (or competes to, on PostgreSQL) until the daemon stops."""

    def __init__(self, ctx: RunContext, *, retry_base: float | None) -> None:
        self._ctx = ctx
        self._retry_base = retry_base
        self._notifier: Notifier | None = None
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._round = asyncio.Event()
        self._pending_settings: Settings | None = None
        self._task: asyncio.Task[None] | None = None
        self._leadership: Leadership | None = None  # PostgreSQL: who runs the notifier
        self._final_deadline: float | None = None

    def wake(self) -> None:
        """New events are in the log: look for owed alerts now."""
        self._wake.set()

    def reconfigure(self, settings: Settings) -> None:
        """Send with ``settings`` from the next round on (the current round ends now)."""
        self._pending_settings = settings
        self._round.set()

    def start(self, settings: Settings) -> None:
        store, clock = self._ctx.store, self._ctx.clock
        if self._retry_base is None:
            self._notifier = Notifier(store, settings, clock=clock)
        else:
            self._notifier = Notifier(store, settings, clock=clock, retry_base=self._retry_base)
        if self._ctx.shares_work:
            self._leadership = Leadership(store, "notifier")
            self._task = asyncio.create_task(
                self._leadership.run(self._term, self._stop), name="notifier"
            )
        else:
            self._task = asyncio.create_task(self._supervise(), name="notifier")

    async def _term(self, term_over: asyncio.Event) -> None:
        """One term as the notifier of several workers (PostgreSQL; see ``Leadership``).

        Starts from the log (another worker may have sent alerts since this one last
        led), wakes on any worker's appends, ends at once if the lock is lost, and on a
        stop makes the last pass while still holding the lock, so no successor sends
        the same alerts meanwhile.
        """
        notifier = self._notifier
        assert notifier is not None
        notifier.reconfigure(self._pending_settings or notifier.settings)
        self._pending_settings = None
        done_following = asyncio.Event()
        following = asyncio.create_task(follow_log(self._ctx.store, self._wake, done_following))
        supervising = asyncio.create_task(self._supervise())
        lost = asyncio.ensure_future(term_over.wait())
        try:
            await asyncio.wait({supervising, lost}, return_when=asyncio.FIRST_COMPLETED)
            if term_over.is_set():
                supervising.cancel()  # another worker may lead now: stop sending at once
            with contextlib.suppress(asyncio.CancelledError):
                await supervising
            if self._stop.is_set() and not term_over.is_set():
                await self._last_pass(notifier, self._final_deadline)
        finally:
            done_following.set()
            for task in (following, lost):
                task.cancel()
            await asyncio.gather(following, lost, return_exceptions=True)

    async def _supervise(self) -> None:
        """Run the notifier; reconfigure it between rounds; restart it if it ever dies."""
        notifier = self._notifier
        assert notifier is not None
        while not self._stop.is_set():
            self._round.clear()  # before reading: a reload after this starts a new round
            pending = self._pending_settings
            if pending is not None:
                self._pending_settings = None
                notifier.reconfigure(pending)
            round_stop = asyncio.Event()
            relay = asyncio.ensure_future(self._relay_stop(round_stop))
            try:
                await notifier.run(round_stop, self._wake)
            except Exception:
                log.exception("the notifier stopped unexpectedly; restarting it")
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(NOTIFIER_RESTART_SECONDS):
                        await self._stop.wait()
            finally:
                relay.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await relay

    async def _relay_stop(self, round_stop: asyncio.Event) -> None:
        """End the notifier's round on a daemon stop or a reconfiguration."""
        stop = asyncio.ensure_future(self._stop.wait())
        again = asyncio.ensure_future(self._round.wait())
        try:
            await asyncio.wait({stop, again}, return_when=asyncio.FIRST_COMPLETED)
            round_stop.set()
        finally:
            for waiter in (stop, again):
                waiter.cancel()

    async def final_pass(self, deadline: float) -> None:
        """Stop the notifier after one more pass, so alerts of the last checks go out now."""
        task, notifier = self._task, self._notifier
        if task is None or notifier is None:
            return
        self._final_deadline = deadline
        self._stop.set()
        self._wake.set()
        if await self._ctx.control.wait_until({task}, deadline):
            return  # still in a send at the deadline: cancelled on the way out
        if self._leadership is None:  # a leader made its last pass inside its term
            await self._last_pass(notifier, deadline)

    async def _last_pass(self, notifier: Notifier, deadline: float | None) -> None:
        if deadline is None:
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0 or self._ctx.control.hurry.is_set():
            return
        try:
            async with asyncio.timeout(remaining):
                await notifier.drain()
        except TimeoutError:
            log.warning(
                "grace period over during the last notifier pass; unsent alerts go out at the "
                "next start (one being sent right now may then be sent twice)"
            )
        except MonitorError as exc:
            log.error("last notifier pass failed: %s", exc)

    async def stop(self) -> None:
        task = self._task
        if task is None:
            return
        self._stop.set()
        if not task.done():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

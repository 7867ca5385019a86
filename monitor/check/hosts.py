"""Politeness per host: at most ``per_host`` requests in flight, and ``Retry-After`` obeyed.

A host that answered 429 or 503 with ``Retry-After`` is paused: every later request to
it waits the pause out (or, for a caller with ``max_wait``, fails at once with
``HostPausedError`` instead of holding a worker). The pause is shared through the
store's ``HostPauses`` when there is one: recorded when the answer arrives, and looked
up before a host's slot is taken, so other processes, later runs and other workers
honour it too.

Waits are measured on the monotonic clock; what is shared is wall time (``wall_clock``).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from monitor.clock import Clock, utc_now
from monitor.errors import HostPausedError, StoreError
from monitor.store.pauses import HostPause, HostPauses, host_key, later

log = logging.getLogger(__name__)

RETRY_AFTER_INLINE = 10.0  # a longer Retry-After fails this check instead of holding slots
MAX_HOST_PAUSE = 3600.0  # a Retry-After longer than an hour is read as an hour
# A host the store knows no pause of is asked again after this long, not before every
# check: a daemon checking one site hundreds of times a second paid two queries a check.
PAUSE_RECHECK = 1.0  # seconds

# Hosts whose slot the current task already holds (see HostGate.reserve).
_HELD_HOSTS: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar(
    "held_hosts", default=frozenset()
)


@dataclass
class HostGate:
    """The slots and pauses of every host one fetcher talks to."""

    per_host: int
    pauses: HostPauses | None = None  # shared Retry-After pauses (the store's), if any
    max_wait: float | None = None  # longest wait on a pause; None: wait out any pause
    wall_clock: Clock = utc_now
    _pause_info: dict[str, HostPause] = field(default_factory=dict)  # host -> why, until when
    _announced: set[tuple[str, datetime]] = field(default_factory=set)
    _slots: dict[str, asyncio.Semaphore] = field(default_factory=dict)
    _paused_until: dict[str, float] = field(default_factory=dict)  # host -> monotonic time
    _unpaused_until: dict[str, float] = field(default_factory=dict)  # see PAUSE_RECHECK

    def slot(self, url: str) -> asyncio.Semaphore:
        """The semaphore that keeps at most ``per_host`` requests in flight to one host."""
        host = host_key(url)
        slot = self._slots.get(host)
        if slot is None:
            slot = self._slots[host] = asyncio.Semaphore(self.per_host)
        return slot

    def pause_left(self, url: str) -> float:
        """Seconds until the host of ``url`` may be asked again (its last ``Retry-After``)."""
        until = self._paused_until.get(host_key(url))
        return 0.0 if until is None else max(0.0, until - time.monotonic())

    @contextlib.asynccontextmanager
    async def reserve(self, url: str) -> AsyncIterator[None]:
        """Hold one of the host's ``per_host`` slots, after any ``Retry-After`` pause ends.

        Re-entrant per task: a request inside the block does not take a second slot.
        """
        host = host_key(url)
        if host in _HELD_HOSTS.get():
            yield
            return
        await self.learn(host)
        await self._wait_for(host)
        slot = self.slot(url)
        queued = slot.locked()
        async with slot:
            if queued:  # another process may have been told to pause meanwhile
                await self.learn(host)
            await self._wait_for(host)  # a pause may have begun while we queued
            token = _HELD_HOSTS.set(_HELD_HOSTS.get() | {host})
            try:
                yield
            finally:
                _HELD_HOSTS.reset(token)

    async def _wait_for(self, host: str) -> None:
        until = self._paused_until.get(host)
        while until is not None:
            delay = until - time.monotonic()
            if delay <= 0:
                self._paused_until.pop(host, None)
                self._pause_info.pop(host, None)
                return
            info = self._pause_info.get(host)
            if self.max_wait is not None and delay > self.max_wait:
                if info is None:
                    end = self.wall_clock() + timedelta(seconds=delay)
                    raise HostPausedError(host, end, "it sent Retry-After")
                raise HostPausedError(host, info.until, info.reason)
            log.info(
                "waiting %.1fs before asking %s again (it asked for quiet: %s)",
                delay,
                host,
                info.reason if info is not None else "Retry-After",
            )
            await asyncio.sleep(delay)
            until = self._paused_until.get(host)

    def pause(self, host: str, seconds: float, reason: str = "Retry-After") -> None:
        """Ask nothing of ``host`` for ``seconds`` (at most ``MAX_HOST_PAUSE``)."""
        seconds = min(seconds, MAX_HOST_PAUSE)
        until = time.monotonic() + seconds
        self._paused_until[host] = max(until, self._paused_until.get(host, 0.0))
        now = self.wall_clock()
        pause = HostPause(
            host=host, until=now + timedelta(seconds=seconds), reason=reason, recorded_at=now
        )
        self._pause_info[host] = later(self._pause_info.get(host), pause)

    async def share(self, host: str) -> None:
        """Record the host's pause in the store, for other processes and later runs."""
        pause = self._pause_info.get(host)
        if self.pauses is None or pause is None:
            return
        try:
            await self.pauses.pause_host(
                host, pause.until, reason=pause.reason, now=pause.recorded_at
            )
        except StoreError as exc:
            # This process still honours the pause; only the others will not know of it.
            log.warning("could not record the pause of %s in the store: %s", host, exc)

    async def learn(self, host: str) -> None:
        """Adopt a pause another process (or an earlier run) recorded for ``host``."""
        if self.pauses is None or self._unpaused_until.get(host, 0.0) > time.monotonic():
            return
        now = self.wall_clock()
        try:
            pause = await self.pauses.host_pause(host, now=now)
        except StoreError as exc:
            log.warning("could not read the pause of %s from the store: %s", host, exc)
            return
        if pause is None:
            self._unpaused_until[host] = time.monotonic() + PAUSE_RECHECK
            return
        seconds = (pause.until - now).total_seconds()
        until = time.monotonic() + seconds
        if until > self._paused_until.get(host, 0.0):
            self._paused_until[host] = until
        self._pause_info[host] = later(self._pause_info.get(host), pause)
        if (host, pause.until) not in self._announced:
            self._announced.add((host, pause.until))
            log.warning(
                "%s asked for quiet until %s (%s); no request goes there before then",
                host,
                pause.until.strftime("%Y-%m-%dT%H:%M:%SZ"),
                pause.reason,
            )

    def paused(self) -> list[HostPause]:
        """The pauses still running, by host."""
        now = time.monotonic()
        return [
            info
            for host, info in sorted(self._pause_info.items())
            if self._paused_until.get(host, 0.0) > now
        ]

    def too_long(self, retry_after: float, waited: float) -> bool:
        """Whether a ``Retry-After`` is too long to wait out inside one fetch.

        Each pause may last ``RETRY_AFTER_INLINE``; a caller with ``max_wait`` also
        bounds their sum, so a few short pauses in a row cannot add up past it.
        """
        if self.max_wait is None:
            return retry_after > RETRY_AFTER_INLINE
        return retry_after > min(RETRY_AFTER_INLINE, self.max_wait - waited)

    def pause_end(self, host: str) -> str:
        """When the host's pause ends, for a message."""
        info = self._pause_info.get(host)
        return "then" if info is None else info.until.strftime("%Y-%m-%dT%H:%M:%SZ")

"""What the stamper and the Save Page Now archiver share as clients of a third party.

Both talk to a service the configuration names, record each outcome at the end of a
system stream of their own, and back off exponentially (``retry_base`` doubling up to
``retry_cap``) while the service keeps failing. The HTTP session is opened on first
use (a daemon that never stamps never opens one), ignores proxy variables
(``trust_env=False``: the configuration says where to go) and is closed on exit.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Self

import aiohttp

from monitor.errors import StoreError
from monitor.events import Event, StoredEvent
from monitor.store.base import EventStore, append_at_end


@dataclass
class Backoff:
    """Failed tries of one thing (a TSA, a change to archive) and when to try again."""

    attempts: int = 0
    due: float = 0.0  # monotonic time of the next try

    def wait(self, base: float, cap: float) -> float:
        """Schedule the next try after ``attempts`` failures; returns the delay in seconds."""
        delay = min(cap, base * 2.0 ** (self.attempts - 1))
        self.due = time.monotonic() + delay
        return delay


def seconds_until(moments: Iterable[float]) -> float | None:
    """Seconds until the earliest monotonic moment (0 when past); None when there is none."""
    earliest = min(moments, default=None)
    return None if earliest is None else max(0.0, earliest - time.monotonic())


class ThirdPartyClient:
    """A store, a lazily opened HTTP session and the back-off settings; an async context."""

    def __init__(self, store: EventStore, *, retry_base: float, retry_cap: float) -> None:
        self.store = store
        self.retry_base, self.retry_cap = retry_base, retry_cap
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(trust_env=False)
        return self._session

    async def record(
        self, stream: str, event: Event, *, what: str, attempts: int = 5
    ) -> StoredEvent:
        """Append ``event`` at the end of ``stream``; ``what`` names it if others keep winning."""
        stored = await append_at_end(self.store, stream, event, attempts=attempts)
        if stored is None:
            raise StoreError(f"could not record {what}: other writers kept appending first")
        return stored

"""Host pauses: a server's ``Retry-After``, remembered with the log (a store capability).

A host that answers 429 or 503 with ``Retry-After`` asks for quiet until a moment.
That request outlives the process that received it: the next ``monitor check``, a
restarted daemon and every other worker on the same database must honour it too.
So the pause is kept next to the log, like the notifier's cursor and the workers'
leases — coordination state, not a fact of the log (the ``FetchFailed`` events of
the checks involved are the evidence; see docs/reliability.md).

``HostPauses`` is the capability; ``MemoryHostPauses`` its in-memory twin (what
``memory://`` uses); the SQLite and PostgreSQL stores implement it on a
``host_pauses`` table. Ask a store for it with ``pauses_of(store)`` — never test the
store's class.

Invariants every implementation keeps (tests/store/test_pauses.py runs against each):

* one pause per host; recording a pause keeps the *later* end of the stored one and
  the new one (a short ``Retry-After`` never shortens a long one);
* ``now`` is passed in: a pause whose end is not after ``now`` is not returned (and
  may be deleted), so an ended pause needs no clean-up to stop mattering;
* times are UTC and kept to the microsecond.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit

from monitor.errors import StoreError
from monitor.events import parse_time

__all__ = [
    "HostPause",
    "HostPauses",
    "MemoryHostPauses",
    "host_key",
    "pause_of_url",
    "pauses_of",
    "running_pauses",
]

log = logging.getLogger(__name__)

_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, kw_only=True)
class HostPause:
    """A host asked for no requests before ``until``; ``reason`` says who asked and how."""

    host: str  # host:port, as ``host_key`` spells it
    until: datetime
    reason: str
    recorded_at: datetime


@runtime_checkable
class HostPauses(Protocol):
    """Remembered ``Retry-After`` pauses, shared by every process on the same store."""

    async def pause_host(
        self, host: str, until: datetime, *, reason: str, now: datetime
    ) -> HostPause:
        """Record that ``host`` wants quiet until ``until``; returns the pause now in force."""
        ...

    async def host_pause(self, host: str, *, now: datetime) -> HostPause | None:
        """The pause of ``host`` still running at ``now``, or None."""
        ...

    async def host_pauses(self, *, now: datetime) -> list[HostPause]:
        """Every pause still running at ``now``, sorted by host."""
        ...


def pauses_of(store: object) -> HostPauses | None:
    """The store's pause book, or None if this store keeps none (pauses then stay in memory)."""
    return store if isinstance(store, HostPauses) else None


@functools.lru_cache(maxsize=65536)
def host_key(url: str) -> str:
    """The politeness key of ``url``: ``host:port`` (another port is another server)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    try:
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:  # a port out of range: the fetch itself reports the URL
        port = None
    return f"{host}:{port}" if port else host


def later(current: HostPause | None, new: HostPause) -> HostPause:
    """The pause to keep when ``new`` is recorded over ``current``: the one ending later."""
    if current is not None and current.until >= new.until:
        return current
    return new


class MemoryHostPauses:
    """``HostPauses`` in a dict: the twin of the SQL tables, for ``memory://`` and tests."""

    def __init__(self) -> None:
        self._pauses: dict[str, HostPause] = {}

    async def pause_host(
        self, host: str, until: datetime, *, reason: str, now: datetime
    ) -> HostPause:
        kept = later(
            self._pauses.get(host),
            HostPause(host=host, until=until, reason=reason, recorded_at=now),
        )
        self._pauses[host] = kept
        for name in [h for h, p in self._pauses.items() if p.until <= now]:
            del self._pauses[name]
        return kept

    async def host_pause(self, host: str, *, now: datetime) -> HostPause | None:
        pause = self._pauses.get(host)
        return pause if pause is not None and pause.until > now else None

    async def host_pauses(self, *, now: datetime) -> list[HostPause]:
        return sorted((p for p in self._pauses.values() if p.until > now), key=lambda p: p.host)


def pause_from_row(host: str, until: object, reason: str, recorded_at: object) -> HostPause:
    """A pause from a table row; times as stored text (SQLite) or datetimes (PostgreSQL)."""
    return HostPause(
        host=host, until=_moment(until), reason=reason, recorded_at=_moment(recorded_at)
    )


def _moment(value: object) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return parse_time(str(value))


async def running_pauses(store: object, now: datetime) -> list[HostPause]:
    """Every pause still running at ``now`` in ``store`` ([] when it keeps none)."""
    pauses = pauses_of(store)
    if pauses is None:
        return []
    try:
        return await pauses.host_pauses(now=now)
    except StoreError as exc:
        # Shown beside the log (web view, `monitor log`), never worth failing those for.
        log.warning("could not read the host pauses: %s", exc)
        return []


def pause_of_url(pauses: list[HostPause], url: str) -> HostPause | None:
    """The pause among ``pauses`` that holds requests to ``url``, if any."""
    key = host_key(url) if url else ""
    return next((p for p in pauses if p.host == key), None)

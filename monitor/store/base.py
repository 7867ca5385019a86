"""The ``EventStore`` contract, and the capabilities only some backends have.

``EventStore`` is what every backend does (the rules are in ``monitor.store.rules``;
tests/store/test_contract.py runs them against each). Beyond it, a backend may offer
*capabilities* — like APScheduler 4, which keeps storage (DataStore) apart from
cross-process wake-ups (EventBroker). Callers ask for a capability with its
``…_of(store)`` accessor and never test the store's class (tests/store/test_no_backend_leaks.py
fails on ``isinstance`` against a concrete store outside ``monitor/store/``). Each
capability has an in-memory twin, so the code using it runs, and is tested, without
PostgreSQL:

==================  ===============================  ==================================
capability          who has it                        without it
==================  ===============================  ==================================
``Wakeups``         PostgreSQL (LISTEN/NOTIFY),      ``wakeups_of`` polls the head
                    memory (in-process)
``WorkSharing``     PostgreSQL (leases table,        one daemon per log (SQLite):
                    advisory locks), memory twin     ``work_sharing_of`` is None
``RawCopy``         every backend                    —
``FastScan``        SQLite (one thread, own          ``scan_of`` pages ``read`` ahead
                    connection), memory
``HostPauses``      every backend                    see ``monitor.store.pauses``
==================  ===============================  ==================================

The rules each implementation keeps are in its protocol's docstring; the contract
tests (tests/store/test_capabilities.py, tests/store/test_work_sharing.py) hold
every implementation to them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol, Unpack, runtime_checkable

from monitor.errors import ConcurrencyError, StoreError
from monitor.events import Event, NewEvent, StoredEvent, canonical_bytes
from monitor.store.blobs import EncodedBlob
from monitor.store.rules import (
    EVENT_COLUMNS,
    ITERATE_BATCH,
    ReadFilters,
    check_batch_size,
    decode_data,
)

DEFAULT_POLL_INTERVAL = 2.0  # seconds between head reads where no wake-up is pushed


class EventStore(Protocol):
    """An append-only, hash-chained event log plus content-addressed blobs and cursors."""

    async def append(
        self, events: Sequence[NewEvent], *, expected: Mapping[str, int] | None = None
    ) -> list[StoredEvent]:
        """Append ``events`` atomically; returns one stored record per input, in order."""
        ...

    async def read(
        self, *, limit: int | None = None, **filters: Unpack[ReadFilters]
    ) -> list[StoredEvent]:
        """Events with ``after < seq <= until`` matching the filters, ordered by seq."""
        ...

    def iterate(
        self, *, batch: int = ITERATE_BATCH, **filters: Unpack[ReadFilters]
    ) -> AsyncIterator[StoredEvent]:
        """Like ``read`` but streamed ``batch`` rows at a time (bounded memory)."""
        ...

    async def head(self) -> tuple[int, str]:
        """The last seq and its hash; ``(0, GENESIS_HASH)`` when the log is empty."""
        ...

    async def stream_version(self, stream: str) -> int:
        """The stream's current version (0 when it has no events)."""
        ...

    async def streams(self) -> list[str]:
        """Every stream that has events, sorted."""
        ...

    async def get_event(self, seq: int) -> StoredEvent | None: ...

    async def event_count(self, *, until: int | None = None) -> int:
        """How many events have seq <= ``until`` (all by default): ``until`` itself,
        unless rows went missing."""
        ...

    async def put_blob(self, data: bytes) -> str:
        """Store ``data`` (idempotent); returns the sha256 hex of the uncompressed bytes."""
        ...

    async def get_blob(self, sha256: str) -> bytes:
        """The blob's bytes; BlobMissingError if absent, StoreError if it fails its hash."""
        ...

    async def has_blob(self, sha256: str) -> bool: ...

    def iterate_blob_ids(self) -> AsyncIterator[str]:
        """Every stored blob name, in ascending order."""
        ...

    async def get_cursor(self, name: str) -> int:
        """A durable checkpoint (e.g. the notifier's); 0 if never set. Not part of the log."""
        ...

    async def set_cursor(self, name: str, seq: int) -> None: ...

    async def close(self) -> None: ...


async def append_at_end(
    store: EventStore, stream: str, event: Event, *, attempts: int = 5
) -> StoredEvent | None:
    """Append ``event`` after whatever ``stream`` holds now, retrying when another writer
    got there first; None when others kept winning ``attempts`` times in a row."""
    for _ in range(attempts):
        version = await store.stream_version(stream)
        try:
            (stored,) = await store.append(
                [NewEvent.at_version(stream, version + 1, event)], expected={stream: version}
            )
        except ConcurrencyError:
            continue
        return stored
    return None


# --------------------------------------------------------------------------- wake-ups


@runtime_checkable
class Wakeups(Protocol):
    """Learning that any writer — another task, process or machine — appended.

    ``wait_for_events`` returns once the head is past ``after``, or after ``timeout``
    seconds, whichever is first; at once when the head is already past. A missed
    signal may delay a waiter, never lose an event: the caller reads the log itself.
    """

    # ``timeout`` is a plain argument (ASYNC109): returning early on new events is the point.
    async def wait_for_events(self, after: int, timeout: float) -> None: ...  # noqa: ASYNC109


class PollingWakeups:
    """``Wakeups`` for a store that pushes none (SQLite): the head read every ``poll_interval``."""

    def __init__(self, store: EventStore, poll_interval: float = DEFAULT_POLL_INTERVAL) -> None:
        self._store = store
        self.poll_interval = poll_interval

    async def wait_for_events(self, after: int, timeout: float) -> None:  # noqa: ASYNC109
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, timeout)
        while True:
            seq, _ = await self._store.head()
            remaining = deadline - loop.time()
            if seq > after or remaining <= 0:
                return
            await asyncio.sleep(min(self.poll_interval, remaining))


def wakeups_of(store: EventStore, *, poll_interval: float = DEFAULT_POLL_INTERVAL) -> Wakeups:
    """The store's own wake-ups, or head polling every ``poll_interval`` seconds."""
    return store if isinstance(store, Wakeups) else PollingWakeups(store, poll_interval)


# --------------------------------------------------------------------------- work sharing


@dataclass(frozen=True)
class LeaseClaim:
    """A due source one worker now holds: since when, and whether another worker checked
    it last (then this worker's cached state of it may be behind the log)."""

    source_id: str
    started: datetime
    stale: bool


@dataclass(frozen=True)
class NextDue:
    """When a released source is due again: at ``at``, or ``after`` seconds from now."""

    at: datetime | None = None
    after: float | None = None


class LeaderSeat(Protocol):
    """One worker's seat in the election of ``purpose``'s leader (see ``WorkSharing``)."""

    async def try_take(self) -> bool:
        """Become the leader if no one is; True if this seat now leads.
        Raises StoreError when the election cannot be reached."""
        ...

    async def check(self, timeout: float) -> None:  # noqa: ASYNC109
        """Raise StoreError if the seat was lost (or does not answer within ``timeout``)."""
        ...

    async def step_down(self) -> None:
        """Stop leading and wake the other seats waiting to lead (their ``on_free``)."""
        ...

    async def close(self) -> None:
        """Leave the election; a seat still leading stops leading."""
        ...


@runtime_checkable
class SharesWork(Protocol):
    """A store on which several workers share the sources (see ``WorkSharing``)."""

    def work_sharing(self) -> WorkSharing: ...


class WorkSharing(Protocol):
    """What several ``monitor run`` workers on one log coordinate through.

    **Leases** — one row per source (``cadence`` key, ``due_at``, ``owner``,
    ``lease_until``); every time is the backend's clock, never a worker's:

    * ``claim_due`` gives a due, unleased (or expired) source to exactly one caller,
      leased for ``lease_period`` seconds; among due rows the caller's own come first;
    * ``renew_leases`` extends the caller's leases; it returns those still held;
    * ``release_lease`` frees a lease with its next due time (never in the past), set
      only if ``cadence`` is still the row's;
      ``postpone_lease`` frees it due at ``until`` (or ``remaining`` seconds from now,
      whichever is later); ``give_back`` frees it (or all the owner's) unchanged;
    * ``sync_leases`` makes the rows match ``wanted`` (source -> cadence key, first due
      time): new rows are inserted, a row whose cadence changed or that is unleased and
      overdue by more than ``overdue_after`` seconds takes the given time, rows not
      wanted are deleted. It returns the deleted ids and every row's due time.

    **Locks** — ``exclusive(purpose)`` runs a block in one worker at a time;
    ``exclusive_or_skip(purpose)`` yields False at once while another holds it.

    **Leadership** — ``leader_seat(purpose, on_free)``: at most one seat of a purpose
    leads at a time; ``on_free`` is called when a leader steps down elsewhere.
    """

    async def sync_leases(
        self, wanted: Mapping[str, tuple[str, datetime]], *, overdue_after: float
    ) -> tuple[list[str], dict[str, datetime]]: ...

    async def claim_due(self, owner: str, limit: int, lease_period: float) -> list[LeaseClaim]: ...

    async def seconds_to_next_due(self) -> float | None:
        """Seconds until a row is next claimable (negative: one is now; None: no rows)."""
        ...

    async def renew_leases(
        self, owner: str, source_ids: Sequence[str], lease_period: float
    ) -> set[str]: ...

    async def release_lease(
        self, source_id: str, owner: str, cadence: str, due: NextDue
    ) -> datetime | None: ...

    async def postpone_lease(
        self, source_id: str, owner: str, until: datetime, *, remaining: float
    ) -> datetime | None: ...

    async def give_back(self, owner: str, source_id: str | None = None) -> None: ...

    def exclusive(self, purpose: str) -> AbstractAsyncContextManager[None]: ...

    def exclusive_or_skip(self, purpose: str) -> AbstractAsyncContextManager[bool]: ...

    def leader_seat(self, purpose: str, on_free: Callable[[], None]) -> LeaderSeat: ...


def work_sharing_of(store: object) -> WorkSharing | None:
    """The store's work sharing, or None when one daemon owns the log (SQLite)."""
    return store.work_sharing() if isinstance(store, SharesWork) else None


def require_work_sharing(store: object) -> WorkSharing:
    """``work_sharing_of``, for workers that cannot run without it."""
    sharing = work_sharing_of(store)
    if sharing is None:
        raise StoreError("this store cannot be shared by several workers (use PostgreSQL)")
    return sharing


# --------------------------------------------------------------------------- raw rows


EVENT_FIELDS = tuple(EVENT_COLUMNS.split(", "))


@dataclass(frozen=True)
class RawEvent:
    """One ``events`` row exactly as stored: ``event``'s envelope (its ``data`` left
    empty) and ``data``, the stored bytes — not decoded, so a copy keeps them as they are."""

    event: StoredEvent
    data: bytes

    @classmethod
    def of(cls, ev: StoredEvent) -> RawEvent:
        """The row of a sealed event: its data as the exact bytes that were hashed."""
        return cls(replace(ev, data={}), canonical_bytes(ev.data))

    @classmethod
    def from_row(cls, row: Iterable[Any]) -> RawEvent:
        """A row read with the columns in ``EVENT_COLUMNS`` order."""
        values = dict(zip(EVENT_FIELDS, row, strict=True))
        data = values.pop("data")
        return cls(StoredEvent(**values, data={}), bytes(data))

    @property
    def seq(self) -> int:
        return self.event.seq

    def values(self) -> tuple[Any, ...]:
        """The row in ``EVENT_COLUMNS`` order."""
        return tuple(
            self.data if name == "data" else getattr(self.event, name) for name in EVENT_FIELDS
        )

    def load(self) -> StoredEvent:
        """The stored event, its data decoded as every read decodes it."""
        return replace(self.event, data=decode_data(self.event.seq, self.data))


class RawRows(Protocol):
    """Row-level access to a log's tables, to copy it without decoding or re-encoding.

    ``write_events`` appends a batch in one transaction, and only if its first seq
    follows the head (else StoreError, nothing written): rows are not re-sealed, so a
    copy keeps every byte and hash, broken ones included.
    """

    async def last(self) -> tuple[int, str]: ...

    def events(self, after: int, until: int, batch: int) -> AsyncIterator[list[RawEvent]]: ...

    async def event_hash(self, seq: int) -> str | None: ...

    async def write_events(self, batch: Sequence[RawEvent]) -> None: ...

    def blob_names(self, batch: int) -> AsyncIterator[list[str]]: ...

    async def missing_blobs(self, names: Sequence[str]) -> list[str]: ...

    async def read_blobs(self, names: Sequence[str]) -> list[EncodedBlob]: ...

    async def write_blobs(self, blobs: Sequence[EncodedBlob]) -> None: ...

    async def cursors(self) -> dict[str, int]: ...


@runtime_checkable
class RawCopy(Protocol):
    def raw_rows(self) -> RawRows: ...


def raw_rows_of(store: object) -> RawRows | None:
    """Row-level access to the store's log, or None if it offers none."""
    return store.raw_rows() if isinstance(store, RawCopy) else None


# --------------------------------------------------------------------------- scans

# Takes one page of events, consumed during the call: an iterator where the backend can
# decode each event as it is folded (no page of events held at once).
Visit = Callable[[Iterable[StoredEvent]], None]


@runtime_checkable
class FastScan(Protocol):
    """The whole log, page by page, as fast as the backend can hand it over (replay).

    ``scan`` calls ``visit(page)`` for consecutive pages of the events with
    ``seq <= until`` and ``recorded_at <= recorded_by`` (a prefix: times never decrease
    along the log), in seq order, each page non-empty and at most ``batch`` events.
    ``visit`` must consume its page before it returns, and may run in another thread:
    it must touch nothing the event loop uses meanwhile.
    """

    async def scan(
        self, visit: Visit, *, until: int | None, recorded_by: str | None, batch: int
    ) -> None: ...


class PagedScan:
    """``FastScan`` from ``read``: the next page is read while ``visit`` folds this one."""

    def __init__(self, store: EventStore) -> None:
        self._store = store

    async def scan(
        self, visit: Visit, *, until: int | None, recorded_by: str | None, batch: int
    ) -> None:
        check_batch_size(batch)
        store = self._store
        ahead: asyncio.Future[list[StoredEvent]] | None = asyncio.ensure_future(
            store.read(until=until, limit=batch)
        )
        try:
            while ahead is not None:
                page = await ahead
                ahead = None
                if len(page) == batch and (
                    recorded_by is None or page[-1].recorded_at <= recorded_by
                ):
                    ahead = asyncio.ensure_future(
                        store.read(after=page[-1].seq, until=until, limit=batch)
                    )
                if recorded_by is not None and page and page[-1].recorded_at > recorded_by:
                    page = list(itertools.takewhile(lambda e: e.recorded_at <= recorded_by, page))
                if page:
                    visit(page)
        finally:
            if ahead is not None:
                ahead.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ahead


def scan_of(store: EventStore) -> FastScan:
    """The store's own fast scan, or pages of ``read`` read ahead."""
    return store if isinstance(store, FastScan) else PagedScan(store)

"""The ``EventStore`` contract and the pure append rules every backend shares.

Invariants every backend keeps (tests/store/test_contract.py runs against each):

* ``seq`` is global, gap-free and in commit order: 1, 2, 3 …
* ``version`` counts 1, 2, 3 … within a stream; a batch's events for one stream get
  the stream's current version + their position in the batch.
* A batch is appended atomically, or not at all.
* ``expected`` (stream -> version the writer believes current, 0 = empty stream) is
  optimistic concurrency: a mismatch raises ``ConcurrencyError`` and appends nothing.
* Idempotency: an ``event_id`` already in the log with the same content is skipped
  (the stored record is returned in its place); with other content it raises
  ``DuplicateEventError``. A batch that is entirely stored already is a no-op — a
  retried batch must be harmless — and ``expected`` is checked only for streams that
  still receive new events (or that the batch names only in ``expected``).
* ``recorded_at`` comes from the injected clock and never decreases: if the clock
  steps backwards, the previous event's time is reused.
* ``hash = chain_hash(prev_hash, body)`` with ``prev_hash`` the previous event's hash.

``plan_append`` decides all of that from values the backend reads inside its write
transaction, so the backends only differ in how they read and write rows.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from monitor.errors import ConcurrencyError, DuplicateEventError
from monitor.events import Event, NewEvent, StoredEvent, canonical_bytes, format_time, seal


class EventStore(Protocol):
    """An append-only, hash-chained event log plus content-addressed blobs and cursors."""

    async def append(
        self, events: Sequence[NewEvent], *, expected: Mapping[str, int] | None = None
    ) -> list[StoredEvent]:
        """Append ``events`` atomically; returns one stored record per input, in order."""
        ...

    async def read(
        self,
        *,
        after: int = 0,
        until: int | None = None,
        stream: str | None = None,
        types: Collection[str] | None = None,
        limit: int | None = None,
    ) -> list[StoredEvent]:
        """Events with ``after < seq <= until`` matching the filters, ordered by seq."""
        ...

    def iterate(
        self,
        *,
        after: int = 0,
        until: int | None = None,
        stream: str | None = None,
        types: Collection[str] | None = None,
        batch: int = 1000,
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


# --------------------------------------------------------------------------- pure rules


def normalize(events: Sequence[NewEvent]) -> list[NewEvent]:
    """Copies whose data is plain JSON (lists, not tuples), exactly as a store reads it back.

    Comparing and returning the normalized form makes idempotency and results identical
    across backends, and detaches stored data from dicts the caller may mutate later.
    """
    return [replace(ev, data=json.loads(canonical_bytes(ev.data))) for ev in events]


@dataclass(frozen=True)
class AppendPlan:
    """What an append does: ``result`` answers the caller, ``new`` is what gets written."""

    result: list[StoredEvent]
    new: list[StoredEvent]


def plan_append(
    events: Sequence[NewEvent],
    *,
    expected: Mapping[str, int] | None,
    stored: Mapping[str, StoredEvent],
    versions: Mapping[str, int],
    head: tuple[int, str],
    last_recorded_at: str | None,
    now: datetime,
) -> AppendPlan:
    """Decide an append from the state read inside the write transaction.

    ``events`` must be normalized; ``stored`` maps the batch's already-stored event_ids to
    their records; ``versions`` holds the current version of every stream named by the
    batch or by ``expected``. Raises DuplicateEventError or ConcurrencyError.
    """
    # Pass 1: idempotency. ``slots`` holds a stored record or the index of a pending event.
    pending: list[NewEvent] = []
    first_in_batch: dict[str, int] = {}
    slots: list[StoredEvent | int] = []
    for ev in events:
        known = stored.get(ev.event_id)
        if known is not None:
            if not known.same_content(ev):
                raise DuplicateEventError(ev.event_id)
            slots.append(known)
            continue
        index = first_in_batch.get(ev.event_id)
        if index is not None:
            # The same event twice in one batch: keep the first, refuse a conflicting second.
            if pending[index] != ev:
                raise DuplicateEventError(ev.event_id)
            slots.append(index)
            continue
        first_in_batch[ev.event_id] = len(pending)
        slots.append(len(pending))
        pending.append(ev)
    if not pending:
        return AppendPlan(result=[s for s in slots if isinstance(s, StoredEvent)], new=[])

    # Pass 2: optimistic concurrency, only where something will actually be written.
    receiving = {ev.stream for ev in pending}
    in_batch = {ev.stream for ev in events}
    for stream, want in (expected or {}).items():
        if want < 0:
            raise ValueError(f"expected version for stream {stream!r} is negative ({want})")
        if stream in in_batch and stream not in receiving:
            continue  # its events here are all stored already: a retry, not a conflict
        actual = versions.get(stream, 0)
        if actual != want:
            raise ConcurrencyError(stream, want, actual)

    # Pass 3: seal in order. Fixed-width timestamps compare correctly as strings.
    recorded_at = format_time(now)
    if last_recorded_at is not None and last_recorded_at > recorded_at:
        recorded_at = last_recorded_at
    seq, prev_hash = head
    next_version = dict(versions)
    new: list[StoredEvent] = []
    for ev in pending:
        seq += 1
        version = next_version.get(ev.stream, 0) + 1
        next_version[ev.stream] = version
        sealed = seal(ev, seq=seq, version=version, recorded_at=recorded_at, prev_hash=prev_hash)
        new.append(sealed)
        prev_hash = sealed.hash
    result = [s if isinstance(s, StoredEvent) else new[s] for s in slots]
    return AppendPlan(result=result, new=new)


def streams_named(events: Sequence[NewEvent], expected: Mapping[str, int] | None) -> set[str]:
    """Every stream whose current version ``plan_append`` needs."""
    return {ev.stream for ev in events} | set(expected or ())


def check_batch_size(batch: int) -> None:
    if batch < 1:
        raise ValueError(f"batch must be at least 1, not {batch}")


def type_filter(types: Collection[str] | None) -> tuple[str, ...] | None:
    """The ``types`` argument as a tuple; a bare string means that one type, not its letters."""
    if types is None:
        return None
    if isinstance(types, str):
        return (types,)
    return tuple(types)


def check_seq(name: str, seq: int) -> None:
    if seq < 0:
        raise ValueError(f"{name} must not be negative, not {seq}")


class PagedIteration:
    """``iterate`` for every backend: keyset pages of its own ``read``, so memory stays
    bounded however long the log. Backends inherit it and implement ``read``."""

    async def read(
        self,
        *,
        after: int = 0,
        until: int | None = None,
        stream: str | None = None,
        types: Collection[str] | None = None,
        limit: int | None = None,
    ) -> list[StoredEvent]:
        raise NotImplementedError

    async def iterate(
        self,
        *,
        after: int = 0,
        until: int | None = None,
        stream: str | None = None,
        types: Collection[str] | None = None,
        batch: int = 1000,
    ) -> AsyncIterator[StoredEvent]:
        check_batch_size(batch)
        cursor = after
        while True:
            page = await self.read(
                after=cursor, until=until, stream=stream, types=types, limit=batch
            )
            for ev in page:
                yield ev
            if len(page) < batch:
                return
            cursor = page[-1].seq


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

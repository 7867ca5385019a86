"""The pure append rules every backend shares: ``plan_append`` and the read arguments.

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
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

import orjson

from monitor.errors import (
    ConcurrencyError,
    DuplicateEventError,
    StoreError,
    StoreUnavailableError,
)
from monitor.events import NewEvent, StoredEvent, canonical_bytes, format_time, seal
from monitor.store.blobs import blob_id, encode_blob_async

if TYPE_CHECKING:
    from monitor.store.base import RawRows

EVENT_COLUMNS = "seq, event_id, stream, version, type, schema, recorded_at, data, prev_hash, hash"


def row_to_event(row: Sequence[Any]) -> StoredEvent:
    """The event of an ``events`` row read with the columns in ``EVENT_COLUMNS`` order."""
    seq = row[0]
    return StoredEvent(
        seq=seq,
        event_id=row[1],
        stream=row[2],
        version=row[3],
        type=row[4],
        schema=row[5],
        recorded_at=row[6],
        data=decode_data(seq, row[7]),
        prev_hash=row[8],
        hash=row[9],
    )


def decode_data(seq: int, data: bytes | str) -> dict[str, Any]:
    """The stored data of event ``seq``; StoreError naming it if it is not a JSON object."""
    try:
        # orjson: 3-4x faster than json here, and reading is what bounds replay speed.
        decoded = orjson.loads(data)
    except (TypeError, ValueError) as exc:  # orjson.JSONDecodeError, invalid UTF-8 included
        raise StoreError(
            f"seq {seq}: stored data is not valid JSON (edited outside the monitor?)"
        ) from exc
    if not isinstance(decoded, dict):
        raise StoreError(
            f"seq {seq}: stored data is not a JSON object (edited outside the monitor?)"
        )
    return decoded


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


# Events ``iterate`` reads (and decodes) per query: the whole page is held decoded at
# once. A page of 1,000 events held ~25 MB of decoded changes, and what a fold keeps
# (each stream's state) was allocated among that garbage, which pinned it: a daemon's
# idle RSS after folding 10,000 sources with 3,000 changes fell from 114 to 98 MB at
# 100, and the fold took less CPU, not more (0.83 → 0.73 s; fewer objects alive).
ITERATE_BATCH = 100


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


class ReadFilters(TypedDict, total=False):
    """Which events ``read`` and ``iterate`` return: ``after < seq <= until``, one stream,
    some types (declared once here, for the protocol and every backend)."""

    after: int
    until: int | None
    stream: str | None
    types: Collection[str] | None


@dataclass(frozen=True)
class EventQuery:
    """``read``'s arguments checked and normalised, as each backend's ``select`` gets them."""

    after: int
    until: int | None
    stream: str | None
    types: tuple[str, ...] | None
    limit: int | None


class BackendBase:
    """What every backend shares: the argument checks of ``append``, ``read`` and
    ``iterate``, ``put_blob`` (which writes through the backend's ``raw_rows``)
    and ``set_cursor``. A backend implements ``label``, ``insert``, ``select``,
    ``has_blob``, ``write_cursor`` and ``raw_rows``, and sets ``_closed`` when it closes.

    ``iterate`` reads keyset pages of ``read``, so memory stays bounded however long
    the log.
    """

    _closed = False

    @property
    def label(self) -> str:
        """The log's name in messages (a path, or a URL without its password)."""
        raise NotImplementedError

    def _require_open(self) -> None:
        if self._closed:
            raise StoreUnavailableError(f"the event store {self.label} is closed")

    async def insert(
        self, batch: list[NewEvent], expected: Mapping[str, int] | None
    ) -> list[StoredEvent]:
        """``append`` of a normalized, non-empty batch (decided by ``plan_append``)."""
        raise NotImplementedError

    async def select(self, query: EventQuery) -> list[StoredEvent]:
        """The events ``query`` names, ordered by seq (never called for an empty query)."""
        raise NotImplementedError

    def raw_rows(self) -> RawRows:
        """The backend's rows as stored (the ``RawCopy`` capability every backend has)."""
        raise NotImplementedError

    async def has_blob(self, sha256: str) -> bool:
        raise NotImplementedError

    async def append(
        self, events: Sequence[NewEvent], *, expected: Mapping[str, int] | None = None
    ) -> list[StoredEvent]:
        self._require_open()
        batch = normalize(events)
        if not batch:
            return []
        return await self.insert(batch, expected)

    async def write_cursor(self, name: str, seq: int) -> None:
        """``set_cursor`` of a checked ``seq``."""
        raise NotImplementedError

    async def set_cursor(self, name: str, seq: int) -> None:
        self._require_open()
        check_seq("cursor seq", seq)
        await self.write_cursor(name, seq)

    async def put_blob(self, data: bytes) -> str:
        sha256 = blob_id(data)
        if await self.has_blob(sha256):
            return sha256  # content-addressed: same name, same bytes; skip compressing
        await self.raw_rows().write_blobs([await encode_blob_async(data)])
        return sha256

    async def read(
        self, *, limit: int | None = None, **filters: Unpack[ReadFilters]
    ) -> list[StoredEvent]:
        after = filters.get("after", 0)
        check_seq("after", after)
        chosen = type_filter(filters.get("types"))
        if chosen == () or (limit is not None and limit <= 0):
            return []
        until, stream = filters.get("until"), filters.get("stream")
        return await self.select(EventQuery(after, until, stream, chosen, limit))

    async def iterate(
        self, *, batch: int = ITERATE_BATCH, **filters: Unpack[ReadFilters]
    ) -> AsyncIterator[StoredEvent]:
        check_batch_size(batch)
        cursor = filters.get("after", 0)
        until, stream, types = filters.get("until"), filters.get("stream"), filters.get("types")
        while True:
            page = await self.read(
                after=cursor, until=until, stream=stream, types=types, limit=batch
            )
            for ev in page:
                yield ev
            if len(page) < batch:
                return
            cursor = page[-1].seq


def check_continues(head: int, first: int) -> None:
    """Refuse to copy rows starting at seq ``first`` unless they follow ``head``."""
    if first <= head:
        raise StoreError(
            f"the target moved on meanwhile (its head is seq {head}, the next copied event is "
            f"seq {first}); is a worker writing to it? stop it and run migrate again"
        )

"""``MemoryEventStore``: the in-process twin of the SQLite store, for tests and ``memory://``.

Same contract as every backend (see ``monitor.store.base``), and the memory twin of
every capability: ``Wakeups`` (an ``asyncio.Event`` set by each append), ``FastScan``
and ``RawCopy`` over its rows, ``HostPauses`` and ``WorkSharing`` (``memory_sharing``).

Event data is kept as canonical JSON text and decoded on every read, exactly like the
SQLite store, so a caller mutating a returned dict can never change the log, and both
backends hand back identical values. Blobs are zstd-compressed like everywhere else, so size and
corruption behaviour match too. Nothing survives ``close``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime

from monitor.clock import Clock, utc_now
from monitor.errors import BlobMissingError
from monitor.events import GENESIS_HASH, NewEvent, StoredEvent
from monitor.store.base import RawEvent, Visit
from monitor.store.blobs import EncodedBlob, decode_blob_async
from monitor.store.memory_sharing import MemoryWorkSharing
from monitor.store.pauses import HostPause, MemoryHostPauses
from monitor.store.rules import (
    BackendBase,
    EventQuery,
    check_batch_size,
    check_continues,
    plan_append,
    streams_named,
)


class MemoryEventStore(BackendBase):
    """An event store held in process memory."""

    def __init__(self, *, clock: Clock | None = None) -> None:
        self._clock = clock or utc_now
        self._rows: list[RawEvent] = []  # index i holds seq i + 1
        self._by_id: dict[str, int] = {}
        self._versions: dict[str, int] = {}
        self._blobs: dict[str, EncodedBlob] = {}
        self._cursors: dict[str, int] = {}
        self._pauses = MemoryHostPauses()
        self._sharing = MemoryWorkSharing(self._clock)
        self._appended = asyncio.Event()  # replaced on every append: set wakes its waiters
        self._closed = False

    @property
    def label(self) -> str:
        return "memory://"

    async def insert(
        self, batch: list[NewEvent], expected: Mapping[str, int] | None
    ) -> list[StoredEvent]:
        # No await from here on: the plan and the commit happen in one step of the loop,
        # which is what makes concurrent tasks see a gap-free, atomic log.
        stored = {
            ev.event_id: self._rows[self._by_id[ev.event_id]].load()
            for ev in batch
            if ev.event_id in self._by_id
        }
        last = self._rows[-1].event if self._rows else None
        plan = plan_append(
            batch,
            expected=expected,
            stored=stored,
            versions={s: self._versions.get(s, 0) for s in streams_named(batch, expected)},
            head=(last.seq, last.hash) if last else (0, GENESIS_HASH),
            last_recorded_at=last.recorded_at if last else None,
            now=self._clock(),
        )
        for ev in plan.new:
            self._by_id[ev.event_id] = len(self._rows)
            self._rows.append(RawEvent.of(ev))
            self._versions[ev.stream] = ev.version
        if plan.new:
            self._wake()
        return plan.result

    def _wake(self) -> None:
        appended, self._appended = self._appended, asyncio.Event()
        appended.set()

    async def select(self, query: EventQuery) -> list[StoredEvent]:
        self._require_open()
        after, until, stream, limit = query.after, query.until, query.stream, query.limit
        wanted = set(query.types) if query.types is not None else None
        end = len(self._rows) if until is None else max(0, min(until, len(self._rows)))
        out: list[StoredEvent] = []
        for index in range(after, end):  # no slice copy: iterate pages through big logs
            if limit is not None and len(out) >= limit:
                break
            row = self._rows[index]
            ev = row.event
            if stream is not None and ev.stream != stream:
                continue
            if wanted is not None and ev.type not in wanted:
                continue
            out.append(row.load())
        return out

    async def head(self) -> tuple[int, str]:
        self._require_open()
        if not self._rows:
            return 0, GENESIS_HASH
        last = self._rows[-1].event
        return last.seq, last.hash

    async def stream_version(self, stream: str) -> int:
        self._require_open()
        return self._versions.get(stream, 0)

    async def streams(self) -> list[str]:
        self._require_open()
        return sorted(self._versions)

    async def get_event(self, seq: int) -> StoredEvent | None:
        self._require_open()
        if 1 <= seq <= len(self._rows):
            return self._rows[seq - 1].load()
        return None

    async def event_count(self, *, until: int | None = None) -> int:
        self._require_open()
        return len(self._rows) if until is None else min(len(self._rows), max(until, 0))

    async def get_blob(self, sha256: str) -> bytes:
        self._require_open()
        blob = self._blobs.get(sha256)
        if blob is None:
            raise BlobMissingError(sha256)
        return await decode_blob_async(sha256, blob.codec, blob.size, blob.content)

    async def has_blob(self, sha256: str) -> bool:
        self._require_open()
        return sha256 in self._blobs

    async def iterate_blob_ids(self) -> AsyncIterator[str]:
        self._require_open()
        for sha256 in sorted(self._blobs):
            yield sha256

    async def get_cursor(self, name: str) -> int:
        self._require_open()
        return self._cursors.get(name, 0)

    async def write_cursor(self, name: str, seq: int) -> None:
        self._cursors[name] = seq

    # ------------------------------------------------------------------ host pauses

    async def pause_host(
        self, host: str, until: datetime, *, reason: str, now: datetime
    ) -> HostPause:
        self._require_open()
        return await self._pauses.pause_host(host, until, reason=reason, now=now)

    async def host_pause(self, host: str, *, now: datetime) -> HostPause | None:
        self._require_open()
        return await self._pauses.host_pause(host, now=now)

    async def host_pauses(self, *, now: datetime) -> list[HostPause]:
        self._require_open()
        return await self._pauses.host_pauses(now=now)

    # ------------------------------------------------------------------ capabilities

    async def wait_for_events(self, after: int, timeout: float) -> None:  # noqa: ASYNC109
        """``Wakeups``: every append sets the event its waiters hold."""
        self._require_open()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, timeout)
        while not self._closed and len(self._rows) <= after:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._appended.wait(), remaining)

    async def scan(
        self, visit: Visit, *, until: int | None, recorded_by: str | None, batch: int
    ) -> None:
        """``FastScan``: slices of the rows, no query to page through."""
        self._require_open()
        check_batch_size(batch)
        end = len(self._rows) if until is None else max(0, min(until, len(self._rows)))
        for start in range(0, end, batch):
            page = [row.load() for row in self._rows[start : min(start + batch, end)]]
            if recorded_by is not None and page[-1].recorded_at > recorded_by:
                prefix = [ev for ev in page if ev.recorded_at <= recorded_by]
                if prefix:
                    visit(prefix)
                return
            visit(page)

    def work_sharing(self) -> MemoryWorkSharing:
        return self._sharing

    def raw_rows(self) -> MemoryRawRows:
        return MemoryRawRows(self)

    async def close(self) -> None:
        self._closed = True
        self._wake()


class MemoryRawRows:
    """``RawRows`` over a memory store's rows: ``data`` is the canonical JSON's bytes."""

    def __init__(self, store: MemoryEventStore) -> None:
        self._store = store

    async def last(self) -> tuple[int, str]:
        return await self._store.head()

    async def events(self, after: int, until: int, batch: int) -> AsyncIterator[list[RawEvent]]:
        rows = self._store._rows
        for start in range(after, min(until, len(rows)), batch):
            yield rows[start : min(start + batch, until)]

    async def event_hash(self, seq: int) -> str | None:
        rows = self._store._rows
        return rows[seq - 1].event.hash if 1 <= seq <= len(rows) else None

    async def write_events(self, batch: Sequence[RawEvent]) -> None:
        store = self._store
        if not batch:
            return
        check_continues(len(store._rows), batch[0].seq)
        for raw in batch:
            store._by_id[raw.event.event_id] = len(store._rows)
            store._rows.append(raw)
            store._versions[raw.event.stream] = raw.event.version
        store._wake()

    async def blob_names(self, batch: int) -> AsyncIterator[list[str]]:
        names = sorted(self._store._blobs)
        for start in range(0, len(names), batch):
            yield names[start : start + batch]

    async def missing_blobs(self, names: Sequence[str]) -> list[str]:
        return [n for n in names if n not in self._store._blobs]

    async def read_blobs(self, names: Sequence[str]) -> list[EncodedBlob]:
        return [self._store._blobs[name] for name in sorted(names)]

    async def write_blobs(self, blobs: Sequence[EncodedBlob]) -> None:
        self._store._require_open()
        for blob in blobs:
            self._store._blobs.setdefault(blob.sha256, blob)

    async def cursors(self) -> dict[str, int]:
        return dict(self._store._cursors)

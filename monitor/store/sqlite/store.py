"""``SqliteEventStore``: the default event store, one SQLite file on aiosqlite.

Writers serialise twice: an ``asyncio.Lock`` orders this process's tasks, and
``BEGIN IMMEDIATE`` orders processes. The head, stream versions and known event_ids
are read *inside* the write transaction, never cached, so two processes appending to
one file still produce a gap-free chain. Reads use a second, query-only connection:
in WAL mode it sees every committed append and never a half-written batch.

The file itself (schema, migrations, safe opening, errors) is ``files``; the
``FastScan`` capability is ``scan``, ``RawCopy`` is ``raw``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import aiosqlite

from monitor.clock import Clock, utc_now
from monitor.errors import BlobMissingError, StoreError, StoreUnavailableError
from monitor.events import GENESIS_HASH, NewEvent, StoredEvent, format_time
from monitor.store.base import RawEvent, RawRows, Visit
from monitor.store.blobs import decode_blob_async
from monitor.store.pauses import HostPause, later, pause_from_row
from monitor.store.rules import BackendBase, EventQuery, plan_append, row_to_event, streams_named
from monitor.store.sqlite.files import (
    DEFAULT_BUSY_TIMEOUT_MS,
    EVENT_SELECT,
    close_quietly,
    open_connections,
    translate_error,
)
from monitor.store.sqlite.raw import INSERT_EVENTS, SqliteRawRows, stored_row
from monitor.store.sqlite.scan import scan_file

logger = logging.getLogger(__name__)

_CHUNK = 500  # bound on "IN (...)" parameters per statement
_PAUSE_COLUMNS = "host, until, reason, recorded_at"


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _marks(count: int) -> str:
    return ",".join("?" * count)


class SqliteEventStore(BackendBase):
    """An event store in one SQLite file. Open it with ``SqliteEventStore.open``."""

    def __init__(
        self,
        path: str,
        writer: aiosqlite.Connection,
        reader: aiosqlite.Connection,
        *,
        clock: Clock | None = None,
    ) -> None:
        self.path = path
        self._writer = writer
        self._reader = reader
        self._clock = clock or utc_now
        self._write_lock = asyncio.Lock()
        self._closed = False

    # ------------------------------------------------------------------ opening

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        *,
        clock: Clock | None = None,
        create: bool = True,
        busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
        read_only: bool = False,
    ) -> SqliteEventStore:
        """Open (and with ``create``, create owner-only) the database at ``path``.

        Refuses a file that is not a monitor log this code can read (see
        ``files.open_connections``); with ``read_only`` nothing can be written through
        the store.
        """
        where, writer, reader = await open_connections(
            os.fspath(path), create=create, read_only=read_only, busy_timeout_ms=busy_timeout_ms
        )
        return cls(where, writer, reader, clock=clock)

    @property
    def label(self) -> str:
        return self.path

    @contextlib.contextmanager
    def _translating(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise translate_error(exc, self.path) from exc
        except ValueError as exc:
            # aiosqlite's answer to a call racing ``close``; anything else is a real bug.
            if self._closed:
                raise StoreUnavailableError(f"the event store {self.path} is closed") from exc
            raise

    @contextlib.asynccontextmanager
    async def _write(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction: this process's tasks in turn, other processes via the lock."""
        self._require_open()
        async with self._write_lock:
            self._require_open()  # close() may have run while this task waited for the lock
            with self._translating():
                await self._writer.execute_fetchall("BEGIN IMMEDIATE")
                try:
                    yield self._writer
                    await self._writer.execute_fetchall("COMMIT")
                except BaseException:
                    await self._rollback()
                    raise

    async def _rollback(self) -> None:
        if not self._writer.in_transaction:
            return  # SQLite already rolled back (e.g. after SQLITE_FULL)
        try:
            await self._writer.execute_fetchall("ROLLBACK")
        except sqlite3.Error:
            logger.exception("rollback failed on %s", self.path)

    async def _query(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        self._require_open()
        with self._translating():
            return list(await self._reader.execute_fetchall(sql, tuple(params)))

    # ------------------------------------------------------------------ events

    async def insert(
        self, batch: list[NewEvent], expected: Mapping[str, int] | None
    ) -> list[StoredEvent]:
        async with self._write() as db:
            stored = await self._stored_by_id(db, [ev.event_id for ev in batch])
            versions = await self._versions(db, sorted(streams_named(batch, expected)))
            last = list(
                await db.execute_fetchall(
                    "SELECT seq, hash, recorded_at FROM events ORDER BY seq DESC LIMIT 1"
                )
            )
            plan = plan_append(
                batch,
                expected=expected,
                stored=stored,
                versions=versions,
                head=(last[0][0], last[0][1]) if last else (0, GENESIS_HASH),
                last_recorded_at=last[0][2] if last else None,
                now=self._clock(),
            )
            if plan.new:
                await db.executemany(
                    INSERT_EVENTS,
                    [stored_row(RawEvent.of(ev)) for ev in plan.new],
                )
        return plan.result

    async def _stored_by_id(
        self, db: aiosqlite.Connection, event_ids: list[str]
    ) -> dict[str, StoredEvent]:
        found: dict[str, StoredEvent] = {}
        for chunk in _chunks(sorted(set(event_ids))):
            rows = await db.execute_fetchall(
                f"SELECT {EVENT_SELECT} FROM events WHERE event_id IN ({_marks(len(chunk))})",
                tuple(chunk),
            )
            found.update((ev.event_id, ev) for ev in map(row_to_event, rows))
        return found

    async def _versions(self, db: aiosqlite.Connection, streams: list[str]) -> dict[str, int]:
        versions: dict[str, int] = {}
        for chunk in _chunks(streams):
            rows = await db.execute_fetchall(
                "SELECT stream, MAX(version) FROM events "
                f"WHERE stream IN ({_marks(len(chunk))}) GROUP BY stream",
                tuple(chunk),
            )
            versions.update((stream, version) for stream, version in rows)
        return versions

    async def select(self, query: EventQuery) -> list[StoredEvent]:
        clauses: list[str] = ["seq > ?"]
        params: list[Any] = [query.after]
        if query.until is not None:
            clauses.append("seq <= ?")
            params.append(query.until)
        if query.stream is not None:
            clauses.append("stream = ?")
            params.append(query.stream)
        if query.types is not None:
            clauses.append(f"type IN ({_marks(len(query.types))})")
            params.extend(query.types)
        sql = f"SELECT {EVENT_SELECT} FROM events WHERE {' AND '.join(clauses)} ORDER BY seq"
        if query.limit is not None:
            sql += " LIMIT ?"
            params.append(query.limit)
        rows = await self._query(sql, params)
        return [row_to_event(row) for row in rows]

    async def head(self) -> tuple[int, str]:
        rows = await self._query("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1")
        return (rows[0][0], rows[0][1]) if rows else (0, GENESIS_HASH)

    async def stream_version(self, stream: str) -> int:
        rows = await self._query("SELECT MAX(version) FROM events WHERE stream = ?", (stream,))
        return int(rows[0][0] or 0)

    async def streams(self) -> list[str]:
        rows = await self._query("SELECT DISTINCT stream FROM events ORDER BY stream")
        return [row[0] for row in rows]

    async def get_event(self, seq: int) -> StoredEvent | None:
        rows = await self._query(f"SELECT {EVENT_SELECT} FROM events WHERE seq = ?", (seq,))
        return row_to_event(rows[0]) if rows else None

    async def event_count(self, *, until: int | None = None) -> int:
        if until is not None:
            rows = await self._query("SELECT COUNT(*) FROM events WHERE seq <= ?", (until,))
            return int(rows[0][0])
        rows = await self._query("SELECT COUNT(*) FROM events")
        return int(rows[0][0])

    # ------------------------------------------------------------------ blobs

    async def get_blob(self, sha256: str) -> bytes:
        rows = await self._query(
            "SELECT codec, size, CAST(content AS BLOB) FROM blobs WHERE sha256 = ?", (sha256,)
        )
        if not rows:
            raise BlobMissingError(sha256)
        codec, size, content = rows[0]
        if not isinstance(content, bytes):
            raise StoreError(f"blob {sha256} is corrupted: its content is not binary")
        return await decode_blob_async(sha256, str(codec), size, content)

    async def has_blob(self, sha256: str) -> bool:
        rows = await self._query("SELECT 1 FROM blobs WHERE sha256 = ?", (sha256,))
        return bool(rows)

    async def iterate_blob_ids(self) -> AsyncIterator[str]:
        last = ""
        while True:
            rows = await self._query(
                "SELECT sha256 FROM blobs WHERE sha256 > ? ORDER BY sha256 LIMIT 1000", (last,)
            )
            for (sha256,) in rows:
                yield sha256
            if len(rows) < 1000:
                return
            last = rows[-1][0]

    # ------------------------------------------------------------------ cursors

    async def get_cursor(self, name: str) -> int:
        rows = await self._query("SELECT seq FROM cursors WHERE name = ?", (name,))
        return int(rows[0][0]) if rows else 0

    async def write_cursor(self, name: str, seq: int) -> None:
        async with self._write() as db:
            await db.execute_fetchall(
                "INSERT INTO cursors (name, seq) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET seq = excluded.seq",
                (name, seq),
            )

    # ------------------------------------------------------------------ host pauses

    async def pause_host(
        self, host: str, until: datetime, *, reason: str, now: datetime
    ) -> HostPause:
        new = HostPause(host=host, until=until, reason=reason, recorded_at=now)
        async with self._write() as db:
            rows = list(
                await db.execute_fetchall(
                    f"SELECT {_PAUSE_COLUMNS} FROM host_pauses WHERE host = ?", (host,)
                )
            )
            kept = later(pause_from_row(*rows[0]) if rows else None, new)
            if kept is new:
                await db.execute_fetchall(
                    "INSERT INTO host_pauses (host, until, reason, recorded_at) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (host) DO UPDATE SET until = excluded.until, "
                    "reason = excluded.reason, recorded_at = excluded.recorded_at",
                    (host, format_time(until), reason, format_time(now)),
                )
            await db.execute_fetchall(
                "DELETE FROM host_pauses WHERE until <= ?", (format_time(now),)
            )
        return kept

    async def host_pause(self, host: str, *, now: datetime) -> HostPause | None:
        rows = await self._query(
            f"SELECT {_PAUSE_COLUMNS} FROM host_pauses WHERE host = ? AND until > ?",
            (host, format_time(now)),
        )
        return pause_from_row(*rows[0]) if rows else None

    async def host_pauses(self, *, now: datetime) -> list[HostPause]:
        rows = await self._query(
            f"SELECT {_PAUSE_COLUMNS} FROM host_pauses WHERE until > ? ORDER BY host",
            (format_time(now),),
        )
        return [pause_from_row(*row) for row in rows]

    # ------------------------------------------------------------------ capabilities

    async def scan(
        self, visit: Visit, *, until: int | None, recorded_by: str | None, batch: int
    ) -> None:
        """``FastScan``: the fold runs in one worker thread over its own read-only connection."""
        self._require_open()
        await asyncio.to_thread(
            scan_file, self.path, visit, until=until, recorded_by=recorded_by, batch=batch
        )

    def raw_rows(self) -> RawRows:
        return SqliteRawRows(self._query, self._write)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        async with self._write_lock:  # let an append in flight finish
            await close_quietly(self._reader, self._writer)
        logger.debug("closed event store %s", self.path)

"""``SqliteEventStore``: the default event store, one SQLite file on aiosqlite.

It is an evidence log, so durability beats speed: WAL with ``synchronous=FULL``,
append-only triggers on events and blobs, an owner-only (0600) file, and no code path
that resets, truncates or recreates a file it cannot read — a corrupt or foreign file
is refused untouched.

Writers serialise twice: an ``asyncio.Lock`` orders this process's tasks, and
``BEGIN IMMEDIATE`` orders processes. The head, stream versions and known event_ids
are read *inside* the write transaction, never cached, so two processes appending to
one file still produce a gap-free chain. Reads use a second, query-only connection:
in WAL mode it sees every committed append and never a half-written batch.

Every ``sqlite3`` error is translated at this boundary (``translate_error``) into a
``StoreError`` whose message tells the user what happened to their data.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import time
import urllib.parse
from collections.abc import AsyncIterator, Collection, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import aiosqlite
import orjson

from monitor.clock import Clock, utc_now
from monitor.errors import BlobMissingError, StoreError, StoreUnavailableError
from monitor.events import GENESIS_HASH, NewEvent, StoredEvent, canonical_bytes, format_time
from monitor.store.base import (
    PagedIteration,
    check_seq,
    normalize,
    plan_append,
    streams_named,
    type_filter,
)
from monitor.store.blobs import blob_id, decode_blob_async, encode_blob_async
from monitor.store.pauses import HostPause, later, pause_from_row

logger = logging.getLogger(__name__)

APPLICATION_ID = 0x504D4F4E  # "PMON" in the file header: marks the file as ours
SCHEMA_VERSION = 2
DEFAULT_BUSY_TIMEOUT_MS = 5000
EMPTY_GRACE = 1.0  # seconds an existing zero-byte file may take to become a database
_CHUNK = 500  # bound on "IN (...)" parameters per statement

# MIGRATIONS[n] takes a database from schema n - 1 to n; applied in order, in one transaction.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        """CREATE TABLE events (
            seq INTEGER PRIMARY KEY,
            event_id TEXT NOT NULL UNIQUE,
            stream TEXT NOT NULL,
            version INTEGER NOT NULL,
            type TEXT NOT NULL,
            schema INTEGER NOT NULL,
            recorded_at TEXT NOT NULL,
            data TEXT NOT NULL,  -- the exact canonical JSON that was hashed
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL,
            UNIQUE (stream, version)
        )""",
        "CREATE INDEX events_stream_seq ON events (stream, seq)",
        "CREATE INDEX events_type_seq ON events (type, seq)",
        """CREATE TABLE blobs (
            sha256 TEXT PRIMARY KEY, size INTEGER NOT NULL, codec TEXT NOT NULL,
            content BLOB NOT NULL
        )""",
        "CREATE TABLE cursors (name TEXT PRIMARY KEY, seq INTEGER NOT NULL)",
        *(
            f"""CREATE TRIGGER {table}_no_{action} BEFORE {action.upper()} ON {table}
            BEGIN SELECT RAISE(ABORT, '{table} are append-only'); END"""
            for table in ("events", "blobs")
            for action in ("update", "delete")
        ),
    ),
    # Retry-After pauses (monitor.store.pauses): coordination state beside the log.
    2: (
        """CREATE TABLE host_pauses (
            host TEXT PRIMARY KEY,
            until TEXT NOT NULL,  -- format_time(): fixed width, so text order is time order
            reason TEXT NOT NULL,
            recorded_at TEXT NOT NULL
        )""",
    ),
}

_PAUSE_COLUMNS = "host, until, reason, recorded_at"
_EVENT_COLUMNS = "seq, event_id, stream, version, type, schema, recorded_at, data, prev_hash, hash"
# Read back as bytes so a value edited into invalid UTF-8 (or into TEXT) is reported by
# seq or blob name here, instead of failing inside the driver with no name attached.
EVENT_SELECT = _EVENT_COLUMNS.replace(" data,", " CAST(data AS BLOB),")

# Primary result codes (the low byte of sqlite3.Error.sqlite_errorcode).
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_READONLY = 5, 6, 8
_SQLITE_IOERR, _SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_CANTOPEN = 10, 11, 13, 14
_SQLITE_NOTADB = 26


def not_a_monitor_database(path: str) -> StoreUnavailableError:
    return StoreUnavailableError(
        f"{path} is not a valid monitor database (corrupt or another file); "
        "refusing to touch it — restore from backup"
    )


def translate_error(exc: sqlite3.Error, path: str) -> StoreError:
    """The StoreError a user should see for a driver error on ``path``."""
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    text = str(exc).lower()
    if primary in (_SQLITE_BUSY, _SQLITE_LOCKED) or "database is locked" in text:
        return StoreUnavailableError(
            f"{path}: database is locked by another process; nothing was recorded — "
            "try again when the other process has finished"
        )
    if primary == _SQLITE_FULL or "disk is full" in text:
        return StoreUnavailableError(
            f"disk full while writing to {path}; nothing was recorded — "
            "free space and the check will be redone"
        )
    if primary in (_SQLITE_CORRUPT, _SQLITE_NOTADB) or "not a database" in text:
        return not_a_monitor_database(path)
    if primary == _SQLITE_READONLY or "readonly" in text:
        return StoreUnavailableError(
            f"{path} is read-only (file or directory permissions, or a read-only "
            "filesystem); nothing was recorded"
        )
    if primary == _SQLITE_CANTOPEN:
        return StoreUnavailableError(f"cannot open {path} (missing directory or no permission)")
    if primary == _SQLITE_IOERR:
        return StoreUnavailableError(f"I/O error on {path} ({exc}); nothing was recorded")
    return StoreError(f"{path}: {exc}")


def row_to_event(row: Sequence[Any]) -> StoredEvent:
    seq, event_id, stream, version, type_, schema, recorded_at, data, prev_hash, hash_ = row
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
    return StoredEvent(
        seq=seq,
        event_id=event_id,
        stream=stream,
        version=version,
        type=type_,
        schema=schema,
        recorded_at=recorded_at,
        data=decoded,
        prev_hash=prev_hash,
        hash=hash_,
    )


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _marks(count: int) -> str:
    return ",".join("?" * count)


# Permissions are those of the effective user, the one SQLite will open the file as.
_EFFECTIVE_IDS = os.access in os.supports_effective_ids


def _refuse_empty(where: str) -> None:
    """Refuse a zero-byte file: it is not a log, and must not silently become a new one.

    A database another process is creating right now is empty only until SQLite
    writes its header (the first statement after creation), so an empty file is
    given ``EMPTY_GRACE`` seconds to grow before it is refused.
    """
    deadline = time.monotonic() + EMPTY_GRACE
    while os.path.getsize(where) == 0:
        if time.monotonic() >= deadline:
            raise StoreUnavailableError(
                f"{where} is an empty file (0 bytes), not a monitor database; refusing to "
                "start a new log in it — remove it, or point --db at the real database"
            )
        time.sleep(0.05)


def _locate(path: str, create: bool, read_only: bool = False) -> tuple[str, bool]:
    """The absolute path, and whether this call created the (empty, owner-only) file."""
    where = os.path.abspath(os.path.expanduser(path))
    if os.path.isdir(where):
        raise StoreUnavailableError(f"cannot open {where}: it is a directory, not a database")
    if os.path.exists(where):
        if read_only and not os.access(where, os.R_OK, effective_ids=_EFFECTIVE_IDS):
            raise StoreUnavailableError(
                f"cannot open {where}: permission denied (the monitor must be able to read "
                "it; check its owner and mode)"
            )
        if not read_only and not os.access(where, os.R_OK | os.W_OK, effective_ids=_EFFECTIVE_IDS):
            raise StoreUnavailableError(
                f"cannot open {where}: permission denied (the monitor must be able to read "
                "and write it; check its owner and mode)"
            )
        _refuse_empty(where)
        return where, False
    if not create or read_only:
        raise StoreUnavailableError(f"no database at {where}; run `monitor check` first")
    parent = os.path.dirname(where)
    if not os.path.isdir(parent):
        raise StoreUnavailableError(f"cannot create {where}: {parent} is not a directory")
    try:
        # Created 0600 up front: SQLite gives -wal and -shm the mode of the database file.
        os.close(os.open(where, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        _refuse_empty(where)  # another process won the race; validated like any file
        return where, False
    except OSError as exc:
        raise StoreUnavailableError(f"cannot create {where}: {exc.strerror}") from exc
    return where, True


def _restrict_to_owner(*paths: str) -> None:
    for name in paths:
        with contextlib.suppress(FileNotFoundError):
            os.chmod(name, 0o600)


async def _connect(path: str, busy_timeout_ms: int, *, uri: bool = False) -> aiosqlite.Connection:
    # isolation_level=None: we issue BEGIN IMMEDIATE / COMMIT ourselves.
    conn = await aiosqlite.connect(path, isolation_level=None, uri=uri)
    try:
        await conn.execute_fetchall(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    except BaseException:
        await conn.close()
        raise
    return conn


class SqliteEventStore(PagedIteration):
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

        Refuses, without writing a byte, a file that is empty, corrupt, not SQLite,
        another application's SQLite database, or from a newer schema than this code
        knows. With ``read_only`` the file is opened ``mode=ro`` (nothing can be
        written through the store) and must already be a monitor log.
        """
        where, created = await asyncio.to_thread(_locate, os.fspath(path), create, read_only)
        if read_only:
            return await cls._open_read_only(where, clock=clock, busy_timeout_ms=busy_timeout_ms)
        writer: aiosqlite.Connection | None = None
        reader: aiosqlite.Connection | None = None
        try:
            writer = await _connect(where, busy_timeout_ms)
            await _prepare(writer, where)
            if created:
                _restrict_to_owner(where, where + "-wal", where + "-shm")
            reader = await _connect(where, busy_timeout_ms)
            await reader.execute_fetchall("PRAGMA query_only = ON")
        except sqlite3.Error as exc:
            await _close_quietly(writer, reader)
            raise translate_error(exc, where) from exc
        except BaseException:
            await _close_quietly(writer, reader)
            raise
        logger.debug("opened event store %s", where)
        return cls(where, writer, reader, clock=clock)

    @classmethod
    async def _open_read_only(
        cls, where: str, *, clock: Clock | None, busy_timeout_ms: int
    ) -> SqliteEventStore:
        """``mode=ro``; for a copy SQLite cannot share (read-only directory or file system,
        immutable file) ``immutable=1``, which reads the file as it stands without locks."""
        for immutable in (False, True):
            uri = f"file:{urllib.parse.quote(where)}?mode=ro"
            if immutable:
                uri += "&immutable=1"
            writer: aiosqlite.Connection | None = None
            reader: aiosqlite.Connection | None = None
            try:
                writer = await _connect(uri, busy_timeout_ms, uri=True)
                await _check_ours(writer, where)
                reader = await _connect(uri, busy_timeout_ms, uri=True)
                for conn in (writer, reader):
                    await conn.execute_fetchall("PRAGMA query_only = ON")
            except sqlite3.Error as exc:
                await _close_quietly(writer, reader)
                code = getattr(exc, "sqlite_errorcode", None)
                primary = code & 0xFF if isinstance(code, int) else None
                if not immutable and primary in (_SQLITE_CANTOPEN, _SQLITE_READONLY):
                    continue  # WAL needs a -shm file it cannot create here
                raise translate_error(exc, where) from exc
            except BaseException:
                await _close_quietly(writer, reader)
                raise
            if immutable:
                _warn_unread_wal(where)
            logger.debug("opened event store %s read-only%s", where, " (immutable)" * immutable)
            return cls(where, writer, reader, clock=clock)
        raise AssertionError("unreachable: the immutable attempt returns or raises")

    def _require_open(self) -> None:
        if self._closed:
            raise StoreUnavailableError(f"the event store {self.path} is closed")

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

    async def append(
        self, events: Sequence[NewEvent], *, expected: Mapping[str, int] | None = None
    ) -> list[StoredEvent]:
        self._require_open()
        batch = normalize(events)
        if not batch:
            return []
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
                    f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES ({_marks(10)})",
                    [
                        (
                            ev.seq,
                            ev.event_id,
                            ev.stream,
                            ev.version,
                            ev.type,
                            ev.schema,
                            ev.recorded_at,
                            canonical_bytes(ev.data).decode("utf-8"),
                            ev.prev_hash,
                            ev.hash,
                        )
                        for ev in plan.new
                    ],
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

    async def read(
        self,
        *,
        after: int = 0,
        until: int | None = None,
        stream: str | None = None,
        types: Collection[str] | None = None,
        limit: int | None = None,
    ) -> list[StoredEvent]:
        check_seq("after", after)
        chosen = type_filter(types)
        if chosen == () or (limit is not None and limit <= 0):
            return []
        clauses: list[str] = ["seq > ?"]
        params: list[Any] = [after]
        if until is not None:
            clauses.append("seq <= ?")
            params.append(until)
        if stream is not None:
            clauses.append("stream = ?")
            params.append(stream)
        if chosen is not None:
            clauses.append(f"type IN ({_marks(len(chosen))})")
            params.extend(chosen)
        sql = f"SELECT {EVENT_SELECT} FROM events WHERE {' AND '.join(clauses)} ORDER BY seq"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
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

    async def put_blob(self, data: bytes) -> str:
        sha256 = blob_id(data)
        if await self.has_blob(sha256):
            return sha256  # content-addressed: same name, same bytes; skip compressing
        blob = await encode_blob_async(data)
        async with self._write() as db:
            await db.execute_fetchall(
                "INSERT OR IGNORE INTO blobs (sha256, size, codec, content) VALUES (?, ?, ?, ?)",
                (blob.sha256, blob.size, blob.codec, blob.content),
            )
        return sha256

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

    async def set_cursor(self, name: str, seq: int) -> None:
        check_seq("cursor seq", seq)
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

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        async with self._write_lock:  # let an append in flight finish
            await _close_quietly(self._reader, self._writer)
        logger.debug("closed event store %s", self.path)


async def _close_quietly(*conns: aiosqlite.Connection | None) -> None:
    for conn in conns:
        if conn is None:
            continue
        try:
            await conn.close()
        except sqlite3.Error:
            logger.warning("closing a connection failed", exc_info=True)


def _warn_unread_wal(where: str) -> None:
    with contextlib.suppress(OSError):
        if os.path.getsize(where + "-wal") > 0:
            logger.warning(
                "%s is opened as an immutable copy: the %d bytes of %s-wal beside it are not "
                "read (copy the database with the monitor stopped, or with `sqlite3 .backup`)",
                where,
                os.path.getsize(where + "-wal"),
                where,
            )


async def _check_ours(db: aiosqlite.Connection, path: str) -> None:
    """For a read-only opening: the file must already be a monitor log this code can read."""
    (app_id,) = next(iter(await db.execute_fetchall("PRAGMA application_id")))
    if app_id != APPLICATION_ID:
        raise not_a_monitor_database(path)
    rows = list(await db.execute_fetchall("SELECT value FROM meta WHERE key = 'schema_version'"))
    current = int(rows[0][0]) if rows else 0
    if current > SCHEMA_VERSION:
        raise StoreUnavailableError(
            f"{path} uses schema {current}, newer than this policy-monitor knows "
            f"({SCHEMA_VERSION}); upgrade policy-monitor to open it"
        )
    if current < 1:
        raise not_a_monitor_database(path)
    if current < SCHEMA_VERSION:
        # Read as it is: migrations only add tables beside the log, and a read-only
        # opening (an old copy being verified, say) must not need to upgrade the file.
        logger.debug("%s uses schema %d (current %d); read as it is", path, current, SCHEMA_VERSION)


async def _prepare(db: aiosqlite.Connection, path: str) -> None:
    """Check the file is ours (reading only), then configure it and bring the schema up to date."""
    tables = list(await db.execute_fetchall("SELECT name FROM sqlite_master"))
    (app_id,) = next(iter(await db.execute_fetchall("PRAGMA application_id")))
    if tables and app_id != APPLICATION_ID:
        raise not_a_monitor_database(path)
    mode = next(iter(await db.execute_fetchall("PRAGMA journal_mode = WAL")))[0]
    if str(mode).lower() != "wal":
        logger.warning("%s: WAL unavailable (journal mode %s); readers will wait", path, mode)
    await db.execute_fetchall("PRAGMA synchronous = FULL")
    await db.execute_fetchall("PRAGMA foreign_keys = ON")
    await db.execute_fetchall("BEGIN IMMEDIATE")
    try:
        current = 0
        has_meta = await db.execute_fetchall(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
        )
        if list(has_meta):
            rows = list(
                await db.execute_fetchall("SELECT value FROM meta WHERE key = 'schema_version'")
            )
            current = int(rows[0][0]) if rows else 0
        if current > SCHEMA_VERSION:
            raise StoreUnavailableError(
                f"{path} uses schema {current}, newer than this policy-monitor knows "
                f"({SCHEMA_VERSION}); upgrade policy-monitor to open it"
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            logger.info("migrating %s to schema %d", path, version)
            for statement in MIGRATIONS[version]:
                await db.execute_fetchall(statement)
        if current < SCHEMA_VERSION:
            await db.execute_fetchall(f"PRAGMA application_id = {APPLICATION_ID}")
            await db.execute_fetchall(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(SCHEMA_VERSION),),
            )
        await db.execute_fetchall("COMMIT")
    except BaseException:
        if db.in_transaction:
            await db.execute_fetchall("ROLLBACK")
        raise

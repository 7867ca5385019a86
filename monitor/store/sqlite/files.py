"""The SQLite file of a log: its schema and migrations, opening it safely, and errors.

It is an evidence log, so durability beats speed: WAL with ``synchronous=FULL``,
append-only triggers on events and blobs, an owner-only (0600) file, and no code path
that resets, truncates or recreates a file it cannot read — a corrupt or foreign file
is refused untouched.

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

import aiosqlite

from monitor.errors import StoreError, StoreUnavailableError
from monitor.store.rules import EVENT_COLUMNS

logger = logging.getLogger(__name__)

APPLICATION_ID = 0x504D4F4E  # "PMON" in the file header: marks the file as ours
SCHEMA_VERSION = 2
DEFAULT_BUSY_TIMEOUT_MS = 5000
EMPTY_GRACE = 1.0  # seconds an existing zero-byte file may take to become a database
# Read back as bytes so a value edited into invalid UTF-8 (or into TEXT) is reported by
# seq or blob name here, instead of failing inside the driver with no name attached.
EVENT_SELECT = EVENT_COLUMNS.replace(" data,", " CAST(data AS BLOB),")

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


async def open_connections(
    path: str, *, create: bool, read_only: bool, busy_timeout_ms: int
) -> tuple[str, aiosqlite.Connection, aiosqlite.Connection]:
    """The absolute path, a writer connection and a query-only reader on the log at ``path``.

    Refuses, without writing a byte, a file that is empty, corrupt, not SQLite,
    another application's SQLite database, or from a newer schema than this code
    knows. With ``read_only`` the file is opened ``mode=ro`` (nothing can be
    written through either connection) and must already be a monitor log.
    """
    where, created = await asyncio.to_thread(_locate, path, create, read_only)
    if read_only:
        return await _open_read_only(where, busy_timeout_ms)
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
        await close_quietly(writer, reader)
        raise translate_error(exc, where) from exc
    except BaseException:
        await close_quietly(writer, reader)
        raise
    logger.debug("opened event store %s", where)
    return where, writer, reader


async def _open_read_only(
    where: str, busy_timeout_ms: int
) -> tuple[str, aiosqlite.Connection, aiosqlite.Connection]:
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
            await close_quietly(writer, reader)
            code = getattr(exc, "sqlite_errorcode", None)
            primary = code & 0xFF if isinstance(code, int) else None
            if not immutable and primary in (_SQLITE_CANTOPEN, _SQLITE_READONLY):
                continue  # WAL needs a -shm file it cannot create here
            raise translate_error(exc, where) from exc
        except BaseException:
            await close_quietly(writer, reader)
            raise
        if immutable:
            _warn_unread_wal(where)
        logger.debug("opened event store %s read-only%s", where, " (immutable)" * immutable)
        return where, writer, reader
    raise AssertionError("unreachable: the immutable attempt returns or raises")


async def close_quietly(*conns: aiosqlite.Connection | None) -> None:
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

"""``monitor migrate --from URL --to URL``: copy a log verbatim and prove the heads equal.

Verbatim means the target ends up with the same rows, not an equivalent log: the same
seq, event_id, stream, version, type, schema and ``recorded_at``, the *stored* data
bytes (not re-encoded), the same ``prev_hash`` and ``hash``, every blob with its stored
(compressed) bytes, and every cursor. A source with a broken chain is copied broken, so
``monitor verify`` says the same about both.

Safety:

* the target must be empty, or hold a prefix of the source (its head seq and hash are
  the source's at that seq) — then the copy resumes after it; anything else is refused
  untouched (exit 2);
* events are copied in batches, each in one transaction that checks it continues the
  target's head, so an interrupted migrate is resumed by running it again;
* at the end the chain of each side is recomputed from the stored rows, both heads
  are printed, and the exit status is 1 if they differ — or if the target's chain has
  a break the source's has not (a resumed target edited in between).

Events appended to the source during the copy are left for the next run (stop the
workers first, or run ``migrate`` again after stopping them).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from monitor.commands.common import Subparsers, UsageError, settings_if_present
from monitor.errors import StoreError, StoreUnavailableError

if TYPE_CHECKING:
    import aiosqlite

    from monitor.audit.findings import Finding
    from monitor.audit.verify import ChainVerifier
    from monitor.events import StoredEvent
    from monitor.store.base import EventStore
    from monitor.store.sqlite import SqliteEventStore

log = logging.getLogger(__name__)

BATCH = 1000
_COLUMNS = "seq, event_id, stream, version, type, schema, recorded_at, data, prev_hash, hash"


def add_parser(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "migrate",
        parents=[common],
        help="copy a log verbatim to another database (e.g. SQLite → PostgreSQL)",
        description="Copy every event (same seq, bytes and hashes), blob and cursor from one "
        "database to another, resuming if the target already holds a prefix of the source; "
        "then recompute both chains and print both heads (exit 1 if they differ).",
    )
    parser.add_argument("--from", dest="source", required=True, metavar="URL", help="source")
    parser.add_argument("--to", dest="target", required=True, metavar="URL", help="target")
    parser.set_defaults(handler=run)


# --------------------------------------------------------------------------- raw rows


@dataclass(frozen=True)
class RawEvent:
    """One ``events`` row exactly as stored: ``data`` is the stored bytes."""

    seq: int
    event_id: str
    stream: str
    version: int
    type: str
    schema: int
    recorded_at: str
    data: bytes
    prev_hash: str
    hash: str

    def values(self) -> tuple[Any, ...]:
        return (
            self.seq,
            self.event_id,
            self.stream,
            self.version,
            self.type,
            self.schema,
            self.recorded_at,
            self.data,
            self.prev_hash,
            self.hash,
        )


@dataclass(frozen=True)
class RawBlob:
    sha256: str
    size: int
    codec: str
    content: bytes


class RawLog(Protocol):
    """Row-level access to one backend's tables, for copying without re-encoding."""

    async def last(self) -> tuple[int, str]: ...

    def events(self, after: int, until: int) -> AsyncIterator[list[RawEvent]]: ...

    async def event_hash(self, seq: int) -> str | None: ...

    async def write_events(self, batch: Sequence[RawEvent]) -> None: ...

    def blob_names(self) -> AsyncIterator[list[str]]: ...

    async def missing_blobs(self, names: Sequence[str]) -> list[str]: ...

    async def read_blobs(self, names: Sequence[str]) -> list[RawBlob]: ...

    async def write_blobs(self, blobs: Sequence[RawBlob]) -> None: ...

    async def cursors(self) -> dict[str, int]: ...

    async def close(self) -> None: ...


class SqliteRaw:
    """Rows of a SQLite log (schema ``monitor.store.sqlite.SCHEMA_VERSION``), via aiosqlite."""

    def __init__(self, path: str, conn: aiosqlite.Connection) -> None:
        self.path = path
        self._conn = conn

    @classmethod
    async def open(cls, store: SqliteEventStore) -> SqliteRaw:
        import aiosqlite

        from monitor.store.sqlite import translate_error as sqlite_error

        try:
            conn = await aiosqlite.connect(store.path, isolation_level=None)
            await conn.execute_fetchall("PRAGMA busy_timeout = 5000")
        except sqlite3.Error as exc:
            raise sqlite_error(exc, store.path) from exc
        return cls(store.path, conn)

    @contextlib.contextmanager
    def _translating(self) -> Iterator[None]:
        from monitor.store.sqlite import translate_error as sqlite_error

        try:
            yield
        except sqlite3.Error as exc:
            raise sqlite_error(exc, self.path) from exc

    async def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._translating():
            return list(await self._conn.execute_fetchall(sql, tuple(params)))

    async def last(self) -> tuple[int, str]:
        from monitor.events import GENESIS_HASH

        rows = await self._rows("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1")
        return (int(rows[0][0]), str(rows[0][1])) if rows else (0, GENESIS_HASH)

    async def events(self, after: int, until: int) -> AsyncIterator[list[RawEvent]]:
        select = _COLUMNS.replace(" data,", " CAST(data AS BLOB),")
        while after < until:
            rows = await self._rows(
                f"SELECT {select} FROM events WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
                (after, until, BATCH),
            )
            if not rows:
                return
            yield [RawEvent(*row) for row in rows]
            after = int(rows[-1][0])

    async def event_hash(self, seq: int) -> str | None:
        rows = await self._rows("SELECT hash FROM events WHERE seq = ?", (seq,))
        return str(rows[0][0]) if rows else None

    async def write_events(self, batch: Sequence[RawEvent]) -> None:
        with self._translating():
            await self._conn.execute_fetchall("BEGIN IMMEDIATE")
            try:
                rows = await self._conn.execute_fetchall("SELECT MAX(seq) FROM events")
                _check_continues(int(next(iter(rows))[0] or 0), batch)
                await self._conn.executemany(
                    f"INSERT INTO events ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    [(*e.values()[:7], _sqlite_data(e.data), *e.values()[8:]) for e in batch],
                )
                await self._conn.execute_fetchall("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    await self._conn.execute_fetchall("ROLLBACK")
                raise

    async def blob_names(self) -> AsyncIterator[list[str]]:
        last = ""
        while True:
            rows = await self._rows(
                "SELECT sha256 FROM blobs WHERE sha256 > ? ORDER BY sha256 LIMIT ?", (last, BATCH)
            )
            if not rows:
                return
            yield [str(r[0]) for r in rows]
            last = str(rows[-1][0])

    async def missing_blobs(self, names: Sequence[str]) -> list[str]:
        marks = ",".join("?" * len(names))
        rows = await self._rows(f"SELECT sha256 FROM blobs WHERE sha256 IN ({marks})", names)
        present = {r[0] for r in rows}
        return [n for n in names if n not in present]

    async def read_blobs(self, names: Sequence[str]) -> list[RawBlob]:
        marks = ",".join("?" * len(names))
        rows = await self._rows(
            "SELECT sha256, size, codec, CAST(content AS BLOB) FROM blobs "
            f"WHERE sha256 IN ({marks}) ORDER BY sha256",
            names,
        )
        return [RawBlob(str(r[0]), int(r[1]), str(r[2]), bytes(r[3])) for r in rows]

    async def write_blobs(self, blobs: Sequence[RawBlob]) -> None:
        with self._translating():
            await self._conn.execute_fetchall("BEGIN IMMEDIATE")
            try:
                await self._conn.executemany(
                    "INSERT OR IGNORE INTO blobs (sha256, size, codec, content) VALUES (?,?,?,?)",
                    [(b.sha256, b.size, b.codec, b.content) for b in blobs],
                )
                await self._conn.execute_fetchall("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    await self._conn.execute_fetchall("ROLLBACK")
                raise

    async def cursors(self) -> dict[str, int]:
        return {str(n): int(s) for n, s in await self._rows("SELECT name, seq FROM cursors")}

    async def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            await self._conn.close()


def _sqlite_data(data: bytes) -> str | bytes:
    """TEXT as the SQLite store writes it; bytes that are not UTF-8 stay bytes (verbatim)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data


class PostgresRaw:
    """Rows of a PostgreSQL log, through the store's own (translated) connections."""

    def __init__(self, store: Any) -> None:
        from monitor.store.postgres import PostgresEventStore

        assert isinstance(store, PostgresEventStore)
        self._store = store

    async def _rows(self, sql: str, *params: Any) -> list[Any]:
        async with self._store.connection() as conn:
            return list(await conn.fetch(sql, *params))

    async def last(self) -> tuple[int, str]:
        from monitor.events import GENESIS_HASH

        rows = await self._rows("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1")
        return (int(rows[0]["seq"]), str(rows[0]["hash"])) if rows else (0, GENESIS_HASH)

    async def events(self, after: int, until: int) -> AsyncIterator[list[RawEvent]]:
        while after < until:
            rows = await self._rows(
                f"SELECT {_COLUMNS} FROM events WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3",
                after,
                until,
                BATCH,
            )
            if not rows:
                return
            yield [
                RawEvent(
                    seq=r["seq"],
                    event_id=r["event_id"],
                    stream=r["stream"],
                    version=r["version"],
                    type=r["type"],
                    schema=r["schema"],
                    recorded_at=r["recorded_at"],
                    data=bytes(r["data"]),
                    prev_hash=r["prev_hash"],
                    hash=r["hash"],
                )
                for r in rows
            ]
            after = int(rows[-1]["seq"])

    async def event_hash(self, seq: int) -> str | None:
        rows = await self._rows("SELECT hash FROM events WHERE seq = $1", seq)
        return str(rows[0]["hash"]) if rows else None

    async def write_events(self, batch: Sequence[RawEvent]) -> None:
        from monitor.store.postgres import INSERT_EVENTS, MOVE_HEAD

        async with self._store.connection() as conn, conn.transaction():
            head = await conn.fetchrow("SELECT seq FROM log_head FOR UPDATE")
            _check_continues(int(head["seq"]) if head else 0, batch)
            await conn.executemany(INSERT_EVENTS, [e.values() for e in batch])
            last = batch[-1]
            await conn.execute(MOVE_HEAD, last.seq, last.hash, last.recorded_at)

    async def blob_names(self) -> AsyncIterator[list[str]]:
        last = ""
        while True:
            rows = await self._rows(
                "SELECT sha256 FROM blobs WHERE sha256 > $1 ORDER BY sha256 LIMIT $2", last, BATCH
            )
            if not rows:
                return
            yield [str(r["sha256"]) for r in rows]
            last = str(rows[-1]["sha256"])

    async def missing_blobs(self, names: Sequence[str]) -> list[str]:
        rows = await self._rows(
            "SELECT sha256 FROM blobs WHERE sha256 = ANY($1::text[])", list(names)
        )
        present = {r["sha256"] for r in rows}
        return [n for n in names if n not in present]

    async def read_blobs(self, names: Sequence[str]) -> list[RawBlob]:
        rows = await self._rows(
            "SELECT sha256, size, codec, content FROM blobs WHERE sha256 = ANY($1::text[]) "
            "ORDER BY sha256",
            list(names),
        )
        return [RawBlob(r["sha256"], r["size"], r["codec"], bytes(r["content"])) for r in rows]

    async def write_blobs(self, blobs: Sequence[RawBlob]) -> None:
        async with self._store.connection() as conn:
            await conn.executemany(
                "INSERT INTO blobs (sha256, size, codec, content) VALUES ($1, $2, $3, $4) "
                "ON CONFLICT (sha256) DO NOTHING",
                [(b.sha256, b.size, b.codec, b.content) for b in blobs],
            )

    async def cursors(self) -> dict[str, int]:
        return {r["name"]: int(r["seq"]) for r in await self._rows("SELECT name, seq FROM cursors")}

    async def close(self) -> None:
        """The store owns the connections."""


def _check_continues(head: int, batch: Sequence[RawEvent]) -> None:
    if batch and batch[0].seq <= head:
        raise StoreError(
            f"the target moved on meanwhile (its head is seq {head}, the next copied event is "
            f"seq {batch[0].seq}); is a worker writing to it? stop it and run migrate again"
        )


async def raw_log(store: EventStore) -> RawLog:
    from monitor.store.sqlite import SqliteEventStore

    if isinstance(store, SqliteEventStore):
        return await SqliteRaw.open(store)
    return PostgresRaw(store)


# --------------------------------------------------------------------------- the command


@dataclass(frozen=True)
class ChainSummary:
    events: int
    head_seq: int
    head_hash: str
    findings: tuple[Finding, ...]

    def problems(self) -> list[tuple[int | None, str]]:
        return [(f.seq, f.kind) for f in self.findings]

    def line(self, name: str) -> str:
        state = "intact" if not self.findings else f"{len(self.findings)} problem(s)"
        return (
            f"{name}: {self.events} events, head seq {self.head_seq} {self.head_hash} "
            f"(chain {state})"
        )


async def recompute_chain(store: EventStore, until: int) -> ChainSummary:
    """Every hash and link recomputed from the stored rows up to ``until``."""
    from monitor.audit.verify import ChainVerifier

    verifier = ChainVerifier()
    findings: list[Finding] = []
    last_seq = 0
    after = 0
    while after < until:
        try:
            async for ev in store.iterate(after=after, until=until):
                findings += verifier.feed(ev)
                last_seq = after = ev.seq
            break
        except StoreUnavailableError:
            raise
        except StoreError:
            # An unreadable row: name it and step over it, like `monitor verify` does.
            after = await _step_over(store, after, until, verifier, findings)
            last_seq = after
    findings += verifier.finish()
    return ChainSummary(verifier.events, last_seq, verifier.head_hash, tuple(findings))


async def _step_over(
    store: EventStore, after: int, until: int, verifier: ChainVerifier, findings: list[Finding]
) -> int:
    for seq in range(after + 1, until + 1):
        try:
            ev: StoredEvent | None = await store.get_event(seq)
        except StoreUnavailableError:
            raise
        except StoreError as exc:
            findings += verifier.unreadable(seq, str(exc))
            return seq
        if ev is not None:
            findings += verifier.feed(ev)
    return until


def _check_urls(source: str, target: str) -> None:
    from monitor.store import url_scheme

    for name, url in (("--from", source), ("--to", target)):
        try:
            scheme = url_scheme(url)
        except StoreUnavailableError as exc:
            raise UsageError(f"{name}: {exc}") from exc
        if scheme == "memory":
            raise UsageError(f"{name}: memory:// holds nothing that outlives the command")
    if _same_database(source, target):
        raise UsageError("--from and --to name the same database")


def _same_database(source: str, target: str) -> bool:
    from monitor.store import sqlite_path, url_scheme

    if url_scheme(source) == url_scheme(target) == "sqlite":
        return os.path.abspath(sqlite_path(source)) == os.path.abspath(sqlite_path(target))
    return source == target


async def run(args: argparse.Namespace) -> int:
    from monitor.audit.home import log_id_of
    from monitor.store import describe_url, open_store

    _check_urls(args.source, args.target)
    async with (
        open_store(args.source, read_only=True) as source,
        open_store(args.target) as target,
    ):
        src, dst = await raw_log(source), await raw_log(target)
        try:
            code = await copy_log(
                source, target, src, dst, describe_url(args.source), describe_url(args.target)
            )
        finally:
            await src.close()
            await dst.close()
        log_id = await log_id_of(source)
    if code == 0 and log_id is not None:
        _carry_audit_files(args, log_id)
    return code


def _carry_audit_files(args: argparse.Namespace, log_id: str) -> None:
    """The target is the same log: its checkpoint journal and key go where it will look."""
    from monitor.audit.home import audit_home, carry_over

    settings = settings_if_present(args)
    old = audit_home(settings, args.source, config_path=args.config)
    new = audit_home(settings, args.target, config_path=args.config)
    for line in carry_over(old, new, log_id):
        print(line)


async def copy_log(
    source: EventStore,
    target: EventStore,
    src: RawLog,
    dst: RawLog,
    source_name: str,
    target_name: str,
) -> int:
    """Copy blobs, events and cursors; print both recomputed heads; 0 if they are equal."""
    until, _ = await src.last()
    have_seq, have_hash = await dst.last()
    if have_seq:
        theirs = await src.event_hash(have_seq)
        if have_seq > until or theirs != have_hash:
            raise UsageError(
                f"{target_name} is not empty and not a prefix of {source_name} (its seq "
                f"{have_seq} has hash {have_hash[:16]}…, the source's "
                f"{'has none' if theirs is None else theirs[:16] + '…'}); refusing to touch it"
            )
        print(f"resuming: {target_name} already holds seq 1 to {have_seq} of {source_name}")

    # Blobs first, like every writer: an event is never in the target before its blobs.
    blobs = 0
    async for names in src.blob_names():
        missing = await dst.missing_blobs(names)
        if missing:
            await dst.write_blobs(await src.read_blobs(missing))
            blobs += len(missing)
    events = 0
    async for batch in src.events(have_seq, until):
        await dst.write_events(batch)
        events += len(batch)
        log.info("copied up to seq %d of %d", batch[-1].seq, until)
    cursors = await src.cursors()
    for name, seq in sorted(cursors.items()):
        await target.set_cursor(name, seq)
    print(f"copied {events} events, {blobs} blobs, {len(cursors)} cursors")

    src_chain = await recompute_chain(source, until)
    dst_chain = await recompute_chain(target, until)
    print(src_chain.line("source"))
    print(dst_chain.line("target"))
    if (src_chain.head_seq, src_chain.head_hash) != (dst_chain.head_seq, dst_chain.head_hash):
        print("HEADS DIFFER: the target does not hold the same log")
        return 1
    extra = set(dst_chain.problems()) - set(src_chain.problems())
    if extra:
        at, kind = min(extra, key=lambda p: (p[0] is None, p[0] or 0))
        print(
            f"CHAINS DIFFER: the target has problems the source has not (first: {kind} at "
            f"seq {at}); it was changed outside the monitor — migrate into an empty database"
        )
        return 1
    if src_chain.findings:
        print(
            "heads equal; the source's own chain has problems, copied as they are "
            "(run `monitor verify` on either side for details)"
        )
    else:
        print("heads equal: the target holds the same log")
    return 0

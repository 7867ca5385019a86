"""``PostgresEventStore``: the event store on PostgreSQL (asyncpg), for several workers.

Same contract as every backend (``monitor.store.base``); only the locking differs.
The schema and its migrations are in ``schema``, URLs and errors in ``connect``, the
work-sharing capability in ``coordination`` and row copies in ``raw``.

Why this is one module (about 500 lines): every method here runs inside the append
lock's rules below; keeping them side by side is how that locking is reviewed.

* **Gap-free seq in commit order.** Every append transaction first locks the one row
  of ``log_head`` (``SELECT … FOR UPDATE``), reads the last seq, hash and
  ``recorded_at`` there, inserts the sealed events and moves the head, then commits.
  A second writer — another task, connection or process — blocks on that row until
  the first commits, and (READ COMMITTED) its later statements see the first's rows.
  So seq n + 1 is only ever assigned after seq n committed: no gaps, no reordering.
  The stream versions and already-stored event_ids are read *after* taking the lock.
* **Exact bytes.** ``events.data`` is ``bytea`` holding the canonical JSON that was
  hashed, never JSONB (which would reorder keys and normalise numbers), so every
  hash can be recomputed from what is stored.
* **Notifications** (the ``Wakeups`` capability). The append transaction ends with
  ``pg_notify('monitor_events', seq)``, which PostgreSQL delivers only at commit;
  ``wait_for_events`` LISTENs on a connection of its own and re-reads the head on
  each wake-up (so a notification from another schema, or a lost one, costs a query,
  never a missed event), polling as a fallback if the listening connection drops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import datetime
from typing import Any

import asyncpg

from monitor.clock import Clock, utc_now
from monitor.errors import BlobMissingError, StoreError
from monitor.events import GENESIS_HASH, NewEvent, StoredEvent
from monitor.store.base import RawEvent, RawRows, WorkSharing
from monitor.store.blobs import decode_blob_async
from monitor.store.pauses import HostPause, pause_from_row
from monitor.store.postgres.connect import (
    CONNECT_TIMEOUT,
    DRIVER_ERRORS,
    PostgresTarget,
    close_pool,
    parse_url,
    server_settings,
    translate_error,
)
from monitor.store.postgres.coordination import PostgresWorkSharing
from monitor.store.postgres.raw import PostgresRawRows
from monitor.store.postgres.schema import prepare
from monitor.store.rules import (
    EVENT_COLUMNS,
    AppendPlan,
    BackendBase,
    EventQuery,
    plan_append,
    row_to_event,
    streams_named,
)

logger = logging.getLogger(__name__)

NOTIFY_CHANNEL = "monitor_events"
DEFAULT_POOL_SIZE = 8
COORDINATION_POOL_SIZE = 3
POLL_FALLBACK = 2.0  # seconds between head reads while the LISTEN connection is down

# Keeps the later end: a short Retry-After never shortens a long pause.
_PAUSE_UPSERT = """
INSERT INTO host_pauses AS p (host, until, reason, recorded_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (host) DO UPDATE
SET until = excluded.until, reason = excluded.reason, recorded_at = excluded.recorded_at
WHERE excluded.until > p.until
RETURNING host, until, reason, recorded_at
"""


# In one snapshot: the head (kind h), the batch's stored events (e) and its streams'
# versions (v) — consistent with each other even without the head lock.
KNOWN = f"""
SELECT 'h' AS kind, seq, NULL AS event_id, NULL AS stream, NULL::integer AS version,
       NULL AS type, NULL::integer AS schema, recorded_at, NULL::bytea AS data,
       NULL AS prev_hash, hash
FROM log_head
UNION ALL
SELECT 'e', {EVENT_COLUMNS} FROM events WHERE event_id = ANY($1::text[])
UNION ALL
SELECT 'v', NULL, NULL, stream, MAX(version), NULL, NULL, NULL, NULL, NULL, NULL
FROM events WHERE stream = ANY($2::text[]) GROUP BY stream
"""

# KNOWN, taking the head lock: the locked row is the newest head even if a writer
# committed while we waited (READ COMMITTED re-reads a locked row), but the rest of the
# statement reads the older snapshot; the snapshot's own head (kind s) tells whether the
# two agree, and if not the caller reads again, now that nothing can move.
KNOWN_LOCKING = f"""
WITH locked AS (SELECT seq, hash, recorded_at FROM log_head FOR UPDATE)
SELECT 'h' AS kind, seq, NULL AS event_id, NULL AS stream, NULL::integer AS version,
       NULL AS type, NULL::integer AS schema, recorded_at, NULL::bytea AS data,
       NULL AS prev_hash, hash
FROM locked
UNION ALL
SELECT 's', seq, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, hash FROM log_head
UNION ALL
SELECT 'e', {EVENT_COLUMNS} FROM events WHERE event_id = ANY($1::text[])
UNION ALL
SELECT 'v', NULL, NULL, stream, MAX(version), NULL, NULL, NULL, NULL, NULL, NULL
FROM events WHERE stream = ANY($2::text[]) GROUP BY stream
"""

APPEND_IF_HEAD = "SELECT monitor_append($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
OPTIMISTIC_ATTEMPTS = 1  # contention beyond one retry is cheaper to queue on the lock


# --------------------------------------------------------------------------- the store


class PostgresEventStore(BackendBase):
    """An event store in one PostgreSQL schema. Open it with ``PostgresEventStore.open``."""

    def __init__(
        self,
        target: PostgresTarget,
        pool: asyncpg.Pool,
        schema: str,
        *,
        clock: Clock | None = None,
    ) -> None:
        self.target = target
        self.schema = schema  # the resolved schema (``public`` unless the URL names one)
        self._pool = pool
        self._clock = clock or utc_now
        self._closed = False
        self._listener: asyncpg.Connection | None = None
        self._listener_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._side_pool: asyncpg.Pool | None = None
        self._side_lock = asyncio.Lock()

    @property
    def label(self) -> str:
        return self.target.label

    # ------------------------------------------------------------------ opening

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        clock: Clock | None = None,
        create: bool = True,
        pool_size: int = DEFAULT_POOL_SIZE,
    ) -> PostgresEventStore:
        """Connect, then create or migrate the schema (under an advisory lock).

        With ``create=False`` a database without a monitor log is an error instead of
        a new, empty log. Refuses a schema from a newer policy-monitor, and an
        ``events`` table that is not ours.
        """
        target = parse_url(url)
        pool: asyncpg.Pool | None = None
        try:
            pool = await asyncpg.create_pool(
                target.dsn,
                min_size=1,
                max_size=max(1, pool_size),
                timeout=CONNECT_TIMEOUT,
                server_settings=server_settings(target),
            )
            async with pool.acquire() as conn:
                schema = await prepare(conn, target, create)
        except DRIVER_ERRORS as exc:
            await close_pool(pool)
            raise translate_error(exc, target.label) from exc
        except BaseException:
            await close_pool(pool)
            raise
        logger.debug("opened event store %s (schema %s)", target.label, schema)
        return cls(target, pool, schema, clock=clock)

    @contextlib.contextmanager
    def _translating(self) -> Iterator[None]:
        try:
            yield
        except DRIVER_ERRORS as exc:
            raise translate_error(exc, self.label) from exc

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection with driver errors translated (also used by the workers)."""
        self._require_open()
        with self._translating():
            async with self._pool.acquire() as conn:
                yield conn

    @contextlib.asynccontextmanager
    async def coordination(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection for work-sharing state (``monitor.daemon.workers`` leases), never the log.

        A pool of its own, so renewing a lease never queues behind appends waiting on
        the log head, with ``synchronous_commit = off``: a server crash may forget the
        last fraction of a second of lease updates (a source is then checked once more,
        early), and never touches the log, whose commits stay synchronous.
        """
        self._require_open()
        with self._translating():
            if self._side_pool is None:
                async with self._side_lock:
                    if self._side_pool is None:
                        self._side_pool = await asyncpg.create_pool(
                            self.target.dsn,
                            min_size=1,
                            max_size=COORDINATION_POOL_SIZE,
                            timeout=CONNECT_TIMEOUT,
                            server_settings={
                                **server_settings(self.target),
                                "synchronous_commit": "off",
                            },
                        )
            async with self._side_pool.acquire() as conn:
                yield conn

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[asyncpg.Connection]:
        async with self.connection() as conn, conn.transaction():
            yield conn

    async def _fetch(self, sql: str, *params: Any) -> list[asyncpg.Record]:
        async with self.connection() as conn:
            rows: list[asyncpg.Record] = await conn.fetch(sql, *params)
            return rows

    # ------------------------------------------------------------------ events

    async def insert(
        self, batch: list[NewEvent], expected: Mapping[str, int] | None
    ) -> list[StoredEvent]:
        # Optimistic first: plan from one consistent snapshot, then write only if the head
        # has not moved (one call, so the lock is never held across round trips). Under
        # heavy contention, fall back to taking the lock first, which always succeeds.
        for _ in range(OPTIMISTIC_ATTEMPTS):
            async with self.connection() as conn:
                plan, head = await self._plan(conn, batch, expected)
                if not plan.new or await self._write(conn, plan, head):
                    return plan.result
        async with self._transaction() as conn:
            plan, head = await self._plan(conn, batch, expected, locking=True)
            if plan.new and not await self._write(conn, plan, head):
                raise StoreError(f"{self.label}: the log head moved while locked (a bug)")
        return plan.result

    async def _plan(
        self,
        conn: asyncpg.Connection,
        batch: list[NewEvent],
        expected: Mapping[str, int] | None,
        *,
        locking: bool = False,
    ) -> tuple[AppendPlan, tuple[int, str]]:
        """Decide the append from the head, stored events and versions of one snapshot.

        With ``locking`` (inside a transaction) the head lock is taken by the same query.
        """
        ids = sorted({ev.event_id for ev in batch})
        streams = sorted(streams_named(batch, expected))
        rows = await conn.fetch(KNOWN_LOCKING if locking else KNOWN, ids, streams)
        if locking:
            locked = next(r for r in rows if r["kind"] == "h")
            seen = next(r for r in rows if r["kind"] == "s")
            if (locked["seq"], locked["hash"]) != (seen["seq"], seen["hash"]):
                rows = await conn.fetch(KNOWN, ids, streams)  # the lock is held: read again
        head: tuple[int, str] | None = None
        last_recorded_at: str | None = None
        stored: dict[str, StoredEvent] = {}
        versions: dict[str, int] = {}
        for row in rows:
            if row["kind"] == "h":
                head, last_recorded_at = (row["seq"], row["hash"]), row["recorded_at"]
            elif row["kind"] == "e":
                stored[row["event_id"]] = row_to_event(tuple(row)[1:])  # after "kind"
            elif row["kind"] == "v":
                versions[row["stream"]] = row["version"]
        if head is None:
            raise StoreError(f"{self.label}: log_head is empty (edited outside the monitor?)")
        plan = plan_append(
            batch,
            expected=expected,
            stored=stored,
            versions=versions,
            head=head,
            last_recorded_at=last_recorded_at,
            now=self._clock(),
        )
        return plan, head

    async def _write(
        self, conn: asyncpg.Connection, plan: AppendPlan, head: tuple[int, str]
    ) -> bool:
        """Write the planned rows if the head is still ``head``; False if it moved."""
        columns = list(zip(*(RawEvent.of(ev).values() for ev in plan.new), strict=True))
        return bool(await conn.fetchval(APPEND_IF_HEAD, *head, *columns, NOTIFY_CHANNEL))

    async def select(self, query: EventQuery) -> list[StoredEvent]:
        self._require_open()
        params: list[Any] = [query.after]
        clauses = ["seq > $1"]
        if query.until is not None:
            params.append(query.until)
            clauses.append(f"seq <= ${len(params)}")
        if query.stream is not None:
            params.append(query.stream)
            clauses.append(f"stream = ${len(params)}")
        if query.types is not None:
            params.append(list(query.types))
            clauses.append(f"type = ANY(${len(params)}::text[])")
        sql = f"SELECT {EVENT_COLUMNS} FROM events WHERE {' AND '.join(clauses)} ORDER BY seq"
        if query.limit is not None:
            params.append(query.limit)
            sql += f" LIMIT ${len(params)}"
        rows = await self._fetch(sql, *params)
        return [row_to_event(row) for row in rows]

    async def head(self) -> tuple[int, str]:
        rows = await self._fetch("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1")
        return (rows[0]["seq"], rows[0]["hash"]) if rows else (0, GENESIS_HASH)

    async def stream_version(self, stream: str) -> int:
        rows = await self._fetch(
            "SELECT COALESCE(MAX(version), 0) AS v FROM events WHERE stream = $1", stream
        )
        return int(rows[0]["v"])

    async def streams(self) -> list[str]:
        rows = await self._fetch("SELECT DISTINCT stream FROM events ORDER BY stream")
        return [row["stream"] for row in rows]

    async def get_event(self, seq: int) -> StoredEvent | None:
        rows = await self._fetch(f"SELECT {EVENT_COLUMNS} FROM events WHERE seq = $1", seq)
        return row_to_event(rows[0]) if rows else None

    async def event_count(self, *, until: int | None = None) -> int:
        if until is not None:
            rows = await self._fetch("SELECT count(*) AS n FROM events WHERE seq <= $1", until)
            return int(rows[0]["n"])
        rows = await self._fetch("SELECT count(*) AS n FROM events")
        return int(rows[0]["n"])

    # ------------------------------------------------------------------ waiting

    # A plain ``timeout`` argument (ASYNC109): waking early on a notification is the point,
    # which asyncio.timeout() around the call could not express.
    async def wait_for_events(self, after: int, timeout: float) -> None:  # noqa: ASYNC109
        """Return once the head is past ``after``, or after ``timeout`` seconds.

        Woken by NOTIFY from any writer's commit; every wake-up re-reads the head, so a
        notification that is lost (listener reconnecting) only delays by the poll period.
        """
        self._require_open()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, timeout)
        while True:
            listening = await self._listen()
            wake = self._wake  # taken before reading the head: no notification slips between
            seq, _ = await self.head()
            remaining = deadline - loop.time()
            if seq > after or remaining <= 0:
                return
            period = remaining if listening else min(remaining, POLL_FALLBACK)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), period)

    def _notified(self, *_: object) -> None:
        wake, self._wake = self._wake, asyncio.Event()
        wake.set()

    def _listener_lost(self, *_: object) -> None:
        self._listener = None
        self._notified()  # waiters fall back to polling at once

    async def _listen(self) -> bool:
        """Make sure a connection LISTENs on the channel; False when that is not possible."""
        if self._listener is not None and not self._listener.is_closed():
            return True
        async with self._listener_lock:
            if self._listener is not None and not self._listener.is_closed():
                return True
            try:
                conn = await asyncpg.connect(
                    self.target.dsn,
                    timeout=CONNECT_TIMEOUT,
                    server_settings=server_settings(self.target),
                )
                await conn.add_listener(NOTIFY_CHANNEL, self._notified)
                conn.add_termination_listener(self._listener_lost)
            except DRIVER_ERRORS as exc:
                logger.warning("cannot LISTEN on %s (%s); polling instead", self.label, exc)
                return False
            if self._closed:
                await conn.close()
                return False
            self._listener = conn
            return True

    # ------------------------------------------------------------------ blobs

    async def get_blob(self, sha256: str) -> bytes:
        rows = await self._fetch("SELECT codec, size, content FROM blobs WHERE sha256 = $1", sha256)
        if not rows:
            raise BlobMissingError(sha256)
        row = rows[0]
        return await decode_blob_async(sha256, row["codec"], row["size"], bytes(row["content"]))

    async def has_blob(self, sha256: str) -> bool:
        rows = await self._fetch("SELECT 1 FROM blobs WHERE sha256 = $1", sha256)
        return bool(rows)

    async def iterate_blob_ids(self) -> AsyncIterator[str]:
        last = ""
        while True:
            rows = await self._fetch(
                "SELECT sha256 FROM blobs WHERE sha256 > $1 ORDER BY sha256 LIMIT 1000", last
            )
            for row in rows:
                yield row["sha256"]
            if len(rows) < 1000:
                return
            last = rows[-1]["sha256"]

    # ------------------------------------------------------------------ cursors

    async def get_cursor(self, name: str) -> int:
        rows = await self._fetch("SELECT seq FROM cursors WHERE name = $1", name)
        return int(rows[0]["seq"]) if rows else 0

    async def write_cursor(self, name: str, seq: int) -> None:
        async with self.connection() as conn:
            await conn.execute(
                "INSERT INTO cursors (name, seq) VALUES ($1, $2) "
                "ON CONFLICT (name) DO UPDATE SET seq = excluded.seq",
                name,
                seq,
            )

    # ------------------------------------------------------------------ host pauses

    async def pause_host(
        self, host: str, until: datetime, *, reason: str, now: datetime
    ) -> HostPause:
        # One statement: workers recording pauses of one host at once keep the later end.
        async with self.coordination() as conn:
            row = await conn.fetchrow(_PAUSE_UPSERT, host, until, reason, now)
            if row is None:  # the stored pause ends later: it stays
                row = await conn.fetchrow(
                    "SELECT host, until, reason, recorded_at FROM host_pauses WHERE host = $1",
                    host,
                )
            await conn.execute("DELETE FROM host_pauses WHERE until <= $1", now)
        return pause_from_row(row["host"], row["until"], row["reason"], row["recorded_at"])

    async def host_pause(self, host: str, *, now: datetime) -> HostPause | None:
        async with self.coordination() as conn:
            row = await conn.fetchrow(
                "SELECT host, until, reason, recorded_at FROM host_pauses "
                "WHERE host = $1 AND until > $2",
                host,
                now,
            )
        if row is None:
            return None
        return pause_from_row(row["host"], row["until"], row["reason"], row["recorded_at"])

    async def host_pauses(self, *, now: datetime) -> list[HostPause]:
        async with self.coordination() as conn:
            rows = await conn.fetch(
                "SELECT host, until, reason, recorded_at FROM host_pauses "
                "WHERE until > $1 ORDER BY host",
                now,
            )
        return [pause_from_row(r["host"], r["until"], r["reason"], r["recorded_at"]) for r in rows]

    # ------------------------------------------------------------------ capabilities

    def work_sharing(self) -> WorkSharing:
        """Leases, locks and leadership for several workers (``coordination``)."""
        return PostgresWorkSharing(self)

    def raw_rows(self) -> RawRows:
        """The tables' rows as stored, for ``monitor migrate`` (``raw``)."""
        return PostgresRawRows(self)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(*DRIVER_ERRORS):
                await listener.close(timeout=5)
        self._notified()  # wake any waiter so it sees the store is closed
        await close_pool(self._side_pool)
        await close_pool(self._pool)
        logger.debug("closed event store %s", self.label)

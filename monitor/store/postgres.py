"""``PostgresEventStore``: the event store on PostgreSQL (asyncpg), for several workers.

Same contract as every backend (``monitor.store.base``); only the locking differs.

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
* **Append-only.** Triggers refuse UPDATE, DELETE and TRUNCATE on ``events`` and
  ``blobs``; only ``log_head``, ``cursors`` and ``leases`` change in place.
* **Migrations.** ``MIGRATIONS[n]`` takes a schema from version n - 1 to n; they run at
  open inside one transaction holding an advisory lock, so workers starting together
  migrate once. A schema newer than this code, or one holding another application's
  ``events`` table, is refused untouched.
* **Notifications.** The append transaction ends with ``pg_notify('monitor_events',
  seq)``, which PostgreSQL delivers only at commit; ``wait_for_events`` LISTENs on a
  connection of its own and re-reads the head on each wake-up (so a notification from
  another schema, or a lost one, costs a query, never a missed event), polling as a
  fallback if the listening connection drops.

URL: ``postgresql://user:password@host:port/dbname?schema=NAME`` — the ``schema``
parameter (optional; created if missing) lets several logs, or a test run, share one
database; advisory-lock keys are derived from it. Every other query parameter is
passed to asyncpg (``sslmode``, ``application_name``, …).

Every asyncpg / socket error is translated here (``translate_error``) into a
``StoreError`` whose message names the database (without its password).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import re
import socket
from collections.abc import AsyncIterator, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg

from monitor.clock import Clock, utc_now
from monitor.errors import BlobMissingError, StoreError, StoreUnavailableError
from monitor.events import GENESIS_HASH, NewEvent, StoredEvent, canonical_bytes
from monitor.store import describe_url
from monitor.store.base import (
    AppendPlan,
    PagedIteration,
    check_seq,
    normalize,
    plan_append,
    streams_named,
    type_filter,
)
from monitor.store.blobs import blob_id, decode_blob_async, encode_blob_async
from monitor.store.pauses import HostPause, pause_from_row

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 2
NOTIFY_CHANNEL = "monitor_events"
DEFAULT_POOL_SIZE = 8
COORDINATION_POOL_SIZE = 3
CONNECT_TIMEOUT = 10.0  # seconds to reach the server before the database counts as down
POLL_FALLBACK = 2.0  # seconds between head reads while the LISTEN connection is down
SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")

_REFUSE_CHANGE = """
CREATE FUNCTION monitor_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'P0001', HINT = 'the evidence log is never edited';
END
$$"""

# Appends the sealed rows only if the head is still where the writer read it: the head
# lock is then held for this one call and its commit, never across client round trips.
_APPEND_IF_HEAD = """
CREATE FUNCTION monitor_append(
    expected_seq bigint, expected_hash text,
    seqs bigint[], event_ids text[], streams text[], versions integer[], types text[],
    schemas integer[], recorded text[], datas bytea[], prev_hashes text[], hashes text[],
    channel text
) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    head_seq bigint;
    head_hash text;
    last integer := cardinality(seqs);
BEGIN
    -- Tables resolve through the caller's search_path: the store's schema.
    SELECT seq, hash INTO head_seq, head_hash FROM log_head FOR UPDATE;
    IF head_seq IS DISTINCT FROM expected_seq OR head_hash IS DISTINCT FROM expected_hash THEN
        RETURN false;
    END IF;
    INSERT INTO events (seq, event_id, stream, version, type, schema, recorded_at, data,
                        prev_hash, hash)
    SELECT * FROM unnest(seqs, event_ids, streams, versions, types, schemas, recorded, datas,
                         prev_hashes, hashes);
    UPDATE log_head SET seq = seqs[last], hash = hashes[last], recorded_at = recorded[last];
    -- Delivered by PostgreSQL only when (and if) the transaction commits.
    PERFORM pg_notify(channel, seqs[last]::text);
    RETURN true;
END
$$"""

# MIGRATIONS[n] takes a schema from version n - 1 to n; applied in order in one transaction.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        """CREATE TABLE schema_migrations (
            version integer PRIMARY KEY,
            applied_at timestamptz NOT NULL DEFAULT now()
        )""",
        """CREATE TABLE events (
            seq bigint PRIMARY KEY CHECK (seq > 0),
            event_id text NOT NULL UNIQUE,
            stream text NOT NULL,
            version integer NOT NULL CHECK (version > 0),
            type text NOT NULL,
            schema integer NOT NULL,
            recorded_at text NOT NULL,
            data bytea NOT NULL,  -- the exact canonical JSON that was hashed
            prev_hash text NOT NULL,
            hash text NOT NULL,
            UNIQUE (stream, version)
        )""",
        "CREATE INDEX events_type_seq ON events (type, seq)",
        "CREATE INDEX events_stream_seq ON events (stream, seq)",
        # One row, locked by every append: the serialisation point of the whole log.
        """CREATE TABLE log_head (
            id boolean PRIMARY KEY DEFAULT true CHECK (id),
            seq bigint NOT NULL,
            hash text NOT NULL,
            recorded_at text
        )""",
        f"INSERT INTO log_head (id, seq, hash) VALUES (true, 0, '{GENESIS_HASH}')",
        """CREATE TABLE blobs (
            sha256 text PRIMARY KEY,
            size bigint NOT NULL,
            codec text NOT NULL,
            content bytea NOT NULL
        )""",
        "CREATE TABLE cursors (name text PRIMARY KEY, seq bigint NOT NULL CHECK (seq >= 0))",
        # Work sharing between `monitor run` workers (monitor.daemon.workers): one row per source.
        """CREATE TABLE leases (
            source_id text PRIMARY KEY,
            cadence text NOT NULL,
            due_at timestamptz NOT NULL,
            owner text,
            lease_until timestamptz,
            last_started timestamptz
        )""",
        "CREATE INDEX leases_due ON leases (due_at)",
        _REFUSE_CHANGE,
        _APPEND_IF_HEAD,
        *(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION monitor_refuse_change()"
            for table in ("events", "blobs")
        ),
        *(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION monitor_refuse_change()"
            for table in ("events", "blobs")
        ),
    ),
    # Retry-After pauses (monitor.store.pauses), shared by every worker.
    2: (
        """CREATE TABLE host_pauses (
            host text PRIMARY KEY,
            until timestamptz NOT NULL,
            reason text NOT NULL,
            recorded_at timestamptz NOT NULL
        )""",
    ),
}

# Keeps the later end: a short Retry-After never shortens a long pause.
_PAUSE_UPSERT = """
INSERT INTO host_pauses AS p (host, until, reason, recorded_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (host) DO UPDATE
SET until = excluded.until, reason = excluded.reason, recorded_at = excluded.recorded_at
WHERE excluded.until > p.until
RETURNING host, until, reason, recorded_at
"""

_EVENT_COLUMNS = "seq, event_id, stream, version, type, schema, recorded_at, data, prev_hash, hash"

# SQLSTATE classes and codes meaning "the database cannot be used right now".
_UNAVAILABLE_CLASSES = ("08", "53", "57", "58", "28")
_UNAVAILABLE_CODES = {
    "3D000": "the database does not exist",
    "3F000": "the schema does not exist",
    "25006": "the server is read-only (a standby?)",
    "42501": "permission denied",
    "53100": "the disk is full",
    "53300": "too many connections",
}


# --------------------------------------------------------------------------- URLs and keys


@dataclass(frozen=True)
class PostgresTarget:
    """What a ``postgresql://`` URL names: the DSN for asyncpg, the schema, and a safe label."""

    dsn: str
    schema: str | None
    label: str  # the URL without its password, for messages


def parse_url(url: str) -> PostgresTarget:
    """Split our ``schema`` parameter off a PostgreSQL URL; everything else goes to asyncpg."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    schemas = [v for k, v in pairs if k == "schema"]
    rest = [(k, v) for k, v in pairs if k != "schema"]
    schema = schemas[-1] if schemas else None
    label = describe_url(url)
    if schema is not None and not SCHEMA_NAME.fullmatch(schema):
        raise StoreUnavailableError(
            f"{label}: schema {schema!r} is not a plain lowercase identifier "
            "(letters, digits, underscore; at most 63)"
        )
    scheme = "postgresql" if parts.scheme.lower() in ("postgres", "postgresql") else parts.scheme
    dsn = urlunsplit((scheme, parts.netloc, parts.path, urlencode(rest), parts.fragment))
    return PostgresTarget(dsn=dsn, schema=schema, label=label)


def advisory_key(schema: str, purpose: str) -> int:
    """A signed 64-bit advisory-lock key private to one schema's log and one purpose."""
    digest = hashlib.sha256(f"policy-monitor\x1f{schema}\x1f{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def server_settings(target: PostgresTarget) -> dict[str, str]:
    settings = {"application_name": f"policy-monitor[{os.getpid()}]"}
    if "application_name=" in target.dsn:
        settings.pop("application_name")
    if target.schema is not None:
        settings["search_path"] = f'"{target.schema}"'
    return settings


# --------------------------------------------------------------------------- errors


def translate_error(exc: BaseException, label: str) -> StoreError:
    """The StoreError a user should see for a driver or socket error on ``label``."""
    if isinstance(exc, asyncpg.PostgresError):
        state = str(getattr(exc, "sqlstate", "") or "")
        reason = _UNAVAILABLE_CODES.get(state)
        if reason is not None:
            return StoreUnavailableError(f"{label}: {reason} ({exc}); nothing was recorded")
        if state[:2] in _UNAVAILABLE_CLASSES:
            return StoreUnavailableError(
                f"{label}: the database is unavailable ({exc}); nothing was recorded"
            )
        return StoreError(f"{label}: {exc}")
    if isinstance(exc, ConnectionRefusedError | socket.gaierror):
        return StoreUnavailableError(
            f"cannot reach PostgreSQL at {label} ({exc}); is the server running and the URL right?"
        )
    if isinstance(exc, asyncpg.exceptions.ConnectionDoesNotExistError | ConnectionError):
        return StoreUnavailableError(
            f"{label}: the connection to PostgreSQL was lost ({exc}); if an append was in "
            "flight it may or may not have committed — retrying it is safe"
        )
    if isinstance(exc, OSError | TimeoutError):
        return StoreUnavailableError(
            f"cannot reach PostgreSQL at {label} ({exc or type(exc).__name__}); "
            "is the server running and the URL right?"
        )
    if isinstance(exc, asyncpg.InterfaceError):
        return StoreError(f"{label}: {exc}")
    return StoreError(f"{label}: {type(exc).__name__}: {exc}")


_DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


def _row_to_event(row: Mapping[str, Any]) -> StoredEvent:
    seq = row["seq"]
    try:
        decoded = json.loads(bytes(row["data"]).decode("utf-8"))
    except (TypeError, ValueError) as exc:  # includes UnicodeDecodeError
        raise StoreError(
            f"seq {seq}: stored data is not valid JSON (edited outside the monitor?)"
        ) from exc
    if not isinstance(decoded, dict):
        raise StoreError(
            f"seq {seq}: stored data is not a JSON object (edited outside the monitor?)"
        )
    return StoredEvent(
        seq=seq,
        event_id=row["event_id"],
        stream=row["stream"],
        version=row["version"],
        type=row["type"],
        schema=row["schema"],
        recorded_at=row["recorded_at"],
        data=decoded,
        prev_hash=row["prev_hash"],
        hash=row["hash"],
    )


def event_row(ev: StoredEvent) -> tuple[Any, ...]:
    """The ``events`` row of a sealed event, data as the exact bytes that were hashed."""
    return (
        ev.seq,
        ev.event_id,
        ev.stream,
        ev.version,
        ev.type,
        ev.schema,
        ev.recorded_at,
        canonical_bytes(ev.data),
        ev.prev_hash,
        ev.hash,
    )


INSERT_EVENTS = f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)"
MOVE_HEAD = "UPDATE log_head SET seq = $1, hash = $2, recorded_at = $3"

# In one snapshot: the head (kind h), the batch's stored events (e) and its streams'
# versions (v) — consistent with each other even without the head lock.
KNOWN = f"""
SELECT 'h' AS kind, seq, NULL AS event_id, NULL AS stream, NULL::integer AS version,
       NULL AS type, NULL::integer AS schema, recorded_at, NULL::bytea AS data,
       NULL AS prev_hash, hash
FROM log_head
UNION ALL
SELECT 'e', {_EVENT_COLUMNS} FROM events WHERE event_id = ANY($1::text[])
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
SELECT 'e', {_EVENT_COLUMNS} FROM events WHERE event_id = ANY($1::text[])
UNION ALL
SELECT 'v', NULL, NULL, stream, MAX(version), NULL, NULL, NULL, NULL, NULL, NULL
FROM events WHERE stream = ANY($2::text[]) GROUP BY stream
"""

APPEND_IF_HEAD = "SELECT monitor_append($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
OPTIMISTIC_ATTEMPTS = 1  # contention beyond one retry is cheaper to queue on the lock


# --------------------------------------------------------------------------- the store


class PostgresEventStore(PagedIteration):
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
                schema = await _prepare(conn, target, create)
        except _DRIVER_ERRORS as exc:
            await _close_pool(pool)
            raise translate_error(exc, target.label) from exc
        except BaseException:
            await _close_pool(pool)
            raise
        logger.debug("opened event store %s (schema %s)", target.label, schema)
        return cls(target, pool, schema, clock=clock)

    def _require_open(self) -> None:
        if self._closed:
            raise StoreUnavailableError(f"the event store {self.label} is closed")

    @contextlib.contextmanager
    def _translating(self) -> Iterator[None]:
        try:
            yield
        except _DRIVER_ERRORS as exc:
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

    async def append(
        self, events: Sequence[NewEvent], *, expected: Mapping[str, int] | None = None
    ) -> list[StoredEvent]:
        self._require_open()
        batch = normalize(events)
        if not batch:
            return []
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
                stored[row["event_id"]] = _row_to_event(row)
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
        columns = list(zip(*(event_row(ev) for ev in plan.new), strict=True))
        return bool(await conn.fetchval(APPEND_IF_HEAD, *head, *columns, NOTIFY_CHANNEL))

    async def read(
        self,
        *,
        after: int = 0,
        until: int | None = None,
        stream: str | None = None,
        types: Collection[str] | None = None,
        limit: int | None = None,
    ) -> list[StoredEvent]:
        self._require_open()
        check_seq("after", after)
        chosen = type_filter(types)
        if chosen == () or (limit is not None and limit <= 0):
            return []
        params: list[Any] = [after]
        clauses = ["seq > $1"]
        if until is not None:
            params.append(until)
            clauses.append(f"seq <= ${len(params)}")
        if stream is not None:
            params.append(stream)
            clauses.append(f"stream = ${len(params)}")
        if chosen is not None:
            params.append(list(chosen))
            clauses.append(f"type = ANY(${len(params)}::text[])")
        sql = f"SELECT {_EVENT_COLUMNS} FROM events WHERE {' AND '.join(clauses)} ORDER BY seq"
        if limit is not None:
            params.append(limit)
            sql += f" LIMIT ${len(params)}"
        rows = await self._fetch(sql, *params)
        return [_row_to_event(row) for row in rows]

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
        rows = await self._fetch(f"SELECT {_EVENT_COLUMNS} FROM events WHERE seq = $1", seq)
        return _row_to_event(rows[0]) if rows else None

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
            except _DRIVER_ERRORS as exc:
                logger.warning("cannot LISTEN on %s (%s); polling instead", self.label, exc)
                return False
            if self._closed:
                await conn.close()
                return False
            self._listener = conn
            return True

    # ------------------------------------------------------------------ blobs

    async def put_blob(self, data: bytes) -> str:
        sha256 = blob_id(data)
        if await self.has_blob(sha256):
            return sha256  # content-addressed: same name, same bytes; skip compressing
        blob = await encode_blob_async(data)
        async with self.connection() as conn:
            await conn.execute(
                "INSERT INTO blobs (sha256, size, codec, content) VALUES ($1, $2, $3, $4) "
                "ON CONFLICT (sha256) DO NOTHING",
                blob.sha256,
                blob.size,
                blob.codec,
                blob.content,
            )
        return sha256

    async def get_blob(self, sha256: str) -> bytes:
        rows = await self._fetch("SELECT codec, size, content FROM blobs WHERE sha256 = $1", sha256)
        if not rows:
            raise BlobMissingError(sha256)
        row = rows[0]
        return await decode_blob_async(sha256, row["codec"], row["size"], bytes(row["content"]))

    async def get_stored_blob(self, sha256: str) -> tuple[int, str, bytes] | None:
        """A blob exactly as stored (size, codec, compressed bytes), for verbatim copies."""
        rows = await self._fetch("SELECT size, codec, content FROM blobs WHERE sha256 = $1", sha256)
        if not rows:
            return None
        return rows[0]["size"], rows[0]["codec"], bytes(rows[0]["content"])

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

    async def set_cursor(self, name: str, seq: int) -> None:
        check_seq("cursor seq", seq)
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

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(*_DRIVER_ERRORS):
                await listener.close(timeout=5)
        self._notified()  # wake any waiter so it sees the store is closed
        await _close_pool(self._side_pool)
        await _close_pool(self._pool)
        logger.debug("closed event store %s", self.label)


async def _close_pool(pool: asyncpg.Pool | None) -> None:
    if pool is None:
        return
    try:
        # Let an append in flight commit; a stuck connection is cut after the timeout.
        await asyncio.wait_for(pool.close(), 10)
    except (TimeoutError, *_DRIVER_ERRORS):
        logger.warning("closing the PostgreSQL pool timed out; terminating it", exc_info=True)
        pool.terminate()


async def _prepare(conn: asyncpg.Connection, target: PostgresTarget, create: bool) -> str:
    """Create the schema if asked, check the tables are ours, and migrate; returns the schema."""
    lock_schema = target.schema or "public"
    async with conn.transaction():
        # Held to commit: workers starting together create and migrate exactly once.
        await conn.execute("SELECT pg_advisory_xact_lock($1)", advisory_key(lock_schema, "migrate"))
        if target.schema is not None:
            exists = await conn.fetchval(
                "SELECT 1 FROM pg_namespace WHERE nspname = $1", target.schema
            )
            if not exists:
                if not create:
                    raise StoreUnavailableError(
                        f"{target.label}: schema {target.schema!r} does not exist; "
                        "run `monitor check` first"
                    )
                await conn.execute(f'CREATE SCHEMA "{target.schema}"')
        schema = await conn.fetchval("SELECT current_schema()")
        if schema is None:
            raise StoreUnavailableError(
                f"{target.label}: no schema on the search_path exists; create one or add "
                "?schema=NAME to the URL"
            )
        tables = {
            row["table_name"]
            for row in await conn.fetch(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = $1",
                schema,
            )
        }
        current = 0
        if "schema_migrations" in tables:
            current = int(
                await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
            )
        elif "events" in tables:
            raise StoreUnavailableError(
                f"{target.label}: schema {schema!r} has an events table that is not a monitor "
                "log; refusing to touch it — use another database or ?schema=NAME"
            )
        if current > SCHEMA_VERSION:
            raise StoreUnavailableError(
                f"{target.label} uses schema {current}, newer than this policy-monitor knows "
                f"({SCHEMA_VERSION}); upgrade policy-monitor to open it"
            )
        if current == 0 and not create:
            raise StoreUnavailableError(
                f"no monitor log in {target.label} (schema {schema!r}); run `monitor check` first"
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            logger.info("migrating %s (schema %s) to version %d", target.label, schema, version)
            for statement in MIGRATIONS[version]:
                await conn.execute(statement)
            await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
    return str(schema)

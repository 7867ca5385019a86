"""``WorkSharing`` on PostgreSQL: the ``leases`` table, advisory locks, and leader seats.

PostgreSQL does all the coordination; workers never talk to each other (the scheduling
rules built on it are in ``monitor.daemon.workers``).

* **Leases.** A worker claims due rows with ``SELECT … FOR UPDATE SKIP LOCKED`` and
  stamps them ``lease_until = now() + lease_period`` in the same statement, so a due
  row goes to exactly one worker. Every lease time is the database's ``now()``, so
  skew between machines does not matter. Lease statements run on the store's
  coordination pool (``synchronous_commit = off``, never queued behind appends).
* **Locks.** ``exclusive`` holds a session-level ``pg_advisory_lock`` on a pooled
  connection for the block; keys are private to one schema and one purpose.
* **Leader seats.** A seat is a connection of its own holding a session-level
  ``pg_try_advisory_lock``: PostgreSQL releases it when the session ends — a crash, a
  SIGKILL, a lost network. A leader stepping down sends ``NOTIFY monitor_leader``,
  which every other seat LISTENs for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import asyncpg

from monitor.errors import StoreUnavailableError
from monitor.store.base import LeaseClaim, NextDue
from monitor.store.postgres.connect import (
    CONNECT_TIMEOUT,
    DRIVER_ERRORS,
    advisory_key,
    server_settings,
    translate_error,
)

if TYPE_CHECKING:
    from monitor.store.postgres.store import PostgresEventStore

log = logging.getLogger(__name__)

LEADER_CHANNEL = "monitor_leader"

# Among due rows a worker takes those it checked last first: its cached state of them is
# current, where another worker's source must be re-read from the log.
_CLAIM = """
WITH due AS (
    SELECT source_id, owner FROM leases
    WHERE due_at <= now() AND (lease_until IS NULL OR lease_until < now())
    ORDER BY owner IS DISTINCT FROM $1, due_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
UPDATE leases AS l
SET owner = $1, lease_until = now() + make_interval(secs => $3), last_started = now()
FROM due
WHERE l.source_id = due.source_id
RETURNING l.source_id, l.last_started, due.owner IS DISTINCT FROM $1 AS stale
"""

_NEXT_WAKE = """
SELECT EXTRACT(EPOCH FROM (LEAST(
    (SELECT MIN(due_at) FROM leases WHERE lease_until IS NULL),
    (SELECT MIN(GREATEST(due_at, lease_until)) FROM leases WHERE lease_until IS NOT NULL)
) - now()))::float8
"""

_RENEW = """
UPDATE leases SET lease_until = now() + make_interval(secs => $3)
WHERE owner = $1 AND source_id = ANY($2::text[]) AND lease_until IS NOT NULL
RETURNING source_id
"""

# The next due time ($3 absolute, or $5 seconds from now) is only written if the cadence
# it was computed for is still current.
_RELEASE = """
UPDATE leases
SET lease_until = NULL,
    due_at = CASE WHEN cadence = $4
                  THEN GREATEST(COALESCE($3, now() + make_interval(secs => $5)), now())
                  ELSE due_at END
WHERE source_id = $1 AND owner = $2
RETURNING due_at
"""

# A new source gets its first check time; a row keeps its due time unless its cadence
# changed, or it is overdue by more than $4 seconds while unleased.
_UPSERT = """
INSERT INTO leases (source_id, cadence, due_at) VALUES ($1, $2, $3)
ON CONFLICT (source_id) DO UPDATE SET cadence = excluded.cadence, due_at = excluded.due_at
WHERE leases.cadence <> excluded.cadence
   OR (leases.lease_until IS NULL AND leases.due_at < now() - make_interval(secs => $4))
"""

# Due when the pause ends — by the database's clock ($3) and, should the worker's clock
# run behind, by its own ($4 seconds from now).
_POSTPONE = """
UPDATE leases SET lease_until = NULL,
    due_at = GREATEST($3, now() + make_interval(secs => $4))
WHERE source_id = $1 AND owner = $2
RETURNING due_at
"""

_GIVE_BACK_ALL = "UPDATE leases SET lease_until = NULL WHERE owner = $1 AND lease_until IS NOT NULL"
_GIVE_BACK_ONE = "UPDATE leases SET lease_until = NULL WHERE owner = $1 AND source_id = $2"


class PostgresWorkSharing:
    """``WorkSharing`` on one store's schema (``monitor.store.base`` states the rules)."""

    def __init__(self, store: PostgresEventStore) -> None:
        self._store = store

    def key(self, purpose: str) -> int:
        """The advisory-lock key of ``purpose`` in this schema (as ``pg_locks`` shows it)."""
        return advisory_key(self._store.schema, purpose)

    # ------------------------------------------------------------------ leases

    async def sync_leases(
        self, wanted: Mapping[str, tuple[str, datetime]], *, overdue_after: float
    ) -> tuple[list[str], dict[str, datetime]]:
        ids = sorted(wanted)
        async with self._store.coordination() as conn, conn.transaction():
            deleted = await conn.fetch(
                "DELETE FROM leases WHERE source_id <> ALL($1::text[]) RETURNING source_id", ids
            )
            await conn.executemany(_UPSERT, [(sid, *wanted[sid], overdue_after) for sid in ids])
            rows = await conn.fetch("SELECT source_id, due_at FROM leases")
        return [r["source_id"] for r in deleted], {r["source_id"]: r["due_at"] for r in rows}

    async def claim_due(self, owner: str, limit: int, lease_period: float) -> list[LeaseClaim]:
        async with self._store.coordination() as conn:
            rows = await conn.fetch(_CLAIM, owner, limit, lease_period)
        return [LeaseClaim(r["source_id"], r["last_started"], bool(r["stale"])) for r in rows]

    async def seconds_to_next_due(self) -> float | None:
        async with self._store.coordination() as conn:
            seconds = await conn.fetchval(_NEXT_WAKE)
        return None if seconds is None else float(seconds)

    async def renew_leases(
        self, owner: str, source_ids: Sequence[str], lease_period: float
    ) -> set[str]:
        async with self._store.coordination() as conn:
            rows = await conn.fetch(_RENEW, owner, list(source_ids), lease_period)
        return {r["source_id"] for r in rows}

    async def release_lease(
        self, source_id: str, owner: str, cadence: str, due: NextDue
    ) -> datetime | None:
        async with self._store.coordination() as conn:
            when: datetime | None = await conn.fetchval(
                _RELEASE, source_id, owner, due.at, cadence, due.after
            )
        return when

    async def postpone_lease(
        self, source_id: str, owner: str, until: datetime, *, remaining: float
    ) -> datetime | None:
        async with self._store.coordination() as conn:
            due: datetime | None = await conn.fetchval(
                _POSTPONE, source_id, owner, until, remaining
            )
        return due

    async def give_back(self, owner: str, source_id: str | None = None) -> None:
        async with self._store.coordination() as conn:
            if source_id is None:
                await conn.execute(_GIVE_BACK_ALL, owner)
            else:
                await conn.execute(_GIVE_BACK_ONE, owner, source_id)

    # ------------------------------------------------------------------ locks

    @contextlib.asynccontextmanager
    async def exclusive(self, purpose: str) -> AsyncIterator[None]:
        key = self.key(purpose)
        async with self._store.connection() as conn:
            await conn.execute("SELECT pg_advisory_lock($1)", key)
            try:
                yield
            finally:
                with contextlib.suppress(*DRIVER_ERRORS):  # a lost session released it anyway
                    await conn.execute("SELECT pg_advisory_unlock($1)", key)

    @contextlib.asynccontextmanager
    async def exclusive_or_skip(self, purpose: str) -> AsyncIterator[bool]:
        key = self.key(purpose)
        async with self._store.connection() as conn:
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", key):
                yield False
                return
            try:
                yield True
            finally:
                with contextlib.suppress(*DRIVER_ERRORS):
                    await conn.execute("SELECT pg_advisory_unlock($1)", key)

    def leader_seat(self, purpose: str, on_free: Callable[[], None]) -> PostgresLeaderSeat:
        return PostgresLeaderSeat(self._store, purpose, self.key(purpose), on_free)


class PostgresLeaderSeat:
    """A ``LeaderSeat``: a session-level advisory lock on a connection of its own."""

    def __init__(
        self, store: PostgresEventStore, purpose: str, key: int, on_free: Callable[[], None]
    ) -> None:
        self._store = store
        self.purpose = purpose
        self.key = key
        self._on_free = on_free
        self._conn: asyncpg.Connection | None = None
        self._leading = False

    async def _connect(self) -> asyncpg.Connection:
        if self._conn is not None and not self._conn.is_closed():
            return self._conn
        target = self._store.target
        settings = server_settings(target)
        settings.setdefault("application_name", f"policy-monitor[{os.getpid()}]")
        settings["application_name"] += f" {self.purpose}"
        conn = await asyncpg.connect(target.dsn, timeout=CONNECT_TIMEOUT, server_settings=settings)
        await conn.add_listener(LEADER_CHANNEL, self._released_elsewhere)
        self._conn = conn
        return conn

    def _released_elsewhere(self, *_: object) -> None:
        self._on_free()

    async def try_take(self) -> bool:
        try:
            conn = await self._connect()
            self._leading = bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", self.key))
        except DRIVER_ERRORS as exc:
            await self.close()
            raise translate_error(exc, self._store.label) from exc
        return self._leading

    async def check(self, timeout: float) -> None:  # noqa: ASYNC109
        if not self._leading:
            raise StoreUnavailableError(f"this worker does not hold the {self.purpose} lock")
        conn = self._conn
        try:
            if conn is None or conn.is_closed():
                raise ConnectionError("the leader's connection is closed")
            async with asyncio.timeout(timeout):
                await conn.fetchval("SELECT 1")
        except (*DRIVER_ERRORS, ConnectionError) as exc:
            await self.close()  # the session, and with it the lock, is gone or unreachable
            raise translate_error(exc, self._store.label) from exc

    async def step_down(self) -> None:
        if not self._leading:
            return
        self._leading = False
        conn = self._conn
        if conn is None or conn.is_closed():
            return
        try:
            await conn.execute("SELECT pg_advisory_unlock($1)", self.key)
            await conn.execute("SELECT pg_notify($1, $2)", LEADER_CHANNEL, self.purpose)
        except DRIVER_ERRORS:
            await self.close()  # closing the session releases the lock just as well

    async def close(self) -> None:
        self._leading = False
        conn, self._conn = self._conn, None
        if conn is None:
            return
        with contextlib.suppress(*DRIVER_ERRORS):
            await asyncio.wait_for(conn.close(), 5)
        if not conn.is_closed():
            conn.terminate()

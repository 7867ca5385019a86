"""Several ``monitor run`` workers on one PostgreSQL database: leases, a leader, wake-ups.

PostgreSQL does all the coordination; workers never talk to each other.

* **Leases** (``LeaseScheduler``): one ``leases`` row per source (``due_at``, ``owner``,
  ``lease_until``). A worker claims due rows with ``SELECT … FOR UPDATE SKIP LOCKED``
  and stamps them ``lease_until = now + lease_period`` in the same statement, so a due
  check goes to exactly one worker; while the check runs the lease is renewed every
  third of the period; when it ends the row gets its next due time and is freed. A
  worker that dies stops renewing: its rows become claimable when ``lease_until``
  passes, and every worker sleeps no later than the earliest expiry, so its sources
  are taken over within one lease period. All lease times are the database's clock
  (``now()``), so skew between machines does not matter. Among due sources a worker
  takes those it checked last first (its cached state of them is current).
* **Next check**: an interval source is due ``interval ± jitter`` after its check
  *ended* (measured by the database when the lease is released), so however long a
  check queued for a slot or waited on a slow site, a page is never fetched twice
  within ``interval - jitter``, whichever workers run it; the cost is that the period
  is the interval plus the check's duration. A cron source is due at the next cron
  time after its check started, + jitter.
* **Leader** (``Leadership``): exactly one worker runs the notifier, the one holding a
  session-level ``pg_try_advisory_lock`` on a connection of its own. PostgreSQL
  releases the lock when that session ends — a crash, a SIGKILL, a lost network — and
  a standby, retrying every ``retry_interval`` (at once on a ``NOTIFY monitor_leader``
  from a leader stepping down), takes over. A heartbeat on the lock connection ends
  the term when it breaks, so a cut-off leader stops sending.
* **Wake-ups**: ``wait_for_events`` returns when the log's head passes a seq —
  LISTEN/NOTIFY on PostgreSQL (``PostgresEventStore.wait_for_events``), polling the
  head on any other store; ``follow_log`` turns that into an event the notifier waits on.

Delivery stays *at least once* across a fail-over: a leader killed between an
Apprise send and its ``NotificationSent`` commit has that one alert sent again by its
successor (see ``monitor.notify.notifier``); nothing is lost.

Every worker must run the same ``sources.toml`` (one ConfigMap, one file): ``sync``
makes the ``leases`` table match the caller's sources, so two configurations would
undo each other's edits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from monitor.clock import Clock, utc_now
from monitor.config.settings import SourceSettings
from monitor.daemon.scheduler import (
    Cadence,
    ScheduleChanges,
    cadence_of,
    first_check_at,
    next_cron_time,
    next_interval_check,
)
from monitor.errors import StoreError
from monitor.store import EventStore
from monitor.store.postgres import (
    CONNECT_TIMEOUT,
    PostgresEventStore,
    advisory_key,
    server_settings,
    translate_error,
)

log = logging.getLogger(__name__)

DEFAULT_LEASE_PERIOD = 60.0  # seconds: how long a silent worker keeps its sources
DEFAULT_POLL_INTERVAL = 2.0  # seconds: the longest a worker sleeps without looking
LEADER_CHANNEL = "monitor_leader"
LEASE_PERIOD_ENV = "MONITOR_LEASE_PERIOD"

# Like scheduler.OnDue; returning False means "not checked" (e.g. the worker is stopping):
# the lease is handed back with its due time unchanged, for another worker to take now.
# Returning a datetime means "not checked before then" (its host asked for quiet until
# that moment): the lease is freed with that due time, so no worker holds it meanwhile.
OnDue = Callable[[str], Awaitable[bool | datetime | None]]
_DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


def worker_name() -> str:
    """Who holds a lease, as shown in the ``leases`` table: host, pid and a random tag."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def lease_period_from(environ: Mapping[str, str]) -> float:
    """``MONITOR_LEASE_PERIOD`` (seconds) if set and sane, else the default."""
    text = environ.get(LEASE_PERIOD_ENV, "").strip()
    if not text:
        return DEFAULT_LEASE_PERIOD
    try:
        value = float(text)
    except ValueError:
        log.warning(
            "%s=%r is not a number of seconds; using %g",
            LEASE_PERIOD_ENV,
            text,
            DEFAULT_LEASE_PERIOD,
        )
        return DEFAULT_LEASE_PERIOD
    if value < 1:
        log.warning("%s=%r is below 1 second; using 1", LEASE_PERIOD_ENV, text)
        return 1.0
    return value


# --------------------------------------------------------------------------- waking up


# ``timeout`` is a plain argument (ASYNC109): returning early on new events is the point.
async def wait_for_events(
    store: EventStore,
    after: int,
    timeout: float,  # noqa: ASYNC109
    *,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
) -> None:
    """Return once the log's head is past ``after``, or after ``timeout`` seconds.

    LISTEN/NOTIFY on PostgreSQL; on other stores the head is polled every
    ``poll_interval`` seconds. The caller reads the new events itself.
    """
    if isinstance(store, PostgresEventStore):
        await store.wait_for_events(after, timeout)
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max(0.0, timeout)
    while True:
        seq, _ = await store.head()
        remaining = deadline - loop.time()
        if seq > after or remaining <= 0:
            return
        await asyncio.sleep(min(poll_interval, remaining))


async def follow_log(
    store: EventStore,
    wake: asyncio.Event,
    stop: asyncio.Event,
    *,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
) -> None:
    """Set ``wake`` whenever any writer (any worker) appends, until ``stop`` is set."""
    after, _ = await store.head()
    while not stop.is_set():
        try:
            await wait_for_events(store, after, poll_interval, poll_interval=poll_interval)
            seq, _ = await store.head()
        except StoreError as exc:
            log.warning("following the log failed, will retry: %s", exc)
            await _sleep_unless(stop, poll_interval)
            continue
        if seq > after:
            after = seq
            wake.set()


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(max(0.0, seconds)):
            await stop.wait()


@contextlib.asynccontextmanager
async def exclusive(store: EventStore, purpose: str) -> AsyncIterator[None]:
    """Run a block in one worker at a time (PostgreSQL advisory lock); a no-op elsewhere.

    Workers starting together would otherwise record the same configuration three
    times over, queueing on the log head for every source; in turn, the second finds
    it recorded and appends nothing.
    """
    if not isinstance(store, PostgresEventStore):
        yield
        return
    key = advisory_key(store.schema, purpose)
    async with store.connection() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", key)
        try:
            yield
        finally:
            with contextlib.suppress(*_DRIVER_ERRORS):  # a lost session released it anyway
                await conn.execute("SELECT pg_advisory_unlock($1)", key)


@contextlib.asynccontextmanager
async def exclusive_or_skip(store: EventStore, purpose: str) -> AsyncIterator[bool]:
    """Like ``exclusive``, without waiting: yields False at once while another worker
    holds ``purpose`` (background tasks skip a pass rather than queue for minutes)."""
    if not isinstance(store, PostgresEventStore):
        yield True
        return
    key = advisory_key(store.schema, purpose)
    async with store.connection() as conn:
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", key):
            yield False
            return
        try:
            yield True
        finally:
            with contextlib.suppress(*_DRIVER_ERRORS):
                await conn.execute("SELECT pg_advisory_unlock($1)", key)


# --------------------------------------------------------------------------- leases


def cadence_key(cadence: Cadence) -> str:
    """How a cadence is stored in ``leases.cadence``: equal keys, equal schedules."""
    if cadence.cron is not None:
        return f"cron {cadence.cron} +{cadence.jitter:g}"
    return f"interval {cadence.interval} ±{cadence.jitter:g}"


@dataclass(frozen=True)
class NextDue:
    """When a checked source is due again: at ``at``, or ``after`` seconds from the end."""

    at: datetime | None = None
    after: float | None = None


def next_due(cadence: Cadence, started: datetime, rng: random.Random) -> NextDue:
    """The next due time of a source whose check (claimed at ``started``) just ended."""
    if cadence.cron is not None:
        jitter = timedelta(seconds=rng.uniform(0, cadence.jitter))
        return NextDue(at=next_cron_time(cadence.cron, started) + jitter)
    assert cadence.interval is not None
    # next_interval_check from a zero base: interval ± jitter, as CheckScheduler draws it.
    base = datetime(2000, 1, 1, tzinfo=UTC)
    delay = next_interval_check(base, cadence.interval, cadence.jitter, rng) - base
    return NextDue(after=delay.total_seconds())


@dataclass(frozen=True)
class Claim:
    """A source this worker holds: since when, and whether another worker checked it last."""

    source_id: str
    started: datetime
    stale: bool  # the previous check was another worker's: cached state may be behind


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
# changed, or it is overdue by more than a lease period — no worker ran it (all were
# stopped): then, as after a single daemon's restart, the overdue checks are spread over
# the jitter window instead of all firing at once.
_UPSERT = """
INSERT INTO leases (source_id, cadence, due_at) VALUES ($1, $2, $3)
ON CONFLICT (source_id) DO UPDATE SET cadence = excluded.cadence, due_at = excluded.due_at
WHERE leases.cadence <> excluded.cadence
   OR (leases.lease_until IS NULL AND leases.due_at < now() - make_interval(secs => $4))
"""

# A check its host's Retry-After postponed: free, and due when the pause ends — by the
# database's clock ($3) and, should this worker's clock run behind, by its own ($4
# seconds from now): a claim the worker would only postpone again is never due.
_POSTPONE = """
UPDATE leases SET lease_until = NULL,
    due_at = GREATEST($3, now() + make_interval(secs => $4))
WHERE source_id = $1 AND owner = $2
RETURNING due_at
"""

# Checks that never finished (cancelled at shutdown): due now, for another worker.
_GIVE_BACK = "UPDATE leases SET lease_until = NULL WHERE owner = $1 AND lease_until IS NOT NULL"


class LeaseScheduler:
    """``CheckScheduler``'s job for several workers: calls ``on_due(source_id)`` for each
    due source this worker claims (``on_due`` returning False: not checked, see ``OnDue``).

    Same surface as ``monitor.daemon.scheduler.CheckScheduler`` (``start``, ``pause``,
    ``shutdown``, ``sync``, ``cadence``, ``next_check``, ``running``) plus ``aclose``,
    which hands leases still held back at once instead of letting them expire.
    ``sync`` returns at once; the loop writes it to the ``leases`` table before its
    next claim (``await flush()`` waits for that). ``on_claim(source_id)`` is called
    before ``on_due`` when another worker checked the source last, so the caller can
    drop a cached state that may be behind the log.
    """

    def __init__(
        self,
        on_due: OnDue | Callable[[str], Awaitable[None]],
        *,
        store: PostgresEventStore,
        clock: Clock = utc_now,
        rng: random.Random | None = None,
        lease_period: float = DEFAULT_LEASE_PERIOD,
        capacity: int = 16,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        owner: str | None = None,
        on_claim: Callable[[str], None] | None = None,
    ) -> None:
        if lease_period <= 0:
            raise ValueError(f"lease_period must be positive, not {lease_period}")
        self._on_due = on_due
        self._store = store
        self._clock = clock
        self._rng = rng or random.Random()
        self.lease_period = float(lease_period)
        self.capacity = max(1, capacity)
        self.poll_interval = poll_interval
        self.owner = owner or worker_name()
        self._on_claim = on_claim
        self._cadences: dict[str, Cadence] = {}
        self._due: dict[str, datetime] = {}
        self._pending: tuple[dict[str, Cadence], dict[str, datetime]] | None = None
        self._synced = asyncio.Event()
        self._synced.set()
        self._held: dict[str, asyncio.Task[None]] = {}
        self._kick = asyncio.Event()
        self._paused = False
        self._tasks: list[asyncio.Task[None]] = []
        self.claimed = 0  # checks this worker has claimed since it started

    # ------------------------------------------------------------------ the CheckScheduler API

    @property
    def running(self) -> bool:
        return any(not t.done() for t in self._tasks)

    def start(self) -> None:
        """Start claiming (needs a running event loop)."""
        if self.running:
            return
        self._paused = False
        self._tasks = [
            asyncio.create_task(self._claim_loop(), name="lease-claims"),
            asyncio.create_task(self._renew_loop(), name="lease-renewals"),
        ]

    def pause(self) -> None:
        """Claim nothing more; checks already running keep their leases until they end."""
        self._paused = True
        self._kick.set()

    def shutdown(self) -> None:
        """Stop the loops. Leases still held expire after one lease period (see ``aclose``)."""
        self._paused = True
        for task in self._tasks:
            task.cancel()

    async def aclose(self) -> None:
        """Stop, then free the leases of checks that did not finish, for others to take now."""
        self.shutdown()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        try:
            async with self._store.coordination() as conn:
                await conn.execute(_GIVE_BACK, self.owner)
        except StoreError as exc:
            log.warning("could not hand back this worker's leases (they expire anyway): %s", exc)

    def cadence(self, source_id: str) -> Cadence | None:
        return self._cadences.get(source_id)

    def next_check(self, source_id: str) -> datetime | None:
        """The due time this worker last saw in the shared table (None: unknown source)."""
        return self._due.get(source_id)

    def sync(
        self,
        sources: Iterable[SourceSettings],
        *,
        last_checked: Mapping[str, datetime],
        jitter_percent: int,
        default_interval: int,
    ) -> ScheduleChanges:
        """Make the shared ``leases`` table match ``sources`` (applied by the claim loop).

        New sources get a first check time as ``CheckScheduler`` would give them; a
        source whose cadence changed is retimed; rows of sources not in ``sources``
        are deleted. A source whose cadence is unchanged keeps its due time.
        """
        now = self._clock()
        wanted = {
            s.id: cadence_of(
                s, jitter_percent=jitter_percent, default_interval=default_interval, now=now
            )
            for s in sources
        }
        removed = sorted(set(self._cadences) - set(wanted))
        added = sorted(set(wanted) - set(self._cadences))
        rescheduled = sorted(
            sid for sid in set(wanted) & set(self._cadences) if wanted[sid] != self._cadences[sid]
        )
        first = {
            sid: first_check_at(cadence, last_checked.get(sid), now, self._rng)
            for sid, cadence in wanted.items()
        }
        self._cadences = wanted
        for sid in removed:
            self._due.pop(sid, None)
        self._pending = (wanted, first)
        self._synced.clear()
        self._kick.set()
        return ScheduleChanges(
            added=tuple(added), rescheduled=tuple(rescheduled), removed=tuple(removed)
        )

    async def flush(self) -> None:
        """Wait until the last ``sync`` is in the shared table."""
        if self._pending is not None and not self.running:
            await self._apply_sync()
        await self._synced.wait()

    # ------------------------------------------------------------------ the loops

    async def _claim_loop(self) -> None:
        while True:
            self._kick.clear()
            wait = self.poll_interval
            try:
                if self._pending is not None:
                    await self._apply_sync()
                if not self._paused:
                    free = self.capacity - len(self._held)
                    if free > 0:
                        for claim in await self._claim(free):
                            self._launch(claim)
                    if len(self._held) < self.capacity:
                        wait = min(wait, await self._seconds_to_next_wake())
            except StoreError as exc:
                log.warning("claiming due checks failed, will retry: %s", exc)
            await self._sleep(wait)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.005, seconds)):
                await self._kick.wait()

    async def _apply_sync(self) -> None:
        pending = self._pending
        if pending is None:
            return
        wanted, first = pending
        ids = sorted(wanted)
        async with self._store.coordination() as conn, conn.transaction():
            deleted = await conn.fetch(
                "DELETE FROM leases WHERE source_id <> ALL($1::text[]) RETURNING source_id", ids
            )
            await conn.executemany(
                _UPSERT,
                [(sid, cadence_key(wanted[sid]), first[sid], self.lease_period) for sid in ids],
            )
            rows = await conn.fetch("SELECT source_id, due_at FROM leases")
        if self._pending is pending:  # no newer sync arrived meanwhile
            self._pending = None
            self._synced.set()
        self._due = {row["source_id"]: row["due_at"] for row in rows if row["source_id"] in wanted}
        if deleted:
            log.info("leases: %d sources no longer configured", len(deleted))

    async def _claim(self, limit: int) -> list[Claim]:
        async with self._store.coordination() as conn:
            rows = await conn.fetch(_CLAIM, self.owner, limit, self.lease_period)
        claims = [Claim(r["source_id"], r["last_started"], bool(r["stale"])) for r in rows]
        if claims:
            log.debug("claimed %d due checks", len(claims))
        return claims

    async def _seconds_to_next_wake(self) -> float:
        async with self._store.coordination() as conn:
            seconds = await conn.fetchval(_NEXT_WAKE)
        return self.poll_interval if seconds is None else float(seconds)

    def _launch(self, claim: Claim) -> None:
        self.claimed += 1
        cadence = self._cadences.get(claim.source_id)
        task = asyncio.create_task(self._run(claim, cadence), name=f"check {claim.source_id}")
        self._held[claim.source_id] = task

    async def _run(self, claim: Claim, cadence: Cadence | None) -> None:
        if cadence is None:
            # Not in this worker's configuration (yet): leave it leased; when the lease
            # runs out a worker that knows the source takes it.
            log.debug("claimed %s, which this worker does not know; leaving it", claim.source_id)
            self._held.pop(claim.source_id, None)
            return
        checked: bool | datetime | None = True
        try:
            if claim.stale and self._on_claim is not None:
                self._on_claim(claim.source_id)
            checked = await self._on_due(claim.source_id)
        except Exception:
            # on_due should not raise; if it does, the lease must still be released.
            log.exception("check of %s failed unexpectedly", claim.source_id)
        finally:
            self._held.pop(claim.source_id, None)
            self._kick.set()
        if isinstance(checked, datetime):
            await self._postpone(claim.source_id, checked)
        elif checked is False:
            await self._give_back(claim.source_id)
        else:
            await self._release(claim, cadence)

    async def _postpone(self, source_id: str, until: datetime) -> None:
        """Free a lease whose check must wait for ``until`` (its host asked for quiet)."""
        try:
            async with self._store.coordination() as conn:
                remaining = max(0.0, (until - self._clock()).total_seconds())
                when = await conn.fetchval(_POSTPONE, source_id, self.owner, until, remaining)
        except StoreError as exc:
            log.warning("could not postpone the check of %s: %s", source_id, exc)
            return
        if when is not None:
            self._due[source_id] = when

    async def _give_back(self, source_id: str) -> None:
        """Free a lease without a new due time: the check did not run (e.g. stopping)."""
        try:
            async with self._store.coordination() as conn:
                await conn.execute(
                    "UPDATE leases SET lease_until = NULL WHERE source_id = $1 AND owner = $2",
                    source_id,
                    self.owner,
                )
        except StoreError as exc:
            log.warning("could not hand back the lease of %s: %s", source_id, exc)

    async def _release(self, claim: Claim, cadence: Cadence) -> None:
        due = next_due(cadence, claim.started, self._rng)
        try:
            async with self._store.coordination() as conn:
                when = await conn.fetchval(
                    _RELEASE,
                    claim.source_id,
                    self.owner,
                    due.at,
                    cadence_key(cadence),
                    due.after,
                )
        except StoreError as exc:
            # The lease expires by itself; the source is then checked again early, once.
            log.warning("could not release the lease of %s: %s", claim.source_id, exc)
            return
        if when is not None:
            self._due[claim.source_id] = when

    async def _renew_loop(self) -> None:
        while True:
            await asyncio.sleep(self.lease_period / 3)
            held = sorted(self._held)
            if not held:
                continue
            try:
                async with self._store.coordination() as conn:
                    rows = await conn.fetch(_RENEW, self.owner, held, self.lease_period)
            except StoreError as exc:
                log.warning("renewing %d leases failed, will retry: %s", len(held), exc)
                continue
            renewed = {r["source_id"] for r in rows}
            lost = [sid for sid in held if sid in self._held and sid not in renewed]
            for source_id in lost:
                log.warning(
                    "lease of %s ran out before its check finished (worker too slow or cut "
                    "off); another worker may check it too — the log stays consistent",
                    source_id,
                )


# --------------------------------------------------------------------------- leadership


class Leadership:
    """Exactly one holder across all workers of a schema: a session-level advisory lock.

    ``run(body, stop)`` waits to become leader, runs ``body(term_over)``, steps down when
    it returns, and starts over until ``stop`` is set. ``body`` must return once ``stop``
    is set (after any last work, which it does still holding the lock) and at once when
    ``term_over`` is set: the lock's connection — and so the lock — was lost.

    No overlap: a leader whose connection stops answering notices within two heartbeat
    periods (one period asleep, one for the query to time out) and ends its term; a
    new leader waits that long before starting ``body``, unless its predecessor
    announced stepping down (``NOTIFY monitor_leader``) — then it starts at once.
    """

    def __init__(
        self,
        store: PostgresEventStore,
        purpose: str = "notifier",
        *,
        retry_interval: float = DEFAULT_POLL_INTERVAL,
        heartbeat: float = DEFAULT_POLL_INTERVAL,
    ) -> None:
        self._store = store
        self.purpose = purpose
        self.key = advisory_key(store.schema, purpose)
        self.retry_interval = retry_interval
        self.heartbeat = heartbeat
        self._conn: asyncpg.Connection | None = None
        self._retry_now = asyncio.Event()
        self.is_leader = False
        self.terms = 0  # how many times this worker became leader

    async def run(
        self, body: Callable[[asyncio.Event], Awaitable[None]], stop: asyncio.Event
    ) -> None:
        try:
            while not stop.is_set():
                handed_over = await self._acquire(stop)
                if handed_over is None:
                    return
                if not handed_over:
                    # A predecessor cut off from the database may not know it yet.
                    await _sleep_unless(stop, 2 * self.heartbeat)
                    if stop.is_set():
                        break
                term_over = asyncio.Event()
                watch = asyncio.create_task(self._watch(term_over))
                try:
                    await body(term_over)
                finally:
                    watch.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await watch
                    await self._step_down()
        finally:
            await self._disconnect()

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
        self._retry_now.set()

    async def _acquire(self, stop: asyncio.Event) -> bool | None:
        """Wait until this worker holds the lock, or ``stop`` is set (None).

        True when the lock came right after a predecessor announced stepping down.
        """
        handed_over = False
        while not stop.is_set():
            self._retry_now.clear()  # before trying: a NOTIFY during the try is not lost
            try:
                conn = await self._connect()
                got = bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", self.key))
            except _DRIVER_ERRORS as exc:
                log.warning(
                    "cannot reach the database to elect a %s: %s",
                    self.purpose,
                    translate_error(exc, self._store.label),
                )
                await self._disconnect()
                got = False
            if got:
                self.is_leader = True
                self.terms += 1
                log.info("this worker is now the %s (term %d)", self.purpose, self.terms)
                return handed_over
            waiters = {
                asyncio.ensure_future(stop.wait()),
                asyncio.ensure_future(self._retry_now.wait()),
            }
            try:
                await asyncio.wait(
                    waiters, timeout=self.retry_interval, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                for waiter in waiters:
                    waiter.cancel()
            handed_over = self._retry_now.is_set()
        return None

    async def _watch(self, term_over: asyncio.Event) -> None:
        """End the term when the lock's connection stops answering (cancelled with the term)."""
        while True:
            await asyncio.sleep(self.heartbeat)
            conn = self._conn
            try:
                if conn is None or conn.is_closed():
                    raise ConnectionError("the leader's connection is closed")
                async with asyncio.timeout(self.heartbeat):
                    await conn.fetchval("SELECT 1")
            except (*_DRIVER_ERRORS, ConnectionError) as exc:
                log.error("lost the %s lock (%s); stepping down", self.purpose, exc)
                self.is_leader = False
                await self._disconnect()
                term_over.set()
                return

    async def _step_down(self) -> None:
        if not self.is_leader:
            return
        self.is_leader = False
        conn = self._conn
        if conn is None or conn.is_closed():
            return
        try:
            await conn.execute("SELECT pg_advisory_unlock($1)", self.key)
            await conn.execute("SELECT pg_notify($1, $2)", LEADER_CHANNEL, self.purpose)
            log.info("stepped down as %s", self.purpose)
        except _DRIVER_ERRORS:
            await self._disconnect()  # closing the session releases the lock just as well

    async def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        with contextlib.suppress(*_DRIVER_ERRORS):
            await asyncio.wait_for(conn.close(), 5)
        if not conn.is_closed():
            conn.terminate()

"""Several ``monitor run`` workers on one log: leases, a leader, wake-ups.

The store does all the coordination through its ``WorkSharing`` capability
(``monitor.store.base``; PostgreSQL's tables and advisory locks, or the in-memory
twin); workers never talk to each other. This module holds the scheduling rules
on top of it and never sees the backend.

* **Leases** (``LeaseScheduler``): one lease row per source (``due_at``, ``owner``,
  ``lease_until``). A claim stamps due rows ``lease_until = now + lease_period`` (on
  PostgreSQL, ``SELECT … FOR UPDATE SKIP LOCKED`` in one statement), so a due
  check goes to exactly one worker; while the check runs the lease is renewed every
  third of the period; when it ends the row gets its next due time and is freed. A
  worker that dies stops renewing: its rows become claimable when ``lease_until``
  passes, and every worker sleeps no later than the earliest expiry, so its sources
  are taken over within one lease period. All lease times are the store's clock
  (PostgreSQL's ``now()``), so skew between machines does not matter. Among due sources a worker
  takes those it checked last first (its cached state of them is current).
* **Next check**: an interval source is due ``interval ± jitter`` after its check
  *ended* (measured by the database when the lease is released), so however long a
  check queued for a slot or waited on a slow site, a page is never fetched twice
  within ``interval - jitter``, whichever workers run it; the cost is that the period
  is the interval plus the check's duration. A cron source is due at the next cron
  time after its check started, + jitter.
* **Leader** (``Leadership``, in ``monitor.daemon.leadership``): exactly one worker
  runs the notifier, the one holding the store's leader seat (on PostgreSQL a
  session-level ``pg_try_advisory_lock`` on a connection of its own, released when
  that session ends — a crash, a SIGKILL, a lost network). A standby, retrying every
  ``retry_interval`` (at once when a leader steps down), takes over. A heartbeat on
  the seat ends the term when it breaks, so a cut-off leader stops sending.
* **Wake-ups**: ``wait_for_events`` returns when the log's head passes a seq — the
  store's ``Wakeups`` (LISTEN/NOTIFY on PostgreSQL), else polling the head;
  ``follow_log`` turns that into an event the notifier waits on.

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
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta

from monitor.clock import Clock, utc_now
from monitor.daemon.leadership import Leadership, sleep_unless
from monitor.daemon.scheduler import (
    Cadence,
    ScheduleChanges,
    SourceScheduler,
    first_check_at,
    next_cron_time,
    next_interval_check,
)
from monitor.errors import StoreError
from monitor.store import EventStore
from monitor.store.base import (
    DEFAULT_POLL_INTERVAL,
    LeaseClaim,
    NextDue,
    require_work_sharing,
    wakeups_of,
    work_sharing_of,
)

__all__ = [
    "Leadership",
    "LeaseScheduler",
    "exclusive",
    "exclusive_or_skip",
    "follow_log",
    "lease_period_from",
    "wait_for_events",
]

log = logging.getLogger(__name__)

DEFAULT_LEASE_PERIOD = 60.0  # seconds: how long a silent worker keeps its sources
LEASE_PERIOD_ENV = "MONITOR_LEASE_PERIOD"

# Like scheduler.OnDue; returning False means "not checked" (e.g. the worker is stopping):
# the lease is handed back with its due time unchanged, for another worker to take now.
# Returning a datetime means "not checked before then" (its host asked for quiet until
# that moment): the lease is freed with that due time, so no worker holds it meanwhile.
OnDue = Callable[[str], Awaitable[bool | datetime | None]]


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

    The store's own wake-ups where it has them (LISTEN/NOTIFY on PostgreSQL); on other
    stores the head is polled every ``poll_interval`` seconds. The caller reads the
    new events itself.
    """
    await wakeups_of(store, poll_interval=poll_interval).wait_for_events(after, timeout)


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
            await sleep_unless(stop, poll_interval)
            continue
        if seq > after:
            after = seq
            wake.set()


def exclusive(store: EventStore, purpose: str) -> contextlib.AbstractAsyncContextManager[None]:
    """Run a block in one worker at a time (the store's ``WorkSharing``); a no-op elsewhere.

    Workers starting together would otherwise record the same configuration three
    times over, queueing on the log head for every source; in turn, the second finds
    it recorded and appends nothing.
    """
    sharing = work_sharing_of(store)
    return contextlib.nullcontext() if sharing is None else sharing.exclusive(purpose)


def exclusive_or_skip(
    store: EventStore, purpose: str
) -> contextlib.AbstractAsyncContextManager[bool]:
    """Like ``exclusive``, without waiting: yields False at once while another worker
    holds ``purpose`` (background tasks skip a pass rather than queue for minutes)."""
    sharing = work_sharing_of(store)
    return contextlib.nullcontext(True) if sharing is None else sharing.exclusive_or_skip(purpose)


# --------------------------------------------------------------------------- leases


def cadence_key(cadence: Cadence) -> str:
    """How a cadence is stored in ``leases.cadence``: equal keys, equal schedules."""
    if cadence.cron is not None:
        return f"cron {cadence.cron} +{cadence.jitter:g}"
    return f"interval {cadence.interval} ±{cadence.jitter:g}"


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


class LeaseScheduler(SourceScheduler):
    """``CheckScheduler``'s job for several workers: calls ``on_due(source_id)`` for each
    due source this worker claims (``on_due`` returning False: not checked, see ``OnDue``).

    Same surface as ``monitor.daemon.scheduler.CheckScheduler`` (``start``, ``pause``,
    ``shutdown``, ``sync`` and ``cadence`` from their ``SourceScheduler``,
    ``next_check``, ``running``) plus ``aclose``,
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
        store: EventStore,
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
        self._sharing = require_work_sharing(store)
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
            await self._sharing.give_back(self.owner)
        except StoreError as exc:
            log.warning("could not hand back this worker's leases (they expire anyway): %s", exc)

    def next_check(self, source_id: str) -> datetime | None:
        """The due time this worker last saw in the shared table (None: unknown source)."""
        return self._due.get(source_id)

    def _apply(
        self, wanted: dict[str, Cadence], last_checked: Mapping[str, datetime], now: datetime
    ) -> ScheduleChanges:
        """Make the shared ``leases`` table match ``wanted`` (applied by the claim loop).

        New sources get a first check time as ``CheckScheduler`` would give them; a
        source whose cadence changed is retimed; rows of sources not wanted are
        deleted. A source whose cadence is unchanged keeps its due time.
        """
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
        # A row overdue by more than a lease period was run by no worker (all were
        # stopped): as after a single daemon's restart, it takes its new first check
        # time, spread over the jitter window instead of all firing at once.
        deleted, due = await self._sharing.sync_leases(
            {sid: (cadence_key(cadence), first[sid]) for sid, cadence in wanted.items()},
            overdue_after=self.lease_period,
        )
        if self._pending is pending:  # no newer sync arrived meanwhile
            self._pending = None
            self._synced.set()
        self._due = {sid: when for sid, when in due.items() if sid in wanted}
        if deleted:
            log.info("leases: %d sources no longer configured", len(deleted))

    async def _claim(self, limit: int) -> list[LeaseClaim]:
        claims = await self._sharing.claim_due(self.owner, limit, self.lease_period)
        if claims:
            log.debug("claimed %d due checks", len(claims))
        return claims

    async def _seconds_to_next_wake(self) -> float:
        seconds = await self._sharing.seconds_to_next_due()
        return self.poll_interval if seconds is None else seconds

    def _launch(self, claim: LeaseClaim) -> None:
        self.claimed += 1
        cadence = self._cadences.get(claim.source_id)
        task = asyncio.create_task(self._run(claim, cadence), name=f"check {claim.source_id}")
        self._held[claim.source_id] = task

    async def _run(self, claim: LeaseClaim, cadence: Cadence | None) -> None:
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
            remaining = max(0.0, (until - self._clock()).total_seconds())
            when = await self._sharing.postpone_lease(
                source_id, self.owner, until, remaining=remaining
            )
        except StoreError as exc:
            log.warning("could not postpone the check of %s: %s", source_id, exc)
            return
        if when is not None:
            self._due[source_id] = when

    async def _give_back(self, source_id: str) -> None:
        """Free a lease without a new due time: the check did not run (e.g. stopping)."""
        try:
            await self._sharing.give_back(self.owner, source_id)
        except StoreError as exc:
            log.warning("could not hand back the lease of %s: %s", source_id, exc)

    async def _release(self, claim: LeaseClaim, cadence: Cadence) -> None:
        due = next_due(cadence, claim.started, self._rng)
        try:
            when = await self._sharing.release_lease(
                claim.source_id, self.owner, cadence_key(cadence), due
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
                renewed = await self._sharing.renew_leases(self.owner, held, self.lease_period)
            except StoreError as exc:
                log.warning("renewing %d leases failed, will retry: %s", len(held), exc)
                continue
            lost = [sid for sid in held if sid in self._held and sid not in renewed]
            for source_id in lost:
                log.warning(
                    "lease of %s ran out before its check finished (worker too slow or cut "
                    "off); another worker may check it too — the log stays consistent",
                    source_id,
                )

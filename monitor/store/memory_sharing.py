"""``MemoryWorkSharing``: the in-process twin of PostgreSQL's leases, locks and leader seats.

What ``memory://`` offers (several ``LeaseScheduler`` or ``Leadership`` objects on one
store act as workers), and what the work-sharing contract tests hold to the same
rules as the PostgreSQL tables (``monitor.store.base.WorkSharing``). Every method
runs without an ``await`` between reading and writing its rows, so tasks never see
half an update — the event loop is the transaction. Times are the store's clock, as
PostgreSQL's are ``now()``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.clock import Clock
from monitor.errors import StoreUnavailableError
from monitor.store.base import LeaseClaim, NextDue


@dataclass
class _Lease:
    cadence: str
    due_at: datetime
    owner: str | None = None
    lease_until: datetime | None = None
    last_started: datetime | None = None


class MemoryWorkSharing:
    """``WorkSharing`` in dicts, for workers sharing one in-process store."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._leases: dict[str, _Lease] = {}
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._leaders: dict[str, MemoryLeaderSeat] = {}
        self._seats: defaultdict[str, list[MemoryLeaderSeat]] = defaultdict(list)

    # ------------------------------------------------------------------ leases

    async def sync_leases(
        self, wanted: Mapping[str, tuple[str, datetime]], *, overdue_after: float
    ) -> tuple[list[str], dict[str, datetime]]:
        now = self._clock()
        deleted = sorted(set(self._leases) - set(wanted))
        for source_id in deleted:
            del self._leases[source_id]
        stale_before = now - timedelta(seconds=overdue_after)
        for source_id, (cadence, due_at) in wanted.items():
            row = self._leases.get(source_id)
            if row is None:
                self._leases[source_id] = _Lease(cadence, due_at)
            elif row.cadence != cadence or (row.lease_until is None and row.due_at < stale_before):
                row.cadence, row.due_at = cadence, due_at
        return deleted, {sid: row.due_at for sid, row in self._leases.items()}

    async def claim_due(self, owner: str, limit: int, lease_period: float) -> list[LeaseClaim]:
        now = self._clock()
        due = sorted(
            (
                (row.owner != owner, row.due_at, sid)
                for sid, row in self._leases.items()
                if row.due_at <= now and (row.lease_until is None or row.lease_until < now)
            ),
        )[: max(0, limit)]
        claims = []
        for _, _, source_id in due:
            row = self._leases[source_id]
            claims.append(LeaseClaim(source_id, now, row.owner != owner))
            row.owner, row.last_started = owner, now
            row.lease_until = now + timedelta(seconds=lease_period)
        return claims

    async def seconds_to_next_due(self) -> float | None:
        if not self._leases:
            return None
        claimable = min(
            row.due_at if row.lease_until is None else max(row.due_at, row.lease_until)
            for row in self._leases.values()
        )
        return (claimable - self._clock()).total_seconds()

    def _held(self, source_id: str, owner: str) -> _Lease | None:
        row = self._leases.get(source_id)
        return row if row is not None and row.owner == owner else None

    async def renew_leases(
        self, owner: str, source_ids: Sequence[str], lease_period: float
    ) -> set[str]:
        until = self._clock() + timedelta(seconds=lease_period)
        renewed = set()
        for source_id in source_ids:
            row = self._held(source_id, owner)
            if row is not None and row.lease_until is not None:
                row.lease_until = until
                renewed.add(source_id)
        return renewed

    async def release_lease(
        self, source_id: str, owner: str, cadence: str, due: NextDue
    ) -> datetime | None:
        row = self._held(source_id, owner)
        if row is None:
            return None
        now = self._clock()
        row.lease_until = None
        if row.cadence == cadence:
            wanted = due.at if due.at is not None else now + timedelta(seconds=due.after or 0.0)
            row.due_at = max(wanted, now)
        return row.due_at

    async def postpone_lease(
        self, source_id: str, owner: str, until: datetime, *, remaining: float
    ) -> datetime | None:
        row = self._held(source_id, owner)
        if row is None:
            return None
        row.lease_until = None
        row.due_at = max(until, self._clock() + timedelta(seconds=remaining))
        return row.due_at

    async def give_back(self, owner: str, source_id: str | None = None) -> None:
        if source_id is not None:
            row = self._held(source_id, owner)
            if row is not None:
                row.lease_until = None
            return
        for row in self._leases.values():
            if row.owner == owner:
                row.lease_until = None

    # ------------------------------------------------------------------ locks

    @contextlib.asynccontextmanager
    async def exclusive(self, purpose: str) -> AsyncIterator[None]:
        async with self._locks[purpose]:
            yield

    @contextlib.asynccontextmanager
    async def exclusive_or_skip(self, purpose: str) -> AsyncIterator[bool]:
        lock = self._locks[purpose]
        if lock.locked():
            yield False
            return
        async with lock:
            yield True

    def leader_seat(self, purpose: str, on_free: Callable[[], None]) -> MemoryLeaderSeat:
        seat = MemoryLeaderSeat(self, purpose, on_free)
        self._seats[purpose].append(seat)
        return seat

    # ------------------------------------------------------------------ leader seats

    def _take(self, seat: MemoryLeaderSeat) -> bool:
        holder = self._leaders.setdefault(seat.purpose, seat)
        return holder is seat

    def _leads(self, seat: MemoryLeaderSeat) -> bool:
        return self._leaders.get(seat.purpose) is seat

    def _free(self, seat: MemoryLeaderSeat, *, announce: bool) -> None:
        if self._leaders.get(seat.purpose) is seat:
            del self._leaders[seat.purpose]
            if announce:
                for other in self._seats[seat.purpose]:
                    if other is not seat:
                        other.on_free()

    def _leave(self, seat: MemoryLeaderSeat) -> None:
        self._free(seat, announce=False)  # like a session ending: the lock goes, unannounced
        with contextlib.suppress(ValueError):
            self._seats[seat.purpose].remove(seat)


class MemoryLeaderSeat:
    """A ``LeaderSeat`` among the seats of one ``MemoryWorkSharing``."""

    def __init__(
        self, sharing: MemoryWorkSharing, purpose: str, on_free: Callable[[], None]
    ) -> None:
        self._sharing = sharing
        self.purpose = purpose
        self.on_free = on_free
        self._closed = False

    async def try_take(self) -> bool:
        if self._closed:
            self._closed = False
            self._sharing._seats[self.purpose].append(self)
        return self._sharing._take(self)

    async def check(self, timeout: float) -> None:  # noqa: ASYNC109
        if not self._sharing._leads(self):
            raise StoreUnavailableError(f"this worker no longer holds the {self.purpose} seat")

    async def step_down(self) -> None:
        self._sharing._free(self, announce=True)

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._sharing._leave(self)

"""Sharing sources between workers through the ``leases`` table, and electing one notifier.

In-process workers, each with its own store (its own connections), on one schema.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from monitor.config.settings import SourceSettings
from monitor.daemon.workers import (
    Leadership,
    LeaseScheduler,
    exclusive,
    follow_log,
    lease_period_from,
)
from monitor.events import NewEvent
from monitor.store.postgres import PostgresEventStore, advisory_key
from tests.pg.support import eventually, lock_id, schema_of, server_url

Checks = dict[str, list[tuple[float, str, float]]]  # source -> (start, worker, end)


def sources(count: int, interval: int = 2) -> list[SourceSettings]:
    return [
        SourceSettings(id=f"src-{i:03d}", url=f"http://127.0.0.1:9/{i}", interval=interval)
        for i in range(count)
    ]


@asynccontextmanager
async def workers(
    url: str,
    count: int,
    checks: Checks,
    *,
    lease_period: float = 6.0,
    capacity: int = 8,
    work: Callable[[str, str], Awaitable[None]] | None = None,
) -> AsyncIterator[list[LeaseScheduler]]:
    stores = [await PostgresEventStore.open(url) for _ in range(count)]
    schedulers: list[LeaseScheduler] = []
    for index, store in enumerate(stores):
        name = f"w{index}"

        async def on_due(source_id: str, name: str = name) -> None:
            started = time.monotonic()
            if work is not None:
                await work(name, source_id)
            else:
                await asyncio.sleep(0.02)  # a fetch
            checks[source_id].append((started, name, time.monotonic()))

        schedulers.append(
            LeaseScheduler(
                on_due,
                store=store,
                lease_period=lease_period,
                capacity=capacity,
                poll_interval=0.5,
                owner=name,
            )
        )
    try:
        yield schedulers
    finally:
        for scheduler in schedulers:
            await scheduler.aclose()
        for store in stores:
            await store.close()


def start_all(schedulers: list[LeaseScheduler], configured: list[SourceSettings]) -> None:
    for scheduler in schedulers:
        scheduler.start()
        scheduler.sync(configured, last_checked={}, jitter_percent=0, default_interval=3600)


async def test_three_workers_share_sources_and_never_check_one_twice_per_interval(
    pg_url: str,
) -> None:
    checks: Checks = defaultdict(list)
    configured = sources(120, interval=2)
    async with workers(pg_url, 3, checks) as schedulers:
        start_all(schedulers, configured)
        # Waited for, not slept for: a loaded machine takes longer, never fewer rounds.
        await eventually(lambda: all(len(checks[s.id]) >= 3 for s in configured), 120)
    assert set(checks) == {s.id for s in configured}
    for source_id, runs in checks.items():
        starts = sorted(start for start, _, _ in runs)
        assert len(starts) >= 3, source_id  # checked every interval, not once
        gaps = [b - a for a, b in itertools.pairwise(starts)]
        assert min(gaps) > 1.9, (source_id, gaps)  # never twice within one interval
    per_worker = defaultdict(int)
    for runs in checks.values():
        for _, worker, _ in runs:
            per_worker[worker] += 1
    assert len(per_worker) == 3 and min(per_worker.values()) > 0.15 * sum(per_worker.values())


async def test_a_dead_workers_sources_are_taken_over_within_one_lease_period(
    pg_url: str,
) -> None:
    """Worker w0 hangs inside its checks and stops renewing (as if SIGKILLed): once its
    leases run out, w1 checks those sources; nothing is checked by both meanwhile."""
    checks: Checks = defaultdict(list)
    hang = asyncio.Event()

    async def work(worker: str, source_id: str) -> None:
        if worker == "w0":
            await hang.wait()
        await asyncio.sleep(0.01)

    configured = sources(20, interval=60)
    async with workers(pg_url, 2, checks, lease_period=2.0, work=work) as (dead, alive):
        dead.start()
        dead.sync(configured, last_checked={}, jitter_percent=0, default_interval=60)
        await dead.flush()
        await eventually(lambda: dead.claimed == 8, 30)  # w0 claims its capacity, hangs there
        held = dead.claimed
        assert held == 8
        for task in dead._tasks:  # renewals stop, as in a killed process
            task.cancel()
        died = time.monotonic()
        alive.start()
        alive.sync(configured, last_checked={}, jitter_percent=0, default_interval=60)
        await eventually(
            lambda: sum(any(w == "w1" for _, w, _ in runs) for runs in checks.values()) == 20, 30
        )
        hang.set()
    taken_over = {sid: runs for sid, runs in checks.items() if any(w == "w1" for _, w, _ in runs)}
    assert len(taken_over) == 20  # w1 checked every source, including w0's eight
    late = [start - died for runs in checks.values() for start, w, _ in runs if w == "w1"]
    assert max(late) < 2.0 + 1.0  # within one lease period (plus scheduling slack)


async def test_a_stopping_worker_hands_unfinished_checks_back_at_once(pg_url: str) -> None:
    checks: Checks = defaultdict(list)
    configured = sources(4, interval=3600)
    store = await PostgresEventStore.open(pg_url)
    entered = asyncio.Event()

    async def not_checked(source_id: str) -> bool:
        entered.set()
        return False  # e.g. the daemon is stopping and dropped the queued check

    first = LeaseScheduler(not_checked, store=store, lease_period=30, poll_interval=0.2, owner="a")
    first.start()
    first.sync(configured, last_checked={}, jitter_percent=0, default_interval=3600)
    await asyncio.wait_for(entered.wait(), 5)
    await first.aclose()
    await store.close()
    async with workers(pg_url, 1, checks, lease_period=30) as (second,):
        start_all([second], configured)
        await eventually(lambda: len(checks) == 4, 5)
    assert len(checks) == 4  # not held for 30 s, not pushed back an hour


async def test_removed_sources_leave_the_table_and_retimed_ones_move(pg_url: str) -> None:
    checks: Checks = defaultdict(list)
    async with workers(pg_url, 1, checks) as (worker,):
        worker.sync(
            sources(5, interval=3600), last_checked={}, jitter_percent=0, default_interval=1
        )
        await worker.flush()
        changed = [*sources(3, interval=3600)[:2], sources(3, interval=7200)[2]]
        changes = worker.sync(changed, last_checked={}, jitter_percent=0, default_interval=1)
        await worker.flush()
        assert changes.removed == ("src-003", "src-004")
        assert changes.rescheduled == ("src-002",)
        conn = await asyncpg.connect(server_url())
        try:
            rows = await conn.fetch(
                f'SELECT source_id, cadence FROM "{schema_of(pg_url)}".leases ORDER BY source_id'
            )
        finally:
            await conn.close()
        assert [(r["source_id"], r["cadence"]) for r in rows] == [
            ("src-000", "interval 3600 ±0"),
            ("src-001", "interval 3600 ±0"),
            ("src-002", "interval 7200 ±0"),
        ]


# --------------------------------------------------------------------------- leadership


async def test_exactly_one_leader_and_fail_over_when_its_connection_dies(pg_url: str) -> None:
    stores = [await PostgresEventStore.open(pg_url) for _ in range(3)]
    stop = asyncio.Event()
    leading: list[int] = []  # the worker index of each term, in order
    concurrent = 0
    most = 0

    def body_for(index: int) -> Callable[[asyncio.Event], Awaitable[None]]:
        async def body(term_over: asyncio.Event) -> None:
            nonlocal concurrent, most
            concurrent += 1
            most = max(most, concurrent)
            leading.append(index)
            try:
                ended = {
                    asyncio.ensure_future(term_over.wait()),
                    asyncio.ensure_future(stop.wait()),
                }
                await asyncio.wait(ended, return_when=asyncio.FIRST_COMPLETED)
                for waiter in ended:
                    waiter.cancel()
            finally:
                concurrent -= 1

        return body

    elections = [Leadership(s, retry_interval=0.3, heartbeat=0.3) for s in stores]
    tasks = [asyncio.create_task(e.run(body_for(i), stop)) for i, e in enumerate(elections)]
    try:
        await asyncio.sleep(1.0)
        assert len(leading) == 1
        assert elections[leading[0]].is_leader
        assert sum(e.is_leader for e in elections) == 1

        # Kill the leader's session from outside, as a crashed process or a cut network would.
        conn = await asyncpg.connect(server_url())
        try:
            killed = await conn.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_locks "
                "WHERE locktype = 'advisory' AND granted AND objsubid = 1 "
                "AND classid::bigint = $1 AND objid::bigint = $2",
                *lock_id(advisory_key(schema_of(pg_url), "notifier")),
            )
        finally:
            await conn.close()
        assert killed == 1
        waited = await eventually(lambda: len(leading) >= 2, 5)
        assert len(leading) >= 2
        assert waited < 3.0  # heartbeat, retry and the new leader's wait: ~1 s

        # A graceful hand-over (the leader stopping) is taken at once through NOTIFY.
        second = leading[1]
        elections[second].retry_interval = 30  # followers must not need their retry timer
        for index, election in enumerate(elections):
            if index != second:
                election.retry_interval = 30
        await asyncio.sleep(0.5)  # let every follower fall asleep on the long timer
        before = len(leading)
        tasks[second].cancel()
        waited = await eventually(lambda: len(leading) > before, 5)
        assert len(leading) == before + 1
        assert waited < 5.0  # far below the 30 s retry timer: the NOTIFY woke them
        assert most == 1  # never two leaders at once
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for store in stores:
            await store.close()


@pytest.mark.parametrize(
    ("value", "expected"), [("", 60.0), ("15", 15.0), ("0.2", 1.0), ("soon", 60.0)]
)
def test_the_lease_period_comes_from_the_environment(value: str, expected: float) -> None:
    assert lease_period_from({"MONITOR_LEASE_PERIOD": value}) == expected


async def test_after_all_workers_were_stopped_overdue_checks_are_spread_out(
    pg_url: str,
) -> None:
    """Rows nobody ran for longer than a lease period are retimed over the jitter window,
    as one daemon does after a restart; a row only just due keeps its time."""
    configured = sources(30, interval=3600)
    checks: Checks = defaultdict(list)
    async with workers(pg_url, 1, checks, lease_period=60) as (first,):
        first.sync(configured, last_checked={}, jitter_percent=10, default_interval=3600)
        await first.flush()
    conn = await asyncpg.connect(server_url(), server_settings={"search_path": schema_of(pg_url)})
    try:
        await conn.execute("UPDATE leases SET due_at = now() - interval '1 day'")
        await conn.execute(
            "UPDATE leases SET due_at = now() - interval '5 s' WHERE source_id = 'src-000'"
        )
        async with workers(pg_url, 1, checks, lease_period=60) as (second,):
            now = datetime.now(UTC)
            last = {s.id: now - timedelta(hours=2) for s in configured}
            second.sync(configured, last_checked=last, jitter_percent=10, default_interval=3600)
            await second.flush()
        rows = await conn.fetch(
            "SELECT source_id, EXTRACT(EPOCH FROM due_at - now())::float8 AS due_in FROM leases"
        )
    finally:
        await conn.close()
    due_in = {r["source_id"]: r["due_in"] for r in rows}
    assert -6 < due_in.pop("src-000") < -4  # overdue by less than a lease period: kept
    assert all(-1 < d < 360 + 1 for d in due_in.values())  # within the jitter window
    assert max(due_in.values()) - min(due_in.values()) > 60  # spread, not all at once


async def test_exclusive_blocks_run_one_worker_at_a_time(pg_url: str) -> None:
    """Workers recording the same configuration at start-up take turns."""
    stores = [await PostgresEventStore.open(pg_url) for _ in range(3)]
    inside = 0
    most = 0

    async def record(store: PostgresEventStore) -> None:
        nonlocal inside, most
        async with exclusive(store, "reconcile"):
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.2)
            inside -= 1

    try:
        started = time.monotonic()
        await asyncio.gather(*(record(s) for s in stores))
        assert most == 1
        assert time.monotonic() - started >= 0.6
    finally:
        for store in stores:
            await store.close()


async def test_the_notifier_is_woken_by_another_workers_append(pg_url: str) -> None:
    follower, writer = await PostgresEventStore.open(pg_url), await PostgresEventStore.open(pg_url)
    wake, stop = asyncio.Event(), asyncio.Event()
    following = asyncio.create_task(follow_log(follower, wake, stop, poll_interval=30))
    try:
        await asyncio.sleep(0.3)
        assert not wake.is_set()
        await writer.append([NewEvent(event_id="e", stream="s", type="Noted", schema=1, data={})])
        await asyncio.wait_for(wake.wait(), 3)  # NOTIFY, not the 30 s poll
    finally:
        stop.set()
        following.cancel()
        await asyncio.gather(following, return_exceptions=True)
        await follower.close()
        await writer.close()

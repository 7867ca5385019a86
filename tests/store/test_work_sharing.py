"""The ``WorkSharing`` capability: PostgreSQL's tables and locks, and their memory twin.

Several workers sharing one log claim due sources through leases, take turns through
locks and elect one leader (``monitor.store.base.WorkSharing`` states the rules). Both
implementations run every test here, on the real clock — PostgreSQL's lease times are
its own ``now()``. A SQLite log is one daemon's: it has no work sharing, and the
workers refuse it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.clock import utc_now
from monitor.config.settings import SourceSettings
from monitor.daemon.workers import Leadership, LeaseScheduler
from monitor.errors import StoreError
from monitor.store import EventStore, open_store
from monitor.store.base import NextDue, WorkSharing, work_sharing_of

from .conftest import STORE_URLS

SHARED = ["memory", "postgres"]
PERIOD = 30.0  # seconds: longer than any test, unless a test lets a lease run out


@pytest.fixture(params=SHARED)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[EventStore]:
    async with open_store(STORE_URLS[request.param](tmp_path), clock=utc_now) as opened:
        yield opened


def sharing(store: EventStore) -> WorkSharing:
    found = work_sharing_of(store)
    assert found is not None, f"{type(store).__name__} offers no work sharing"
    return found


def ago(seconds: float) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=seconds)


async def table(work: WorkSharing, **due: datetime) -> dict[str, datetime]:
    _, rows = await work.sync_leases(
        {sid: ("interval 60 ±0", when) for sid, when in due.items()}, overdue_after=PERIOD
    )
    return rows


# --------------------------------------------------------------------------- leases


async def test_a_due_source_goes_to_exactly_one_worker(store: EventStore) -> None:
    work = sharing(store)
    await table(work, a=ago(5), b=ago(1), later=ago(-3600))
    first = await work.claim_due("w1", 10, PERIOD)
    assert [c.source_id for c in first] == ["a", "b"]  # the longest due first
    assert all(c.stale for c in first)  # no one checked them before
    assert await work.claim_due("w2", 10, PERIOD) == []  # leased, and "later" is not due


async def test_a_claim_takes_no_more_than_its_limit(store: EventStore) -> None:
    work = sharing(store)
    await table(work, **{f"s{i}": ago(10 - i) for i in range(5)})
    claimed = await work.claim_due("w1", 2, PERIOD)
    assert [c.source_id for c in claimed] == ["s0", "s1"]
    assert [c.source_id for c in await work.claim_due("w2", 10, PERIOD)] == ["s2", "s3", "s4"]


async def test_a_lease_that_runs_out_goes_to_another_worker(store: EventStore) -> None:
    work = sharing(store)
    await table(work, a=ago(1))
    (mine,) = await work.claim_due("w1", 1, 0.2)
    assert await work.renew_leases("w2", ["a"], PERIOD) == set()  # not w2's to renew
    await asyncio.sleep(0.4)
    (theirs,) = await work.claim_due("w2", 1, PERIOD)
    assert (theirs.source_id, theirs.stale) == ("a", True)
    assert theirs.started >= mine.started
    assert await work.renew_leases("w1", ["a"], PERIOD) == set()  # w1 lost it


async def test_renewing_keeps_a_lease(store: EventStore) -> None:
    work = sharing(store)
    await table(work, a=ago(1))
    await work.claim_due("w1", 1, 0.3)
    for _ in range(3):
        await asyncio.sleep(0.15)
        assert await work.renew_leases("w1", ["a", "unknown"], 0.3) == {"a"}
    assert await work.claim_due("w2", 1, PERIOD) == []


async def test_a_worker_takes_back_its_own_sources_first(store: EventStore) -> None:
    work = sharing(store)
    await table(work, a=ago(1), b=ago(1))
    (first,) = await work.claim_due("w1", 1, PERIOD)
    (other,) = await work.claim_due("w2", 1, PERIOD)
    for owner, claim in (("w1", first), ("w2", other)):
        await work.release_lease(claim.source_id, owner, "interval 60 ±0", NextDue(at=ago(1)))
    (again,) = await work.claim_due("w2", 1, PERIOD)
    assert (again.source_id, again.stale) == (other.source_id, False)


async def test_release_sets_the_next_due_time_never_in_the_past(store: EventStore) -> None:
    work = sharing(store)
    await table(work, a=ago(1), b=ago(1))
    await work.claim_due("w1", 2, PERIOD)
    future = datetime.now(UTC) + timedelta(hours=1)
    due_a = await work.release_lease("a", "w1", "interval 60 ±0", NextDue(at=future))
    assert due_a == future
    before = datetime.now(UTC)
    due_b = await work.release_lease("b", "w1", "interval 60 ±0", NextDue(at=ago(600)))
    assert due_b is not None and due_b >= before - timedelta(seconds=1)
    assert await work.release_lease("a", "w2", "x", NextDue(after=5)) is None  # not w2's
    assert [c.source_id for c in await work.claim_due("w2", 5, PERIOD)] == ["b"]


async def test_release_after_seconds_and_for_a_changed_cadence(store: EventStore) -> None:
    work = sharing(store)
    await table(work, a=ago(1), b=ago(1))
    await work.claim_due("w1", 2, PERIOD)
    before = datetime.now(UTC)
    due = await work.release_lease("a", "w1", "interval 60 ±0", NextDue(after=120))
    assert due is not None and timedelta(seconds=119) < due - before < timedelta(seconds=125)
    # The cadence changed while b was checked: its new due time stands, freed as it is.
    kept = await work.release_lease("b", "w1", "interval 5 ±0", NextDue(after=3600))
    assert kept is not None and kept < datetime.now(UTC)
    assert [c.source_id for c in await work.claim_due("w2", 5, PERIOD)] == ["b"]


async def test_postpone_frees_a_lease_until_the_later_of_two_ends(store: EventStore) -> None:
    work = sharing(store)
    await table(work, a=ago(1), b=ago(1))
    await work.claim_due("w1", 2, PERIOD)
    until = datetime.now(UTC) + timedelta(minutes=10)
    assert await work.postpone_lease("a", "w1", until, remaining=0) == until
    stretched = await work.postpone_lease("b", "w1", ago(60), remaining=1800)
    assert stretched is not None and stretched > datetime.now(UTC) + timedelta(minutes=29)
    assert await work.claim_due("w2", 5, PERIOD) == []
    seconds = await work.seconds_to_next_due()
    assert seconds is not None and 590 < seconds <= 600


async def test_give_back_frees_leases_at_once_with_their_due_times(store: EventStore) -> None:
    work = sharing(store)
    await table(work, a=ago(3), b=ago(2), c=ago(1))
    await work.claim_due("w1", 3, PERIOD)
    await work.give_back("w1", "a")
    assert [c.source_id for c in await work.claim_due("w2", 5, PERIOD)] == ["a"]
    await work.give_back("w1")
    assert [c.source_id for c in await work.claim_due("w3", 5, PERIOD)] == ["b", "c"]


async def test_sync_inserts_retimes_and_deletes_rows(store: EventStore) -> None:
    work = sharing(store)
    soon, later = datetime.now(UTC) + timedelta(minutes=1), datetime.now(UTC) + timedelta(hours=1)
    deleted, rows = await work.sync_leases(
        {"a": ("interval 60 ±0", soon), "b": ("interval 60 ±0", soon)}, overdue_after=PERIOD
    )
    assert (deleted, rows) == ([], {"a": soon, "b": soon})
    deleted, rows = await work.sync_leases(
        {"a": ("interval 60 ±0", later), "c": ("interval 9 ±0", later)}, overdue_after=PERIOD
    )
    assert deleted == ["b"]
    assert rows == {"a": soon, "c": later}  # a's cadence is unchanged: it keeps its time
    _, rows = await work.sync_leases({"a": ("interval 7 ±0", later)}, overdue_after=PERIOD)
    assert rows == {"a": later}  # a new cadence: retimed


async def test_sync_retimes_rows_no_worker_ran_for_too_long(store: EventStore) -> None:
    work = sharing(store)
    await table(work, stale=ago(3600), recent=ago(5))
    fresh = datetime.now(UTC) + timedelta(minutes=3)
    _, rows = await work.sync_leases(
        {"stale": ("interval 60 ±0", fresh), "recent": ("interval 60 ±0", fresh)},
        overdue_after=PERIOD,
    )
    assert rows["stale"] == fresh
    assert rows["recent"] < datetime.now(UTC)  # overdue by less than overdue_after: kept


async def test_no_rows_no_next_due_time(store: EventStore) -> None:
    assert await sharing(store).seconds_to_next_due() is None


# --------------------------------------------------------------------------- locks


async def test_exclusive_blocks_run_one_at_a_time(store: EventStore) -> None:
    work = sharing(store)
    inside, most = 0, 0

    async def record() -> None:
        nonlocal inside, most
        async with work.exclusive("reconcile"):
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.05)
            inside -= 1

    await asyncio.gather(record(), record(), record())
    assert most == 1


async def test_exclusive_or_skip_yields_false_while_another_holds_it(store: EventStore) -> None:
    work = sharing(store)
    async with work.exclusive_or_skip("wayback") as first:
        assert first
        async with work.exclusive_or_skip("wayback") as second:
            assert not second
        async with work.exclusive_or_skip("timestamps") as other:
            assert other
    async with work.exclusive_or_skip("wayback") as again:
        assert again


# --------------------------------------------------------------------------- leadership


async def test_one_seat_leads_and_a_step_down_wakes_the_others(store: EventStore) -> None:
    work = sharing(store)
    freed: list[str] = []

    def on_free(name: str) -> Callable[[], None]:
        return lambda: freed.append(name)

    seats = [work.leader_seat("notifier", on_free(n)) for n in ("a", "b", "c")]
    try:
        assert [await seat.try_take() for seat in seats] == [True, False, False]
        await seats[0].check(5)  # still leading
        with pytest.raises(StoreError):
            await seats[1].check(5)
        await seats[0].step_down()
        await asyncio.sleep(0.5)  # PostgreSQL delivers the NOTIFY asynchronously
        assert {"b", "c"} <= set(freed)  # the seats waiting were told
        assert await seats[1].try_take()
        assert not await seats[0].try_take()
        await seats[1].close()  # leaving frees the seat too, unannounced
        assert await seats[2].try_take()
    finally:
        for seat in seats:
            await seat.close()


async def test_a_stopping_leader_hands_over_at_once(store: EventStore) -> None:
    """Never two terms at once; a leader that stops wakes the next one, which starts
    without waiting for its (here very long) retry timer."""
    stop = asyncio.Event()
    leading: list[int] = []
    concurrent = most = 0

    def body_for(index: int) -> Callable[[asyncio.Event], Awaitable[None]]:
        async def body(term_over: asyncio.Event) -> None:
            nonlocal concurrent, most
            concurrent += 1
            most = max(most, concurrent)
            leading.append(index)
            try:
                await asyncio.sleep(3600)
            finally:
                concurrent -= 1

        return body

    elections = [Leadership(store, retry_interval=0.1, heartbeat=0.1) for _ in range(3)]
    tasks = [asyncio.create_task(e.run(body_for(i), stop)) for i, e in enumerate(elections)]
    try:
        await asyncio.sleep(0.6)
        assert len(leading) == 1 and sum(e.is_leader for e in elections) == 1
        for election in elections:
            election.retry_interval = 60
        await asyncio.sleep(0.3)  # every follower now asleep on the long timer
        tasks[leading[0]].cancel()
        for _ in range(50):
            if len(leading) == 2:
                break
            await asyncio.sleep(0.1)
        assert len(leading) == 2 and leading[1] != leading[0]
        assert most == 1
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


# --------------------------------------------------------------------------- SQLite


async def test_a_sqlite_log_is_not_shared_and_workers_refuse_it(tmp_path: Path) -> None:
    async with open_store(STORE_URLS["sqlite"](tmp_path)) as sqlite:
        assert work_sharing_of(sqlite) is None

        async def on_due(source_id: str) -> None:
            raise AssertionError("never scheduled")

        with pytest.raises(StoreError, match="PostgreSQL"):
            LeaseScheduler(on_due, store=sqlite)
        with pytest.raises(StoreError, match="PostgreSQL"):
            Leadership(sqlite)


# --------------------------------------------------------------------------- schedulers


async def test_lease_schedulers_split_the_due_sources_between_them(store: EventStore) -> None:
    """The daemon's ``LeaseScheduler`` on each implementation: every due source is
    checked once, by one of the workers, and both workers take a share."""
    checked: list[tuple[str, str]] = []

    def on_due_for(worker: str) -> Callable[[str], Awaitable[None]]:
        async def on_due(source_id: str) -> None:
            await asyncio.sleep(0.01)  # a fetch
            checked.append((source_id, worker))

        return on_due

    configured = [
        SourceSettings(id=f"s{i:02d}", url=f"http://127.0.0.1:9/{i}", interval=3600)
        for i in range(20)
    ]
    schedulers = [
        LeaseScheduler(on_due_for(w), store=store, capacity=4, poll_interval=0.05, owner=w)
        for w in ("w1", "w2")
    ]
    try:
        for scheduler in schedulers:
            scheduler.start()
            scheduler.sync(configured, last_checked={}, jitter_percent=0, default_interval=3600)
        for _ in range(100):
            if len(checked) >= 20:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)  # a second check of any source would show up by now
    finally:
        for scheduler in schedulers:
            await scheduler.aclose()
    assert sorted(s for s, _ in checked) == [s.id for s in configured]  # each exactly once
    assert {w for _, w in checked} == {"w1", "w2"}

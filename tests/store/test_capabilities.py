"""Wake-ups, raw row copies and fast scans, run against every backend (conftest.STORE_URLS).

Callers reach these only through ``wakeups_of``, ``raw_rows_of`` and ``scan_of``; each
test holds every backend (and the memory twin) to the rules in ``monitor.store.base``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import pytest

from monitor.errors import StoreError
from monitor.events import StoredEvent
from monitor.store import EventStore, MemoryEventStore
from monitor.store.base import PagedScan, RawRows, Wakeups, raw_rows_of, scan_of, wakeups_of

from .conftest import ManualClock
from .test_contract import new

# Backends whose writers push wake-ups; the others are polled (SQLite: one file, no server).
PUSHED = {"MemoryEventStore", "PostgresEventStore"}


# --------------------------------------------------------------------------- wake-ups


async def test_a_waiter_past_the_head_returns_at_once(store: EventStore) -> None:
    await store.append([new("a", 1)])
    started = time.monotonic()
    await wakeups_of(store, poll_interval=30).wait_for_events(0, 30)
    assert time.monotonic() - started < 2


async def test_a_waiter_with_nothing_appended_waits_out_its_timeout(store: EventStore) -> None:
    started = time.monotonic()
    await wakeups_of(store, poll_interval=0.05).wait_for_events(0, 0.3)
    assert time.monotonic() - started >= 0.29


async def test_an_append_from_another_task_wakes_a_waiter(store: EventStore) -> None:
    waiting = asyncio.create_task(wakeups_of(store, poll_interval=0.05).wait_for_events(0, 30))
    await asyncio.sleep(0.1)
    assert not waiting.done()
    started = time.monotonic()
    await store.append([new("a", 1)])
    await asyncio.wait_for(waiting, 5)
    assert time.monotonic() - started < 2


async def test_pushed_wake_ups_need_no_polling(store: EventStore) -> None:
    """Memory and PostgreSQL wake a waiter on commit; SQLite falls back to polling."""
    pushed = isinstance(store, Wakeups)
    assert pushed == (type(store).__name__ in PUSHED)
    if not pushed:
        return
    waiting = asyncio.create_task(wakeups_of(store, poll_interval=60).wait_for_events(0, 60))
    await asyncio.sleep(0.1)
    await store.append([new("a", 1)])
    await asyncio.wait_for(waiting, 5)  # far below the 60 s poll: the append itself woke it


# --------------------------------------------------------------------------- raw rows


def rows_of(store: EventStore) -> RawRows:
    rows = raw_rows_of(store)
    assert rows is not None, f"{type(store).__name__} offers no raw rows"
    return rows


async def fill(store: EventStore, clock: ManualClock) -> list[str]:
    """Five events in three batches, two blobs and a cursor; returns the blob names."""
    blobs = [await store.put_blob(b"first page " * 50), await store.put_blob(b"second")]
    await store.append([new("a", 1, blob=blobs[0]), new("b", 1)])
    clock.advance(5)
    await store.append([new("a", 2, ratio="1/2")])
    clock.advance(5)
    await store.append([new("c", 1), new("a", 3, blob=blobs[1])])
    await store.set_cursor("notifier", 3)
    return sorted(blobs)


async def copy(source: RawRows, target: RawRows, batch: int) -> None:
    until, _ = await source.last()
    async for names in source.blob_names(batch):
        await target.write_blobs(await source.read_blobs(await target.missing_blobs(names)))
    have, _ = await target.last()
    async for page in source.events(have, until, batch):
        assert 0 < len(page) <= batch
        await target.write_events(page)


async def test_raw_rows_copy_a_log_with_every_byte_and_hash(
    store: EventStore, clock: ManualClock
) -> None:
    blobs = await fill(store, clock)
    source = rows_of(store)
    assert await source.last() == await store.head()
    assert await source.event_hash(2) == (await store.get_event(2) or pytest.fail()).hash
    assert await source.event_hash(99) is None
    assert await source.cursors() == {"notifier": 3}

    twin = MemoryEventStore()
    await copy(source, rows_of(twin), batch=2)
    assert await twin.read() == await store.read()
    assert await twin.head() == await store.head()
    for name in blobs:
        assert await twin.get_blob(name) == await store.get_blob(name)


async def test_raw_rows_write_into_every_backend(store: EventStore, clock: ManualClock) -> None:
    origin = MemoryEventStore(clock=clock)
    blobs = await fill(origin, clock)
    await copy(rows_of(origin), rows_of(store), batch=2)
    assert await store.read() == await origin.read()
    assert await store.head() == await origin.head()
    assert [b async for b in store.iterate_blob_ids()] == blobs
    # The copy is a log like any other: appending continues its chain.
    (appended,) = await store.append([new("a", 4)])
    assert (appended.seq, appended.version) == (6, 4)
    assert appended.prev_hash == (await origin.head())[1]


async def test_raw_rows_refuse_a_batch_that_does_not_follow_the_head(
    store: EventStore, clock: ManualClock
) -> None:
    origin = MemoryEventStore(clock=clock)
    await fill(origin, clock)
    await store.append([new("z", 1), new("z", 2)])
    target = rows_of(store)
    pages = [page async for page in rows_of(origin).events(0, 5, 5)]
    with pytest.raises(StoreError, match="moved on meanwhile"):
        await target.write_events(pages[0])
    assert [e.stream for e in await store.read()] == ["z", "z"]  # nothing written


# --------------------------------------------------------------------------- scans


async def scanned(
    store: EventStore, *, until: int | None, recorded_by: str | None, batch: int, paged: bool
) -> list[Sequence[StoredEvent]]:
    pages: list[Sequence[StoredEvent]] = []
    scan = PagedScan(store) if paged else scan_of(store)
    await scan.scan(
        lambda page: pages.append(list(page)), until=until, recorded_by=recorded_by, batch=batch
    )
    return pages


@pytest.mark.parametrize("paged", [False, True], ids=["own", "paged"])
async def test_a_scan_hands_over_the_prefix_in_pages(
    store: EventStore, clock: ManualClock, paged: bool
) -> None:
    await fill(store, clock)
    events = await store.read()
    times = sorted({e.recorded_at for e in events})
    cases = [
        (None, None, events),
        (3, None, events[:3]),
        (None, times[1], [e for e in events if e.recorded_at <= times[1]]),
        (4, times[0], [e for e in events if e.recorded_at <= times[0]]),
        (None, "2000-01-01T00:00:00.000000Z", []),
    ]
    for until, recorded_by, expected in cases:
        for batch in (1, 2, 5000):
            pages = await scanned(
                store, until=until, recorded_by=recorded_by, batch=batch, paged=paged
            )
            assert all(0 < len(page) <= batch for page in pages)
            assert [e for page in pages for e in page] == expected, (until, recorded_by, batch)


async def test_a_scan_refuses_an_empty_batch(store: EventStore) -> None:
    with pytest.raises(ValueError, match="batch"):
        await scan_of(store).scan(lambda page: None, until=None, recorded_by=None, batch=0)

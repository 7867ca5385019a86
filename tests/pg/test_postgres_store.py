"""What only PostgreSQL adds to the store contract: many writers at once, exact bytes,
append-only rules, migrations under a lock, error messages, and LISTEN/NOTIFY wake-ups.

(The shared contract runs here too: tests/store/test_contract.py with the postgres fixture.)
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from datetime import UTC, datetime

import asyncpg
import pytest

from monitor.audit.verify import verify_store
from monitor.daemon.workers import wait_for_events
from monitor.errors import StoreError, StoreUnavailableError
from monitor.events import NewEvent, canonical_bytes
from monitor.store import open_store
from monitor.store.postgres import SCHEMA_VERSION, PostgresEventStore
from tests.pg.support import schema_of, server_url


def noted(stream: str, n: int, event_id: str, **data: object) -> NewEvent:
    return NewEvent(event_id=event_id, stream=stream, type="Noted", schema=1, data={"n": n, **data})


async def raw(sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(server_url())
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def test_many_connections_and_tasks_append_gap_free_in_commit_order(pg_url: str) -> None:
    """4 stores (4 pools) × 6 tasks append at once while a reader watches: the reader never
    sees a later seq before an earlier one, and the finished log is 1..N with an intact chain."""
    stores = [await PostgresEventStore.open(pg_url, pool_size=4) for _ in range(4)]
    done = asyncio.Event()
    seen: list[int] = []

    async def reader() -> None:
        # Every read must continue exactly where the last one stopped: a gap visible at
        # any moment would mean seq n + 1 committed before seq n.
        while True:
            finished = done.is_set()
            page = await stores[0].read(after=seen[-1] if seen else 0)
            seqs = [e.seq for e in page]
            assert seqs == list(range(len(seen) + 1, len(seen) + 1 + len(seqs)))
            seen.extend(seqs)
            if finished:
                return
            await asyncio.sleep(0)

    async def writer(store_index: int, task: int) -> list[int]:
        mine: list[int] = []
        for i in range(12):
            stream = f"s{(store_index + task) % 5}"
            size = 1 + (i % 3)
            batch = [noted(stream, i, f"w{store_index}-{task}-{i}-{k}", k=k) for k in range(size)]
            stored = await stores[store_index].append(batch)
            mine += [e.seq for e in stored]
        return mine

    try:
        watching = asyncio.create_task(reader())
        results = await asyncio.gather(*(writer(s, t) for s in range(4) for t in range(6)))
        done.set()
        await watching
        total = sum(len(r) for r in results)
        assert total == 4 * 6 * (4 * 1 + 4 * 2 + 4 * 3)
        for mine in results:
            assert mine == sorted(mine)  # each writer's appends land in the order it made them
        events = await stores[1].read()
        assert [e.seq for e in events] == list(range(1, total + 1)) == seen
        for stream in {e.stream for e in events}:
            versions = [e.version for e in events if e.stream == stream]
            assert versions == list(range(1, len(versions) + 1))
        for before, after in itertools.pairwise(events):
            assert after.prev_hash == before.hash
        report = await verify_store(stores[2])
        assert report.ok, report.findings
        assert report.events == total
        assert await stores[3].head() == (total, events[-1].hash)
    finally:
        for store in stores:
            await store.close()


async def test_event_data_is_stored_as_the_exact_hashed_bytes(pg_store: PostgresEventStore) -> None:
    data = {"title": "Données — 政府", "zeta": 1, "alpha": [3, {"b": 2, "a": 1}]}
    [stored] = await pg_store.append(
        [NewEvent(event_id="e1", stream="s", type="Noted", schema=1, data=data)]
    )
    [row] = await raw(f'SELECT data FROM "{pg_store.schema}".events WHERE seq = 1')
    assert bytes(row["data"]) == canonical_bytes(data)
    assert json.loads(bytes(row["data"])) == data
    assert stored.expected_hash() == stored.hash


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE {s}.events SET type = 'Other'",
        "DELETE FROM {s}.events",
        "TRUNCATE {s}.events",
        "UPDATE {s}.blobs SET codec = 'none'",
        "DELETE FROM {s}.blobs",
    ],
)
async def test_events_and_blobs_cannot_be_edited(
    pg_store: PostgresEventStore, statement: str
) -> None:
    await pg_store.append([noted("s", 1, "e1")])
    await pg_store.put_blob(b"page")
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await raw(statement.format(s=f'"{pg_store.schema}"'))
    assert (await verify_store(pg_store)).ok
    assert len(await pg_store.read()) == 1


async def test_workers_opening_a_new_schema_together_migrate_it_once(pg_url: str) -> None:
    stores = await asyncio.gather(*(PostgresEventStore.open(pg_url) for _ in range(5)))
    try:
        rows = await raw(f'SELECT version FROM "{schema_of(pg_url)}".schema_migrations')
        assert [r["version"] for r in rows] == list(range(1, SCHEMA_VERSION + 1))
        await stores[0].append([noted("s", 1, "e1")])
        assert (await stores[4].head())[0] == 1
    finally:
        for store in stores:
            await store.close()


async def test_a_schema_from_a_newer_version_is_refused_untouched(pg_url: str) -> None:
    async with open_store(pg_url):
        pass
    schema = schema_of(pg_url)
    await raw(f'INSERT INTO "{schema}".schema_migrations (version) VALUES (99)')
    with pytest.raises(StoreUnavailableError, match="newer than this policy-monitor"):
        async with open_store(pg_url):
            pass


async def test_another_applications_events_table_is_refused(pg_url: str) -> None:
    schema = schema_of(pg_url)
    await raw(f'CREATE SCHEMA "{schema}"')
    await raw(f'CREATE TABLE "{schema}".events (id int)')
    with pytest.raises(StoreUnavailableError, match="not a monitor log"):
        async with open_store(pg_url):
            pass
    assert await raw(f'SELECT * FROM "{schema}".events') == []


async def test_create_false_refuses_a_database_without_a_log(pg_url: str) -> None:
    with pytest.raises(StoreUnavailableError, match="run `monitor check` first"):
        async with open_store(pg_url, create=False):
            pass
    assert await raw("SELECT 1 FROM pg_namespace WHERE nspname = $1", schema_of(pg_url)) == []


async def test_unreachable_server_is_unavailable_and_the_password_stays_hidden(
    closed_port: int,
) -> None:
    url = f"postgresql://monitor:s3cret@127.0.0.1:{closed_port}/monitor"
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError) as caught:
        async with open_store(url):
            pass
    assert time.monotonic() - started < 15
    message = str(caught.value)
    assert "cannot reach PostgreSQL" in message
    assert "s3cret" not in message
    assert f"monitor@127.0.0.1:{closed_port}" in message


async def test_a_missing_database_is_named(pg_url: str) -> None:
    missing = server_url().rsplit("/", 1)[0] + "/no_such_database_here"
    with pytest.raises(StoreUnavailableError, match="does not exist"):
        async with open_store(missing):
            pass


async def test_a_bad_schema_name_is_refused_before_connecting() -> None:
    with pytest.raises(StoreUnavailableError, match="plain lowercase identifier"):
        async with open_store('postgresql://127.0.0.1:1/x?schema=a";drop'):
            pass


async def test_recorded_at_never_goes_back_across_workers_with_skewed_clocks(
    pg_url: str,
) -> None:
    ahead = await PostgresEventStore.open(
        pg_url, clock=lambda: datetime(2025, 3, 1, 12, tzinfo=UTC)
    )
    behind = await PostgresEventStore.open(
        pg_url, clock=lambda: datetime(2025, 3, 1, 11, tzinfo=UTC)
    )
    try:
        [first] = await ahead.append([noted("a", 1, "e1")])
        [second] = await behind.append([noted("b", 1, "e2")])
        assert second.recorded_at == first.recorded_at == "2025-03-01T12:00:00.000000Z"
    finally:
        await ahead.close()
        await behind.close()


async def test_a_waiter_wakes_on_another_connections_commit(pg_url: str) -> None:
    follower = await PostgresEventStore.open(pg_url)
    writer = await PostgresEventStore.open(pg_url)
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await follower.wait_for_events(0, 0.3)  # nothing appended: waits out the timeout
        assert loop.time() - started >= 0.29

        waiting = asyncio.create_task(wait_for_events(follower, 0, 20))
        await asyncio.sleep(0.2)
        assert not waiting.done()
        started = loop.time()
        await writer.append([noted("s", 1, "e1")])
        await asyncio.wait_for(waiting, 2)
        assert loop.time() - started < 1.0  # woken by NOTIFY, not by the 20 s timeout

        started = loop.time()
        await follower.wait_for_events(0, 20)  # already past: returns at once
        assert loop.time() - started < 0.5
    finally:
        await follower.close()
        await writer.close()


async def test_a_waiter_falls_back_to_polling_when_its_listener_is_cut(pg_url: str) -> None:
    follower = await PostgresEventStore.open(pg_url)
    writer = await PostgresEventStore.open(pg_url)
    try:
        await follower.wait_for_events(0, 0.05)  # starts the listener
        await raw(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE pid <> pg_backend_pid() AND query LIKE 'LISTEN%'"
        )
        waiting = asyncio.create_task(follower.wait_for_events(0, 20))
        await asyncio.sleep(0.3)
        await writer.append([noted("s", 1, "e1")])
        await asyncio.wait_for(waiting, 6)
    finally:
        await follower.close()
        await writer.close()


async def test_the_polling_helper_serves_stores_without_notify(tmp_path: object) -> None:
    async with open_store("memory://") as store:
        waiting = asyncio.create_task(wait_for_events(store, 0, 20, poll_interval=0.05))
        await asyncio.sleep(0.1)
        assert not waiting.done()
        await store.append([noted("s", 1, "e1")])
        await asyncio.wait_for(waiting, 2)


async def test_a_driver_error_is_translated(pg_store: PostgresEventStore) -> None:
    await raw(f'ALTER TABLE "{pg_store.schema}".cursors RENAME TO cursors_gone')
    with pytest.raises(StoreError) as caught:
        await pg_store.get_cursor("notifier")
    assert not isinstance(caught.value, StoreUnavailableError)
    assert "cursors" in str(caught.value)

"""The EventStore contract, run against every backend (see conftest.STORE_URLS)."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
from typing import Any

import pytest

from monitor.audit.verify import verify_store
from monitor.errors import (
    BlobMissingError,
    ConcurrencyError,
    DuplicateEventError,
    StoreUnavailableError,
)
from monitor.events import GENESIS_HASH, NewEvent, StoredEvent, format_time
from monitor.store import EventStore

from .conftest import ManualClock


def new(
    stream: str, n: int, *, event_id: str | None = None, type_: str = "Noted", **data: Any
) -> NewEvent:
    return NewEvent(
        event_id=event_id or f"{stream}-{n}",
        stream=stream,
        type=type_,
        schema=1,
        data={"n": n, **data},
    )


async def all_events(store: EventStore) -> list[StoredEvent]:
    return await store.read()


# --------------------------------------------------------------------------- ordering


async def test_seq_is_global_and_gap_free_across_batches(store: EventStore) -> None:
    await store.append([new("a", 1), new("b", 1)])
    await store.append([new("a", 2)])
    await store.append([new("c", 1), new("b", 2), new("a", 3)])
    events = await all_events(store)
    assert [e.seq for e in events] == [1, 2, 3, 4, 5, 6]


async def test_versions_count_within_each_stream(store: EventStore) -> None:
    await store.append([new("a", 1)])
    result = await store.append([new("b", 1), new("a", 2), new("b", 2), new("a", 3)])
    assert [(e.stream, e.version) for e in result] == [("b", 1), ("a", 2), ("b", 2), ("a", 3)]
    assert await store.stream_version("a") == 3
    assert await store.stream_version("b") == 2
    assert await store.stream_version("never") == 0
    assert await store.streams() == ["a", "b"]


async def test_each_event_links_to_the_previous_hash(store: EventStore) -> None:
    await store.append([new("a", 1), new("a", 2)])
    await store.append([new("b", 1)])
    events = await all_events(store)
    assert events[0].prev_hash == GENESIS_HASH
    for before, after in itertools.pairwise(events):
        assert after.prev_hash == before.hash
    assert all(e.hash == e.expected_hash() for e in events)
    assert await store.head() == (3, events[-1].hash)


async def test_event_count_is_the_head_seq_and_stops_at_until(store: EventStore) -> None:
    assert await store.event_count() == 0
    await store.append([new("a", 1), new("b", 1)])
    await store.append([new("a", 2)])
    assert await store.event_count() == 3
    assert await store.event_count(until=2) == 2
    assert await store.event_count(until=0) == 0


async def test_empty_store_head_is_genesis(store: EventStore) -> None:
    assert await store.head() == (0, GENESIS_HASH)
    assert await store.read() == []
    assert await store.streams() == []
    assert await store.get_event(1) is None
    assert await store.append([]) == []


async def test_get_event_returns_exactly_the_stored_record(store: EventStore) -> None:
    stored = await store.append([new("a", 1, title="Government requests")])
    assert await store.get_event(1) == stored[0]
    assert await store.get_event(2) is None
    assert await store.get_event(0) is None


# --------------------------------------------------------------------------- concurrency


async def test_expected_version_allows_the_append(store: EventStore) -> None:
    await store.append([new("a", 1)], expected={"a": 0})
    result = await store.append([new("a", 2), new("b", 1)], expected={"a": 1, "b": 0})
    assert [e.version for e in result] == [2, 1]


async def test_a_batch_failing_its_expected_version_appends_nothing(store: EventStore) -> None:
    await store.append([new("a", 1)])
    head = await store.head()
    batch = [new("b", 1), new("a", 2), new("b", 2)]
    with pytest.raises(ConcurrencyError) as caught:
        await store.append(batch, expected={"b": 0, "a": 0})
    assert (caught.value.stream, caught.value.expected, caught.value.actual) == ("a", 0, 1)
    assert "stream 'a' is at version 1, but the writer expected 0" in str(caught.value)
    assert await store.head() == head
    assert await store.stream_version("b") == 0
    assert len(await all_events(store)) == 1


async def test_expected_version_can_guard_a_stream_the_batch_does_not_write(
    store: EventStore,
) -> None:
    await store.append([new("source", 1)])
    with pytest.raises(ConcurrencyError):
        await store.append([new("notify", 1)], expected={"source": 0})
    await store.append([new("notify", 1)], expected={"source": 1})
    assert await store.stream_version("notify") == 1


async def test_racing_writers_with_the_same_expectation_one_wins(store: EventStore) -> None:
    async def attempt(i: int) -> bool:
        try:
            await store.append([new("a", 1, event_id=f"writer-{i}")], expected={"a": 0})
        except ConcurrencyError:
            return False
        return True

    outcomes = await asyncio.gather(*(attempt(i) for i in range(8)))
    assert outcomes.count(True) == 1
    assert await store.stream_version("a") == 1


async def test_many_concurrent_tasks_keep_seq_gap_free_and_chain_valid(
    store: EventStore,
) -> None:
    async def writer(task: int) -> None:
        for i in range(10):
            await store.append([new(f"s{task % 3}", i, event_id=f"t{task}-{i}")])

    await asyncio.gather(*(writer(t) for t in range(12)))
    events = await all_events(store)
    assert [e.seq for e in events] == list(range(1, 121))
    for stream in ("s0", "s1", "s2"):
        versions = [e.version for e in events if e.stream == stream]
        assert versions == list(range(1, 41))
    report = await verify_store(store)
    assert report.ok, report.findings
    assert report.events == 120


# --------------------------------------------------------------------------- idempotency


async def test_a_retried_batch_is_a_harmless_no_op(store: EventStore) -> None:
    batch = [new("a", 1), new("b", 1)]
    first = await store.append(batch, expected={"a": 0, "b": 0})
    # The stale expectation must not fail the retry: nothing new would be written.
    again = await store.append(batch, expected={"a": 0, "b": 0})
    assert again == first
    assert await store.head() == (2, first[-1].hash)


async def test_a_partly_stored_batch_appends_only_the_new_events(store: EventStore) -> None:
    [first] = await store.append([new("a", 1)])
    result = await store.append([new("a", 1), new("a", 2)], expected={"a": 1})
    assert result[0] == first
    assert (result[1].seq, result[1].version) == (2, 2)


async def test_same_event_id_with_other_content_is_refused(store: EventStore) -> None:
    await store.append([new("a", 1, event_id="e-1")])
    conflicting = new("a", 99, event_id="e-1")
    with pytest.raises(DuplicateEventError) as caught:
        await store.append([new("b", 1), conflicting])
    assert "e-1" in str(caught.value)
    assert await store.head() == (1, (await store.get_event(1) or pytest.fail()).hash)
    assert await store.stream_version("b") == 0


async def test_same_event_twice_in_one_batch_is_stored_once(store: EventStore) -> None:
    event = new("a", 1)
    result = await store.append([event, event, new("a", 2)])
    assert result[0] == result[1]
    assert [e.seq for e in await all_events(store)] == [1, 2]
    with pytest.raises(DuplicateEventError):
        await store.append([new("b", 1, event_id="x"), new("b", 2, event_id="x")])
    assert await store.head() == (2, result[2].hash)


async def test_tuples_and_lists_are_the_same_content(store: EventStore) -> None:
    """What the caller passes and what the store reads back must compare equal on retry."""
    event = NewEvent(event_id="t", stream="a", type="Noted", schema=1, data={"xs": (1, 2)})
    [stored] = await store.append([event])
    assert stored.data == {"xs": [1, 2]}
    assert await store.append([event]) == [stored]


async def test_stored_data_cannot_be_changed_through_python_objects(store: EventStore) -> None:
    data: dict[str, Any] = {"items": ["a"]}
    event = NewEvent(event_id="m", stream="a", type="Noted", schema=1, data=data)
    [returned] = await store.append([event])
    data["items"].append("caller")
    returned.data["items"].append("result")
    (await store.read())[0].data["items"].append("reader")
    assert (await store.read())[0].data == {"items": ["a"]}
    assert (await verify_store(store)).ok


async def test_float_data_is_refused_and_nothing_is_written(store: EventStore) -> None:
    bad = NewEvent(event_id="f", stream="a", type="Noted", schema=1, data={"ratio": 0.5})
    with pytest.raises(TypeError, match="float"):
        await store.append([new("a", 1), bad])
    assert await store.head() == (0, GENESIS_HASH)


# --------------------------------------------------------------------------- time


async def test_recorded_at_comes_from_the_clock(store: EventStore, clock: ManualClock) -> None:
    [event] = await store.append([new("a", 1)])
    assert event.recorded_at == format_time(clock.now) == "2025-03-01T12:00:00.000000Z"


async def test_recorded_at_never_decreases_when_the_clock_steps_back(
    store: EventStore, clock: ManualClock
) -> None:
    [first] = await store.append([new("a", 1)])
    clock.advance(-3600)
    [second] = await store.append([new("a", 2)])
    assert second.recorded_at == first.recorded_at
    clock.advance(3600 + 5)
    [third] = await store.append([new("a", 3)])
    assert third.recorded_at == "2025-03-01T12:00:05.000000Z"


# --------------------------------------------------------------------------- reading


async def _fill(store: EventStore) -> None:
    for i in range(1, 5):
        await store.append([new("a", i, type_="Fetched"), new("b", i, type_="Changed")])


async def test_read_filters_by_position_stream_and_type(store: EventStore) -> None:
    await _fill(store)
    assert [e.seq for e in await store.read(after=5)] == [6, 7, 8]
    assert [e.seq for e in await store.read(after=2, until=4)] == [3, 4]
    assert [e.seq for e in await store.read(stream="b")] == [2, 4, 6, 8]
    assert [e.seq for e in await store.read(types=["Fetched"])] == [1, 3, 5, 7]
    assert [e.seq for e in await store.read(types="Changed")] == [2, 4, 6, 8]
    assert [e.seq for e in await store.read(types={"Fetched", "Changed"}, limit=3)] == [1, 2, 3]
    assert [e.seq for e in await store.read(stream="a", types=["Changed"])] == []
    assert [e.seq for e in await store.read(stream="a", after=3, limit=1)] == [5]
    assert await store.read(types=[]) == []
    assert await store.read(limit=0) == []
    assert await store.read(after=8) == []
    with pytest.raises(ValueError):
        await store.read(after=-1)


async def test_iterate_streams_everything_in_order_in_small_batches(store: EventStore) -> None:
    for i in range(1, 24):
        await store.append([new("a" if i % 2 else "b", i)])
    seen = [e.seq async for e in store.iterate(batch=5)]
    assert seen == list(range(1, 24))
    evens = [e.seq async for e in store.iterate(stream="b", after=4, until=20, batch=3)]
    assert evens == [6, 8, 10, 12, 14, 16, 18, 20]
    exact = [e.seq async for e in store.iterate(batch=23)]
    assert exact == seen
    with pytest.raises(ValueError):
        [e async for e in store.iterate(batch=0)]


# --------------------------------------------------------------------------- blobs


async def test_blob_round_trip_is_named_by_sha256(store: EventStore) -> None:
    page = b"<html>Government requests for user data</html>" * 2000
    name = await store.put_blob(page)
    assert name == hashlib.sha256(page).hexdigest()
    assert await store.get_blob(name) == page
    assert await store.has_blob(name)
    empty = await store.put_blob(b"")
    assert await store.get_blob(empty) == b""


async def test_large_incompressible_blob_round_trips(store: EventStore) -> None:
    data = os.urandom(300_000)
    name = await store.put_blob(data)
    assert await store.get_blob(name) == data


async def test_blobs_are_idempotent_and_listed_once(store: EventStore) -> None:
    names = [await store.put_blob(b"one"), await store.put_blob(b"two")]
    assert await store.put_blob(b"one") == names[0]
    assert [n async for n in store.iterate_blob_ids()] == sorted(names)


async def test_missing_blob_is_named(store: EventStore) -> None:
    absent = hashlib.sha256(b"never stored").hexdigest()
    assert not await store.has_blob(absent)
    with pytest.raises(BlobMissingError, match=absent):
        await store.get_blob(absent)


# --------------------------------------------------------------------------- cursors


async def test_cursors_default_to_zero_and_move_both_ways(store: EventStore) -> None:
    assert await store.get_cursor("notifier") == 0
    await store.set_cursor("notifier", 7)
    await store.set_cursor("other", 2)
    assert await store.get_cursor("notifier") == 7
    await store.set_cursor("notifier", 3)
    assert await store.get_cursor("notifier") == 3
    assert await store.get_cursor("other") == 2
    with pytest.raises(ValueError):
        await store.set_cursor("notifier", -1)


async def test_cursors_are_not_part_of_the_log(store: EventStore) -> None:
    await store.append([new("a", 1)])
    head = await store.head()
    await store.set_cursor("notifier", 1)
    assert await store.head() == head


async def test_a_closed_store_refuses_work(store: EventStore) -> None:
    await store.close()
    with pytest.raises(StoreUnavailableError, match="closed"):
        await store.append([new("a", 1)])
    with pytest.raises(StoreUnavailableError, match="closed"):
        await store.head()
    await store.close()  # closing twice is harmless

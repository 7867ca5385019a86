"""The host-pause capability, run against every backend (see conftest.STORE_URLS).

A host's ``Retry-After`` is remembered beside the log so that every process on the
same store honours it; these are the rules each backend keeps.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.store import EventStore, open_store
from monitor.store.pauses import HostPauses, host_key, pauses_of
from monitor.store.sqlite import SqliteEventStore

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def book(store: EventStore) -> HostPauses:
    pauses = pauses_of(store)
    assert pauses is not None, f"{type(store).__name__} keeps no host pauses"
    return pauses


async def test_every_backend_keeps_host_pauses(store: EventStore) -> None:
    assert pauses_of(store) is not None


async def test_no_pause_until_one_is_recorded(store: EventStore) -> None:
    pauses = book(store)
    assert await pauses.host_pause("example.org:443", now=NOW) is None
    assert await pauses.host_pauses(now=NOW) == []


async def test_a_recorded_pause_is_read_back_exactly(store: EventStore) -> None:
    pauses = book(store)
    until = NOW + timedelta(seconds=3600, microseconds=123456)
    kept = await pauses.pause_host("example.org:443", until, reason="HTTP 429", now=NOW)
    assert (kept.host, kept.until, kept.reason, kept.recorded_at) == (
        "example.org:443",
        until,
        "HTTP 429",
        NOW,
    )
    assert await pauses.host_pause("example.org:443", now=NOW) == kept
    assert await pauses.host_pause("example.org:8443", now=NOW) is None
    assert await pauses.host_pauses(now=NOW) == [kept]


async def test_a_shorter_pause_never_shortens_a_longer_one(store: EventStore) -> None:
    pauses = book(store)
    long = await pauses.pause_host("a:80", NOW + timedelta(hours=1), reason="long", now=NOW)
    kept = await pauses.pause_host(
        "a:80", NOW + timedelta(seconds=5), reason="short", now=NOW + timedelta(seconds=1)
    )
    assert kept == long
    assert await pauses.host_pause("a:80", now=NOW) == long
    longer = await pauses.pause_host("a:80", NOW + timedelta(hours=2), reason="longer", now=NOW)
    assert longer.reason == "longer"
    assert await pauses.host_pause("a:80", now=NOW) == longer


async def test_an_ended_pause_is_not_returned(store: EventStore) -> None:
    pauses = book(store)
    await pauses.pause_host("a:80", NOW + timedelta(seconds=10), reason="r", now=NOW)
    await pauses.pause_host("b:80", NOW + timedelta(seconds=60), reason="r", now=NOW)
    later = NOW + timedelta(seconds=10)  # the end itself: the host may be asked again
    assert await pauses.host_pause("a:80", now=later) is None
    assert [p.host for p in await pauses.host_pauses(now=later)] == ["b:80"]
    # Recording another pause clears ended ones; a running pause is untouched.
    await pauses.pause_host("c:80", later + timedelta(seconds=5), reason="r", now=later)
    assert [p.host for p in await pauses.host_pauses(now=NOW)] == ["b:80", "c:80"]


async def test_pauses_are_listed_by_host(store: EventStore) -> None:
    pauses = book(store)
    for host in ("z.example:443", "a.example:443", "m.example:80"):
        await pauses.pause_host(host, NOW + timedelta(minutes=5), reason="r", now=NOW)
    assert [p.host for p in await pauses.host_pauses(now=NOW)] == [
        "a.example:443",
        "m.example:80",
        "z.example:443",
    ]


async def test_pauses_are_not_part_of_the_log(store: EventStore) -> None:
    await book(store).pause_host("a:80", NOW + timedelta(hours=1), reason="r", now=NOW)
    assert await store.read() == []
    assert await store.head() == (0, "0" * 64)


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("https://Example.org/a?b", "example.org:443"),
        ("http://example.org/", "example.org:80"),
        ("http://127.0.0.1:8080/x", "127.0.0.1:8080"),
        ("https://[::1]:8443/", "::1:8443"),
    ],
)
def test_host_key_is_host_and_port(url: str, key: str) -> None:
    assert host_key(url) == key


async def test_a_pause_survives_reopening_the_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    async with open_store(url) as first:
        await book(first).pause_host("a:80", NOW + timedelta(hours=1), reason="429", now=NOW)
    async with open_store(url) as second:
        pause = await book(second).host_pause("a:80", now=NOW)
    assert pause is not None and pause.reason == "429"


async def test_a_schema_1_sqlite_file_gains_the_pause_table(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    await (await SqliteEventStore.open(path)).close()
    with sqlite3.connect(path) as db:  # back to what policy-monitor 1 schema files hold
        db.execute("DROP TABLE host_pauses")
        db.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    async with open_store(f"sqlite:///{path}") as store:
        await book(store).pause_host("a:80", NOW + timedelta(hours=1), reason="r", now=NOW)
        assert len(await book(store).host_pauses(now=NOW)) == 1

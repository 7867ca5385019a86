"""Choosing a backend by URL, and keeping passwords out of messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.errors import StoreUnavailableError
from monitor.events import NewEvent
from monitor.store import MemoryEventStore, SqliteEventStore, describe_url, open_store

EVENT = NewEvent(event_id="e", stream="s", type="Noted", schema=1, data={})


async def test_memory_url_opens_a_memory_store() -> None:
    async with open_store("memory://") as store:
        assert isinstance(store, MemoryEventStore)
        await store.append([EVENT])
        assert (await store.head())[0] == 1


async def test_relative_sqlite_url_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    async with open_store("sqlite:///data.db") as store:
        assert isinstance(store, SqliteEventStore)
        await store.append([EVENT])
    assert (tmp_path / "data.db").is_file()


async def test_absolute_sqlite_url_and_bare_paths(tmp_path: Path) -> None:
    async with open_store(f"sqlite:///{tmp_path}/abs.db") as store:
        await store.append([EVENT])
    assert str(tmp_path).startswith("/")
    assert (tmp_path / "abs.db").is_file()
    for name in ("bare.db", "bare.sqlite"):
        async with open_store(str(tmp_path / name)) as store:
            assert isinstance(store, SqliteEventStore)
        assert (tmp_path / name).is_file()


async def test_the_store_is_closed_when_the_block_ends(tmp_path: Path) -> None:
    async with open_store(f"sqlite:///{tmp_path}/m.db") as store:
        pass
    with pytest.raises(StoreUnavailableError, match="closed"):
        await store.head()


async def test_create_false_refuses_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailableError, match="run `monitor check` first"):
        async with open_store(f"sqlite:///{tmp_path}/missing.db", create=False):
            pass
    assert not (tmp_path / "missing.db").exists()


async def test_unreachable_postgresql_is_a_clear_error_without_the_password(
    closed_port: int,
) -> None:
    with pytest.raises(StoreUnavailableError) as caught:
        async with open_store(f"postgresql://monitor:s3cret@127.0.0.1:{closed_port}/monitor"):
            pass
    assert "cannot reach PostgreSQL" in str(caught.value)
    assert "s3cret" not in str(caught.value)


@pytest.mark.parametrize(
    "url",
    ["mysql://root:s3cret@localhost/monitor", "monitor.txt", "sqlite://host/monitor.db"],
)
def test_unsupported_urls_are_refused_with_the_password_hidden(url: str) -> None:
    with pytest.raises(StoreUnavailableError) as caught:
        open_store(url)
    assert "s3cret" not in str(caught.value)
    assert "sqlite:///" in str(caught.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://user:s3cret@db:5432/monitor", "postgresql://user@db:5432/monitor"),
        ("postgresql://:s3cret@db/monitor", "postgresql://db/monitor"),
        ("postgresql://user@db/monitor", "postgresql://user@db/monitor"),
        (
            "postgresql://db/monitor?sslmode=require&password=s3cret",
            "postgresql://db/monitor?sslmode=require",
        ),
        ("sqlite:////var/lib/monitor/monitor.db", "sqlite:////var/lib/monitor/monitor.db"),
        ("sqlite:///monitor.db", "sqlite:///monitor.db"),
        ("memory://", "memory://"),
        ("monitor.db", "monitor.db"),
    ],
)
def test_describe_url_strips_passwords_and_nothing_else(url: str, shown: str) -> None:
    assert describe_url(url) == shown

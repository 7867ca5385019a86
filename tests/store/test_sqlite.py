"""Behaviour only the SQLite store has: the file on disk, its guards and its failure modes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.audit.verify import verify_store
from monitor.errors import StoreError, StoreUnavailableError
from monitor.events import NewEvent, canonical_bytes
from monitor.store.sqlite import APPLICATION_ID, SCHEMA_VERSION, SqliteEventStore, translate_error

from .conftest import ManualClock

REPO = Path(__file__).resolve().parents[2]


def new(stream: str, n: int) -> NewEvent:
    return NewEvent(
        event_id=f"{stream}-{n}", stream=stream, type="Noted", schema=1, data={"n": n, "é": "ü"}
    )


@contextlib.contextmanager
def raw(path: Path) -> Iterator[sqlite3.Connection]:
    """A plain sqlite3 connection on the file, as a curious (or malicious) user would open it."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        yield db
    finally:
        db.close()


def mode(path: Path | str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


async def test_append_only_triggers_refuse_updates_and_deletes(tmp_path: Path) -> None:
    path = tmp_path / "monitor.db"
    store = await SqliteEventStore.open(path)
    await store.append([new("a", 1)])
    await store.put_blob(b"page")
    await store.close()
    with raw(path) as db:
        for sql in ("UPDATE events SET data = '{}' WHERE seq = 1", "DELETE FROM events"):
            with pytest.raises(sqlite3.IntegrityError, match="events are append-only"):
                db.execute(sql)
        for sql in ("UPDATE blobs SET content = x'00'", "DELETE FROM blobs"):
            with pytest.raises(sqlite3.IntegrityError, match="blobs are append-only"):
                db.execute(sql)
        assert db.execute("SELECT COUNT(*) FROM events").fetchone() == (1,)


async def test_data_column_holds_the_exact_canonical_json(tmp_path: Path) -> None:
    path = tmp_path / "monitor.db"
    store = await SqliteEventStore.open(path)
    [event] = await store.append([new("a", 1)])
    await store.close()
    with raw(path) as db:
        (data,) = db.execute("SELECT data FROM events WHERE seq = 1").fetchone()
    assert data == canonical_bytes(event.data).decode("utf-8") == '{"n":1,"é":"ü"}'


async def test_database_files_are_owner_only_even_with_a_permissive_umask(
    tmp_path: Path,
) -> None:
    path = tmp_path / "monitor.db"
    previous = os.umask(0)
    try:
        store = await SqliteEventStore.open(path)
        await store.append([new("a", 1)])
        for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            assert name.exists(), name
            assert mode(name) == 0o600, name
        await store.close()
    finally:
        os.umask(previous)


async def test_schema_is_marked_and_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "monitor.db"
    await (await SqliteEventStore.open(path)).close()
    with raw(path) as db:
        assert db.execute("PRAGMA application_id").fetchone() == (APPLICATION_ID,)
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (
            str(SCHEMA_VERSION),
        )


async def test_reopening_preserves_everything(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "monitor.db"
    store = await SqliteEventStore.open(path, clock=clock)
    before = await store.append([new("a", 1), new("b", 1), new("a", 2)])
    blob = await store.put_blob(b"<p>policy</p>")
    await store.set_cursor("notifier", 2)
    await store.close()

    clock.advance(-86400)  # the machine's clock went back a day while we were closed
    store = await SqliteEventStore.open(path, clock=clock, create=False)
    try:
        assert await store.read() == before
        assert await store.head() == (3, before[-1].hash)
        assert await store.stream_version("a") == 2
        assert await store.get_blob(blob) == b"<p>policy</p>"
        assert await store.get_cursor("notifier") == 2
        [after] = await store.append([new("a", 3)])
        assert (after.seq, after.version, after.prev_hash) == (4, 3, before[-1].hash)
        assert after.recorded_at == before[-1].recorded_at
        assert (await verify_store(store)).ok
    finally:
        await store.close()


@pytest.mark.parametrize(
    "content",
    [b"this is not a database, it is a text file\n" * 200, bytes(range(256)) * 64],
    ids=["text", "binary"],
)
async def test_a_corrupt_file_is_refused_and_left_untouched(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "monitor.db"
    path.write_bytes(content)
    with pytest.raises(StoreUnavailableError, match="is not a valid monitor database") as caught:
        await SqliteEventStore.open(path)
    assert str(path) in str(caught.value)
    assert "restore from backup" in str(caught.value)
    assert path.read_bytes() == content
    assert os.listdir(tmp_path) == ["monitor.db"]


async def test_another_applications_database_is_refused_and_left_untouched(
    tmp_path: Path,
) -> None:
    path = tmp_path / "notes.db"
    with raw(path) as db:
        db.execute("CREATE TABLE notes (body TEXT)")
        db.execute("INSERT INTO notes VALUES ('keep me')")
    content = path.read_bytes()
    with pytest.raises(StoreUnavailableError, match="not a valid monitor database"):
        await SqliteEventStore.open(path)
    assert path.read_bytes() == content


async def test_a_database_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "monitor.db"
    await (await SqliteEventStore.open(path)).close()
    with raw(path) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StoreUnavailableError, match="schema 99, newer"):
        await SqliteEventStore.open(path)


async def test_without_create_a_missing_file_is_an_error_not_a_new_log(tmp_path: Path) -> None:
    path = tmp_path / "monitor.db"
    with pytest.raises(StoreUnavailableError) as caught:
        await SqliteEventStore.open(path, create=False)
    assert str(caught.value) == f"no database at {path}; run `monitor check` first"
    assert not path.exists()


async def test_a_missing_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailableError, match="is not a directory"):
        await SqliteEventStore.open(tmp_path / "nope" / "monitor.db")


async def test_a_corrupted_blob_is_reported_by_name(tmp_path: Path) -> None:
    path = tmp_path / "monitor.db"
    store = await SqliteEventStore.open(path)
    name = await store.put_blob(b"original page " * 100)
    with raw(path) as db:
        db.execute("DROP TRIGGER blobs_no_update")
        db.execute("UPDATE blobs SET content = x'28b52ffd' || content WHERE sha256 = ?", (name,))
    try:
        with pytest.raises(StoreError, match=f"blob {name} is corrupted"):
            await store.get_blob(name)
    finally:
        await store.close()


async def test_a_writer_holding_the_lock_elsewhere_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "monitor.db"
    store = await SqliteEventStore.open(path, busy_timeout_ms=100)
    try:
        with raw(path) as other:
            other.execute("BEGIN IMMEDIATE")
            with pytest.raises(StoreUnavailableError, match="locked by another process"):
                await store.append([new("a", 1)])
            other.execute("ROLLBACK")
        [event] = await store.append([new("a", 1)])
        assert event.seq == 1
    finally:
        await store.close()


async def test_two_connections_appending_alternately_stay_gap_free(tmp_path: Path) -> None:
    path = tmp_path / "monitor.db"
    first = await SqliteEventStore.open(path)
    second = await SqliteEventStore.open(path)
    try:
        for i in range(1, 21):
            await first.append([new("first", i)])
            await second.append([new("second", i)], expected={"second": i - 1})
        events = await first.read()
        assert [e.seq for e in events] == list(range(1, 41))
        assert [e.stream for e in events[:4]] == ["first", "second", "first", "second"]
        assert await second.head() == await first.head()
        assert (await verify_store(second)).ok
    finally:
        await first.close()
        await second.close()


WRITER = """
import asyncio, sys
from monitor.events import NewEvent
from monitor.store.sqlite import SqliteEventStore

async def main(path, stream, count):
    store = await SqliteEventStore.open(path)
    try:
        for i in range(1, count + 1):
            event = NewEvent(event_id=f"{stream}-{i}", stream=stream, type="Noted", schema=1,
                             data={"n": i})
            await store.append([event], expected={stream: i - 1})
            if i == 1:
                print("writing", flush=True)
    finally:
        await store.close()

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


async def test_two_processes_appending_at_once_stay_gap_free(tmp_path: Path) -> None:
    path = tmp_path / "monitor.db"
    store = await SqliteEventStore.open(path)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", WRITER, str(path), "child", "150",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        await proc.stdout.readline()  # start once the child is writing, so the two overlap
        for i in range(1, 151):
            await store.append([new("parent", i)], expected={"parent": i - 1})
        _, stderr = await proc.communicate()
        assert proc.returncode == 0, stderr.decode()
        events = await store.read()
        assert [e.seq for e in events] == list(range(1, 301))
        for stream in ("parent", "child"):
            assert [e.version for e in events if e.stream == stream] == list(range(1, 151))
        report = await verify_store(store)
        assert report.ok, report.findings
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await store.close()


# --------------------------------------------------------------------------- error translation


def test_disk_full_says_nothing_was_recorded(tmp_path: Path) -> None:
    with raw(tmp_path / "small.db") as db:
        db.execute("CREATE TABLE t (x BLOB)")
        db.execute("PRAGMA max_page_count = 3")
        with pytest.raises(sqlite3.Error) as caught:
            db.execute("INSERT INTO t VALUES (zeroblob(100000))")
    message = str(translate_error(caught.value, "/data/monitor.db"))
    assert message == (
        "disk full while writing to /data/monitor.db; nothing was recorded — "
        "free space and the check will be redone"
    )


def test_read_only_database_is_named(tmp_path: Path) -> None:
    path = tmp_path / "ro.db"
    with raw(path) as db:
        db.execute("CREATE TABLE t (x)")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        with pytest.raises(sqlite3.Error) as caught:
            db.execute("INSERT INTO t VALUES (1)")
    finally:
        db.close()
    error = translate_error(caught.value, str(path))
    assert isinstance(error, StoreUnavailableError)
    assert f"{path} is read-only" in str(error)


def test_not_a_database_is_named(tmp_path: Path) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(b"\x00garbage" * 1000)
    with raw(path) as db, pytest.raises(sqlite3.Error) as caught:
        db.execute("SELECT * FROM sqlite_master")
    error = translate_error(caught.value, str(path))
    assert isinstance(error, StoreUnavailableError)
    assert "not a valid monitor database (corrupt or another file)" in str(error)

"""The log under faults: killed writers, a full disk, locks, bad files, lost blobs, clock steps.

Each case ends in a clear ``StoreUnavailableError`` (or a recorded event), leaves a
log that verifies, and lets the interrupted check be redone with nothing lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import random
import shutil
import sqlite3
import stat
import sys
import tempfile
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from monitor.audit.verify import verify_store
from monitor.check.fetch import Fetcher
from monitor.check.pipeline import CheckRunner
from monitor.cli import main
from monitor.config.settings import Settings, SourceSettings
from monitor.errors import StoreUnavailableError
from monitor.events import StoredEvent
from monitor.store import EventStore, SqliteEventStore, open_store
from monitor.web.app import create_app
from tests.faults.appender import append_batches
from tests.pageserver import PageServer

ROOT = Path(__file__).resolve().parents[2]
NOBODY = 65534


def page(n: int, words: int = 60) -> str:
    rng = random.Random(n)
    vocabulary = ["data", "request", "policy", "court", "order"]
    text = " ".join(rng.choice(vocabulary) for _ in range(words))
    return f"<html><body><h1>Report</h1><p>Edition {n}.</p><p>{text}</p></body></html>"


class Clock:
    """A clock the test steps by hand, forwards or backwards."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def step(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@contextlib.asynccontextmanager
async def runner_on(
    store: EventStore, *sources: SourceSettings, clock: Clock | None = None
) -> AsyncIterator[CheckRunner]:
    settings = Settings(path="faults.toml", sources=sources)
    async with Fetcher(settings.monitor) as fetcher:
        if clock is None:
            yield CheckRunner(store=store, fetcher=fetcher, settings=settings)
        else:
            yield CheckRunner(store=store, fetcher=fetcher, settings=settings, clock=clock)


async def assert_verifies(store: EventStore) -> None:
    report = await verify_store(store)
    assert report.ok, [str(f) for f in report.findings]


async def start_child(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.faults.appender", *args,
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def kill_after(proc: asyncio.subprocess.Process, lines: int, rng: random.Random) -> None:
    """SIGKILL ``proc`` at a random moment after it reported ``lines`` completed writes."""
    assert proc.stdout is not None
    for _ in range(lines):
        line = await asyncio.wait_for(proc.stdout.readline(), 20)
        if not line:
            assert proc.stderr is not None
            raise AssertionError((await proc.stderr.read()).decode())
    await asyncio.sleep(rng.uniform(0, 0.03))
    proc.kill()
    await proc.wait()


# --------------------------------------------------------------------------- SIGKILL


async def test_sigkill_during_appends_leaves_only_whole_batches_and_the_redo_completes(
    tmp_path: Path,
) -> None:
    db = tmp_path / "monitor.db"
    rng = random.Random(9)
    count, size = 40, 25
    for _ in range(2):  # two kills, each at a random moment of a run that redoes the plan
        proc = await start_child("batches", str(db), str(count), str(size))
        await kill_after(proc, rng.randint(3, 12), rng)
    async with open_store(f"sqlite:///{db}", create=False) as store:
        await assert_verifies(store)
        events = await store.read()
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        streams: dict[str, list[StoredEvent]] = {}
        for event in events:
            streams.setdefault(event.stream, []).append(event)
        # A batch is all there or not there at all; the batches there are a prefix of the plan.
        assert all([e.version for e in got] == list(range(1, size + 1)) for got in streams.values())
        assert sorted(streams) == [f"batch-{n:04d}" for n in range(1, len(streams) + 1)]
        # Redone from the start, the plan appends what is missing and repeats nothing.
        await append_batches(store, count, size)
        events = await store.read()
        assert len(events) == count * size == len({e.event_id for e in events})
        await assert_verifies(store)


async def test_a_check_killed_mid_way_is_simply_redone(
    tmp_path: Path, page_server: PageServer
) -> None:
    from aiohttp import web

    served = iter(range(1, 1_000_000))

    async def changing(request: web.Request) -> web.Response:
        return web.Response(text=page(next(served)), content_type="text/html")

    urls = []
    for n in range(4):
        page_server.handlers[f"/p{n}"] = changing
        urls.append(page_server.url(f"/p{n}"))
    db = tmp_path / "monitor.db"
    rng = random.Random(4)
    proc = await start_child("checks", str(db), *urls)
    await kill_after(proc, rng.randint(6, 16), rng)
    # Each check finds the same sentence changed again: not learned as volatile here, so
    # that the redone check is the change it was when the child was killed.
    sources = [
        SourceSettings(id=f"page-{n}", url=url, learn_volatile_after=0)
        for n, url in enumerate(urls)
    ]
    async with open_store(f"sqlite:///{db}", create=False) as store:
        await assert_verifies(store)  # every event's blobs are there: blobs go in first
        before = {s.id: await store.stream_version(s.id) for s in sources}
        assert all(before.values())
        async with runner_on(store, *sources) as runner:
            reports = [await runner.check(s) for s in sources]
        assert [r.outcome for r in reports] == ["changed"] * len(sources), [
            (e.stream, e.type, e.data.get("reason")) for e in await store.read()
        ]
        for source in sources:
            events = await store.read(stream=source.id)
            assert [e.version for e in events] == list(range(1, before[source.id] + 2))
        await assert_verifies(store)


# --------------------------------------------------------------------------- disk full


async def test_a_full_disk_is_a_clear_error_and_the_check_is_redone_once_space_returns(
    tmp_path: Path, page_server: PageServer
) -> None:
    db = tmp_path / "monitor.db"
    source = SourceSettings(id="report", url=page_server.set("/r", page(1, 20_000)))
    store = await SqliteEventStore.open(db)
    try:
        async with runner_on(store, source) as runner:
            assert (await runner.check(source)).outcome == "baseline"
            # SQLite's page limit stands in for the filesystem: no page beyond today's size.
            writer = store._writer  # the store's own write connection; the limit is per connection
            [[pages]] = await writer.execute_fetchall("PRAGMA page_count")
            await writer.execute_fetchall(f"PRAGMA max_page_count = {pages}")
            page_server.set("/r", page(2, 20_000))
            with pytest.raises(StoreUnavailableError) as full:
                await runner.check(source)
            assert str(full.value) == (
                f"disk full while writing to {db}; nothing was recorded — "
                "free space and the check will be redone"
            )
            assert [e.type for e in await store.read()] == ["BaselineCaptured"]
            await assert_verifies(store)
            await writer.execute_fetchall(f"PRAGMA max_page_count = {pages * 100}")
            report = await runner.check(source)
            assert report.outcome == "changed"
            await assert_verifies(store)
    finally:
        await store.close()


# --------------------------------------------------------------------------- locked


LOCKER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()  # held until the test says so: no race with the clock
db.execute("ROLLBACK")
"""


@contextlib.asynccontextmanager
async def locked(db: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    """Another process holding the database's write lock until the block ends."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", LOCKER, str(db),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stdin is not None
        assert await asyncio.wait_for(proc.stdout.readline(), 30) == b"locked\n"
        yield proc
        proc.stdin.write(b"release\n")
        await proc.stdin.drain()
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


async def test_a_database_locked_by_another_process_is_waited_for_then_reported(
    tmp_path: Path, page_server: PageServer
) -> None:
    db = tmp_path / "monitor.db"
    source = SourceSettings(id="report", url=page_server.set("/r", page(1)))
    # A lock released while the check waits: the check records. The busy timeout is
    # far longer than the wait, so only the lock decides, never the machine's load.
    store = await SqliteEventStore.open(db, busy_timeout_ms=60_000)
    try:
        async with runner_on(store, source) as runner:
            await runner.check(source)
            served = threading.Event()

            async def changed_page(request: web.Request) -> web.Response:
                served.set()
                return web.Response(text=page(2), content_type="text/html")

            page_server.handlers["/r"] = changed_page
            async with locked(db):
                check = asyncio.create_task(runner.check(source))
                assert await asyncio.to_thread(served.wait, 30)  # the page is read …
                await asyncio.sleep(0.1)
                assert not check.done()  # … but nothing can be recorded while locked
            assert (await check).outcome == "changed"
    finally:
        await store.close()
    # A lock held past the busy timeout: a clear error, nothing recorded, then redone.
    store = await SqliteEventStore.open(db, busy_timeout_ms=300)
    try:
        async with runner_on(store, source) as runner:
            del page_server.handlers["/r"]
            page_server.set("/r", page(3))
            async with locked(db):
                with pytest.raises(StoreUnavailableError) as busy:
                    await runner.check(source)
            assert str(busy.value) == (
                f"{db}: database is locked by another process; nothing was recorded — "
                "try again when the other process has finished"
            )
            assert (await runner.check(source)).outcome == "changed"  # redone
        assert [e.type for e in await store.read()] == ["BaselineCaptured"] + ["ChangeDetected"] * 2
        await assert_verifies(store)
    finally:
        await store.close()


# --------------------------------------------------------------------------- unreadable, corrupt


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_a_directory_in_place_of_the_database_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "monitor.db"
    db.mkdir()
    code, output = cli(capsys, "verify", "--db", f"sqlite:///{db}")
    assert code == 2
    assert f"cannot open {db}: it is a directory, not a database" in output


@contextlib.contextmanager
def as_nobody() -> Iterator[None]:
    """Run as an unprivileged user (root reads any file whatever its mode)."""
    if os.geteuid() != 0:
        yield
        return
    os.seteuid(NOBODY)
    try:
        yield
    finally:
        os.seteuid(0)


@pytest.fixture
def open_home() -> Iterator[Path]:
    """A directory anyone may enter (pytest's tmp_path is private to root)."""
    home = Path(tempfile.mkdtemp(prefix="monitor-perm-"))
    home.chmod(0o755)
    try:
        yield home
    finally:
        shutil.rmtree(home)


async def test_a_database_the_monitor_may_not_read_is_named(open_home: Path) -> None:
    db = open_home / "monitor.db"
    async with open_store(f"sqlite:///{db}"):
        pass
    os.chmod(db, 0)
    with as_nobody(), pytest.raises(StoreUnavailableError) as denied:
        async with open_store(f"sqlite:///{db}"):
            pass
    assert str(denied.value) == (
        f"cannot open {db}: permission denied (the monitor must be able to read and "
        "write it; check its owner and mode)"
    )
    assert stat.S_IMODE(os.stat(db).st_mode) == 0  # left as it was


async def build_log(db: Path, page_server: PageServer) -> None:
    sources = [SourceSettings(id=f"s{n}", url=page_server.set(f"/s{n}", page(n))) for n in range(5)]
    async with open_store(f"sqlite:///{db}") as store, runner_on(store, *sources) as runner:
        for edition in range(8):
            for n, source in enumerate(sources):
                page_server.set(f"/s{n}", page(100 * edition + n, 400))
                await runner.check(source)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("where", ["header", "middle"])
async def test_a_corrupted_database_is_refused_and_never_reset(
    tmp_path: Path, page_server: PageServer, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    db = tmp_path / "monitor.db"
    await build_log(db, page_server)
    size = db.stat().st_size
    offset = 0 if where == "header" else size // 2 // 4096 * 4096
    with db.open("r+b") as damaged:
        damaged.seek(offset)
        damaged.write(random.Random(1).randbytes(3 * 4096))
    before = digest(db)
    config = tmp_path / "sources.toml"
    config.write_text(f'[[source]]\nid = "s0"\nurl = "{page_server.url("/s0")}"\n')
    expected = (
        f"{db} is not a valid monitor database (corrupt or another file); "
        "refusing to touch it — restore from backup"
    )
    for argv in (
        ["verify", "--db", f"sqlite:///{db}"],
        ["check", "--config", str(config), "--db", f"sqlite:///{db}"],
    ):
        code, output = await asyncio.to_thread(cli, capsys, *argv)
        assert code == 2, output
        assert expected in output
    assert digest(db) == before and db.stat().st_size == size  # not reset, not repaired


# --------------------------------------------------------------------------- a blob lost


async def test_a_missing_blob_is_named_by_verify_and_the_next_change_still_recorded(
    tmp_path: Path, page_server: PageServer
) -> None:
    db = tmp_path / "monitor.db"
    source = SourceSettings(id="report", url=page_server.set("/r", page(1)))
    async with open_store(f"sqlite:///{db}") as store, runner_on(store, source) as runner:
        [baseline] = (await runner.check(source)).events
        lost = baseline.data["capture"]["text_sha256"]
        with contextlib.closing(sqlite3.connect(db, isolation_level=None)) as raw:
            raw.execute("DROP TRIGGER blobs_no_delete")
            raw.execute("DELETE FROM blobs WHERE sha256 = ?", (lost,))
        report = await verify_store(store)
        assert [str(f) for f in report.findings] == [
            f"seq 1: blob {lost} named by capture.text_sha256 is missing"
        ]
        # The page changes; the old text it must be compared with is gone.
        page_server.set("/r", page(2))
        events = (await runner.check(source)).events
        assert [e.type for e in events] == ["ContentSuspect", "BaselineCaptured"]
        assert events[0].data["reason"] == "previous_text_missing"
        assert lost in events[0].data["detail"]
        # The new capture is the reference from now on: the next change is diffed normally.
        page_server.set("/r", page(3))
        [change] = (await runner.check(source)).events
        assert change.type == "ChangeDetected"
        # The web view still serves every page; the lost blob itself is a plain 404.
        settings = Settings(path="faults.toml", sources=(source,))
        async with TestClient(TestServer(create_app(store, settings))) as client:
            for path in ("/", "/sources/report", f"/changes/{change.seq}", "/api/events"):
                assert (await client.get(path)).status == 200, path
            missing = await client.get(f"/blobs/{lost}")
            assert missing.status == 404 and "No blob" in await missing.text()


# --------------------------------------------------------------------------- the clock


async def test_a_clock_stepping_backwards_never_makes_recorded_at_decrease(
    tmp_path: Path, page_server: PageServer
) -> None:
    clock = Clock()
    # Five changes of one sentence in a row would be learned as volatile: off here.
    source = SourceSettings(id="report", url=page_server.set("/r", page(1)), learn_volatile_after=0)
    async with open_store(f"sqlite:///{tmp_path / 'monitor.db'}", clock=clock) as store:
        async with runner_on(store, source, clock=clock) as runner:
            await runner.check(source)
            for n, step in enumerate([60, -7200, 30, -86400, 3600], start=2):
                clock.step(step)
                page_server.set("/r", page(n))
                assert (await runner.check(source)).outcome == "changed"
        events = await store.read()
        stamps = [e.recorded_at for e in events]
        assert len(events) == 6 and stamps == sorted(stamps)
        await assert_verifies(store)

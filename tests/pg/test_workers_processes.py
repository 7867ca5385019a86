"""Three real ``monitor run`` processes sharing 300 sources on one PostgreSQL log.

What an operator of a scaled-out deployment relies on: every change recorded exactly
once, no page fetched twice within one interval, one alert per change through a real
webhook (Apprise ``json://``), a log that verifies — and when the worker that sends the
alerts is SIGKILLed, its sources are checked again within one lease period and another
worker sends the alerts that follow, none lost and none twice.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from aiohttp import web

from monitor.audit.verify import verify_store
from monitor.store import open_store
from monitor.store.postgres import advisory_key
from tests.keys import log_keys
from tests.pageserver import PageServer
from tests.pg.support import lock_id, schema_of, server_url

ROOT = Path(__file__).resolve().parents[2]
SOURCES = 300
INTERVAL = 2.0  # seconds between checks of one source
LEASE = 6.0  # seconds a killed worker keeps its sources (MONITOR_LEASE_PERIOD); renewed
# every LEASE / 3, so an event loop stalled for a few seconds on a busy machine keeps them
SLOW_EVERY, SLOW = 10, 0.8  # every tenth page answers after 0.8 s
ALERT = re.compile(r"#(\d+) in the log of (\S+)")


def page(i: int, version: int) -> str:
    return (
        f"<!doctype html><html><head><title>Report {i}</title></head><body><main>"
        f"<h1>Transparency report {i}</h1><p>Government requests, edition {version}.</p>"
        "</main></body></html>"
    )


class Site:
    """300 pages and a webhook on one real local server; request times kept per path."""

    def __init__(self, server: PageServer) -> None:
        self.server = server
        self.versions = [0] * SOURCES
        self.hits: dict[str, list[float]] = defaultdict(list)
        self.alerts: list[str] = []
        self._lock = threading.Lock()
        for i in range(SOURCES):
            server.handlers[f"/p/{i}"] = self._page
        server.handlers["/hook"] = self._hook

    async def _page(self, request: web.Request) -> web.Response:
        i = int(request.path.rsplit("/", 1)[1])
        with self._lock:
            self.hits[request.path].append(time.monotonic())
        if i % SLOW_EVERY == 0:
            await asyncio.sleep(SLOW)  # some checks are always in flight, also when killed
        return web.Response(text=page(i, self.versions[i]), content_type="text/html")

    async def _hook(self, request: web.Request) -> web.Response:
        body = await request.json()
        with self._lock:
            self.alerts.append(str(body.get("message", "")))
        return web.Response(text="ok")

    def change(self, indices: range) -> None:
        for i in indices:
            self.versions[i] += 1

    def config(self, path: Path, url: str) -> Path:
        lines = [
            "[monitor]",
            f'database = "{url}"',
            "concurrency = 16",
            "per_host = 16",
            "jitter = 0",
            "allow_private = true",
            'grace_period = "3s"',
            "",
            "[[channel]]",
            'name = "hook"',
            f'url = "json://127.0.0.1:{self.server.port}/hook"',
            "",
        ]
        for i in range(SOURCES):
            lines += [
                "[[source]]",
                f'id = "s{i:03d}"',
                f'url = "{self.server.url(f"/p/{i}")}"',
                f'title = "Report {i}"',
                f'interval = "{INTERVAL:.0f}s"',
                "",
            ]
        path.write_text("\n".join(lines), encoding="utf-8")
        return path


class Worker:
    """One ``python -m monitor run`` process; stderr kept in a file for failure messages."""

    def __init__(self, workdir: Path, config: Path, url: str, name: str) -> None:
        self.log = workdir / f"{name}.log"
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p
            ),
            "MONITOR_LEASE_PERIOD": str(LEASE),
        }
        env.pop("MONITOR_CONFIG", None)
        env.pop("MONITOR_DB", None)
        with self.log.open("w") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "monitor", "run", "--config", str(config), "--db", url],
                cwd=workdir,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                env=env,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def stderr(self) -> str:
        return self.log.read_text(encoding="utf-8")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)


@pytest.fixture
def site() -> Iterator[Site]:
    server = PageServer().start()
    try:
        yield Site(server)
    finally:
        server.stop()


@pytest.fixture
def started() -> Iterator[list[Worker]]:
    workers: list[Worker] = []
    yield workers
    for worker in workers:
        worker.stop()


@pytest.fixture
async def db(pg_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(server_url(), server_settings={"search_path": schema_of(pg_url)})
    try:
        yield conn
    finally:
        await conn.close()


async def count(db: asyncpg.Connection, sql: str, *args: object) -> int:
    try:
        return int(await db.fetchval(sql, *args))
    except asyncpg.UndefinedTableError:
        return 0  # the first worker is still creating the schema


async def until_true(
    db: asyncpg.Connection, sql: str, want: int, workers: list[Worker], seconds: float
) -> None:
    deadline = time.monotonic() + seconds
    while (found := await count(db, sql)) < want:
        for worker in workers:
            if worker.process.poll() is not None and worker.process.returncode != -9:
                pytest.fail(f"a worker exited early:\n{worker.stderr()}")
        if time.monotonic() > deadline:
            logs = "\n".join(w.stderr()[-3000:] for w in workers)
            pytest.fail(f"timed out waiting for {want} rows of {sql!r} (have {found}):\n{logs}")
        await asyncio.sleep(0.1)


CHANGES = "SELECT count(*) FROM events WHERE type = 'ChangeDetected'"
SENT = "SELECT count(*) FROM events WHERE type = 'NotificationSent'"


@pytest.mark.timeout(200)
async def test_three_workers_share_300_sources_and_survive_a_sigkill(
    pg_url: str, site: Site, started: list[Worker], db: asyncpg.Connection, tmp_path: Path
) -> None:
    config = site.config(tmp_path / "sources.toml", pg_url)
    for n in range(3):
        started.append(Worker(tmp_path, config, pg_url, f"worker{n}"))
    # Start-up (three interpreters, the configuration recorded once, 300 baselines) is
    # the slow part on a busy two-core machine; the checks that follow are light.
    await until_true(
        db, "SELECT count(*) FROM events WHERE type = 'BaselineCaptured'", SOURCES, started, 60
    )

    # Round 1: 30 pages change while all three run.
    site.change(range(0, 30))
    await until_true(db, CHANGES, 30, started, 15)
    await until_true(db, SENT, 30, started, 30)

    # SIGKILL the worker that sends the alerts (it holds the notifier lock), mid-run.
    leader_pid = await db.fetchval(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
        "AND l.classid::bigint = $1 AND l.objid::bigint = $2",
        *lock_id(advisory_key(schema_of(pg_url), "notifier")),
    )
    victim = next(w for w in started if f"[{w.pid}]" in str(leader_pid))
    # Kill it once it does its share and has checks in flight: on a loaded machine a
    # worker that started late may still be catching up, and the moment must not decide
    # whether the test has anything to prove.
    deadline = time.monotonic() + 30
    while True:
        owned = await db.fetch(
            "SELECT source_id, lease_until > now() AS held FROM leases WHERE owner LIKE $1",
            f"%:{victim.pid}:%",
        )
        held = {r["source_id"] for r in owned if r["held"]}  # checks in flight when killed
        if (len(owned) > SOURCES / 6 and held) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    killed_at = time.monotonic()
    victim.process.send_signal(signal.SIGKILL)
    assert victim.process.wait(5) == -signal.SIGKILL
    survivors = [w for w in started if w is not victim]

    # Rounds 2 and 3: pages change after the kill; the survivors record and alert them.
    site.change(range(30, 60))
    await asyncio.sleep(LEASE)
    site.change(range(60, 90))
    await until_true(db, CHANGES, 90, survivors, 20)
    await until_true(db, SENT, 90, survivors, 30)
    await asyncio.sleep(INTERVAL)  # one more round of checks: nothing new may appear

    for worker in survivors:
        worker.process.send_signal(signal.SIGTERM)
    for worker in survivors:
        assert worker.process.wait(15) == 0, worker.stderr()

    # Every change recorded exactly once, on the right source.
    rows = await db.fetch("SELECT seq, stream FROM events WHERE type = 'ChangeDetected'")
    per_source = Counter(r["stream"] for r in rows)
    assert per_source == Counter(f"s{i:03d}" for i in range(90))

    # One alert per change, none lost, none twice; each recorded as sent once.
    delivered = Counter(ALERT.search(text).groups() for text in site.alerts if ALERT.search(text))
    assert len(site.alerts) == 90
    assert delivered == Counter((str(r["seq"]), r["stream"]) for r in rows)
    sent = await db.fetch("SELECT data FROM events WHERE type = 'NotificationSent'")
    assert len(sent) == 90

    # No page fetched twice within one interval (a double check would show up as a gap
    # near zero), and after the kill every page, the victim's too, kept being checked.
    for path, times in site.hits.items():
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert min(gaps) > INTERVAL / 2, (path, min(gaps))
        after_kill = [t for t in times if t > killed_at]
        assert len(after_kill) >= 2, path  # the survivors kept checking every page
        assert after_kill[0] - killed_at < INTERVAL + SLOW + LEASE + 1.5, path
    assert len(owned) > SOURCES / 6, "the victim was not doing its share"
    assert held, "the victim held no leases when it was killed"
    for source_id in held:
        first_after = min(t for t in site.hits[f"/p/{int(source_id[1:])}"] if t > killed_at)
        assert first_after - killed_at < LEASE + 1.5, source_id  # one lease period

    async with open_store(pg_url, create=False) as store:
        report = await verify_store(store, public_keys=log_keys(pg_url, config))
    assert report.ok, report.findings

"""The daemon in-process against real local servers and a real SQLite log: politeness and timing."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp import web

from monitor.check.fetch import Fetcher
from monitor.check.pipeline import CheckReport, CheckRunner
from monitor.config.parse import load_config
from monitor.config.settings import Settings
from monitor.daemon.service import Daemon
from monitor.store import open_store
from tests.pageserver import PageServer


def page(text: str) -> str:
    return f"<!doctype html><html><head><title>T</title></head><body><p>{text}</p></body></html>"


def write_config(path: Path, sources: dict[str, str], *, monitor: str = "", each: str = "") -> Path:
    lines = ["[monitor]", monitor]
    for source_id, url in sources.items():
        lines += ["[[source]]", f'id = "{source_id}"', f'url = "{url}"', each, ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def load(path: Path) -> Settings:
    return load_config(path, environ={})


def event_types(db: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(db) as conn:
        return [(s, t) for s, t in conn.execute("SELECT stream, type FROM events ORDER BY seq")]


@asynccontextmanager
async def running(daemon: Daemon) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(daemon.run())
    try:
        await asyncio.wait_for(daemon.ready.wait(), 10)
        yield task
    finally:
        daemon.request_stop()
        await asyncio.wait_for(task, 15)


async def until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def timed(server: PageServer, path: str, body: str, arrivals: list[float]) -> str:
    async def handler(request: web.Request) -> web.Response:
        arrivals.append(time.monotonic())
        return web.Response(text=body, content_type="text/html")

    server.handlers[path] = handler
    return server.url(path)


async def test_two_hundred_sources_on_one_host_never_see_more_than_per_host_requests(
    tmp_path: Path, page_server: PageServer
) -> None:
    urls = {
        f"s{i:03}": page_server.set(f"/p{i}", page(f"page {i}"), delay=0.01) for i in range(200)
    }
    config = write_config(
        tmp_path / "sources.toml",
        urls,
        monitor="per_host = 2\nconcurrency = 16",
        each='interval = "10s"',
    )
    db = tmp_path / "m.db"
    reports: list[CheckReport] = []
    daemon = Daemon(
        load(config), database=f"sqlite:///{db}", handle_signals=False, on_report=reports.append
    )
    async with running(daemon):
        await until(lambda: len(reports) >= 200, seconds=15)
    assert page_server.peak_in_flight == 2
    assert sorted(r.source_id for r in reports) == sorted(urls)
    assert [t for _, t in event_types(db)].count("BaselineCaptured") == 200


async def test_after_a_restart_overdue_sources_are_spread_over_the_jitter_window(
    tmp_path: Path, page_server: PageServer
) -> None:
    arrivals: dict[str, list[float]] = {}
    urls = {}
    for i in range(20):
        arrivals[f"s{i}"] = []
        urls[f"s{i}"] = timed(page_server, f"/p{i}", page(f"page {i}"), arrivals[f"s{i}"])
    # Interval 20 s with ±25 % jitter: a 5 s window.
    config = write_config(
        tmp_path / "sources.toml", urls, monitor="jitter = 25", each='interval = "20s"'
    )
    settings = load(config)
    db_url = f"sqlite:///{tmp_path / 'm.db'}"
    # An earlier run checked everything, an hour ago.
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    async with (
        open_store(db_url, clock=lambda: hour_ago) as store,
        Fetcher(settings.monitor) as fetcher,
    ):
        runner = CheckRunner(
            store=store, fetcher=fetcher, settings=settings, clock=lambda: hour_ago
        )
        await runner.reconcile()
        for source in settings.sources:
            assert (await runner.check(source)).outcome == "baseline"
    for times in arrivals.values():
        times.clear()

    started = time.monotonic()
    async with running(Daemon(settings, database=db_url, handle_signals=False)):
        # Waited for, not timed: that each falls inside the 5 s window is the pure
        # scheduler's test (test_scheduler.py); a loaded machine only delays arrivals.
        await until(lambda: all(arrivals.values()), seconds=60)
    firsts = sorted(times[0] - started for times in arrivals.values())
    assert firsts[-1] - firsts[0] >= 2.5  # spread over the window, not fired at once
    assert len({int(t) for t in firsts}) >= 4  # at least four different seconds


async def test_an_unchanged_etag_costs_a_304_not_a_download(
    tmp_path: Path, page_server: PageServer
) -> None:
    statuses: list[int] = []
    seen_validators: list[str | None] = []

    async def handler(request: web.Request) -> web.Response:
        seen_validators.append(request.headers.get("If-None-Match"))
        if request.headers.get("If-None-Match") == '"v1"':
            statuses.append(304)
            return web.Response(status=304, headers={"ETag": '"v1"'})
        statuses.append(200)
        return web.Response(text=page("stable"), content_type="text/html", headers={"ETag": '"v1"'})

    page_server.handlers["/etag"] = handler
    config = write_config(
        tmp_path / "sources.toml",
        {"etag": page_server.url("/etag")},
        monitor="jitter = 0",
        each='interval = "1s"',
    )
    db = tmp_path / "m.db"
    reports: list[CheckReport] = []
    daemon = Daemon(
        load(config), database=f"sqlite:///{db}", handle_signals=False, on_report=reports.append
    )
    async with running(daemon):
        await until(lambda: len(reports) >= 3, seconds=6)
    assert statuses[:3] == [200, 304, 304]
    assert seen_validators[:3] == [None, '"v1"', '"v1"']
    assert [r.detail for r in reports[1:3]] == ["304 not modified"] * 2
    source_events = [t for stream, t in event_types(db) if not stream.startswith("$")]
    assert source_events == ["SourceRegistered", "BaselineCaptured"]


async def test_a_hung_site_does_not_stall_the_other_sites(
    tmp_path: Path, page_server: PageServer
) -> None:
    release = threading.Event()

    async def hang(request: web.Request) -> web.Response:
        await asyncio.to_thread(release.wait, 30)
        return web.Response(text=page("late"), content_type="text/html")

    page_server.handlers["/hung"] = hang
    # "localhost" and "127.0.0.1" are different hosts to the per-host limit.
    hung = {f"hung{i}": f"http://localhost:{page_server.port}/hung" for i in range(4)}
    fine = {f"fine{i}": page_server.set(f"/fine{i}", page(f"fine {i}")) for i in range(6)}
    config = write_config(
        tmp_path / "sources.toml",
        {**hung, **fine},
        monitor='per_host = 2\nconcurrency = 3\ntimeout = "60s"\ngrace_period = "1s"',
        each='interval = "30s"',
    )
    reports: list[CheckReport] = []
    daemon = Daemon(
        load(config),
        database=f"sqlite:///{tmp_path / 'm.db'}",
        handle_signals=False,
        on_report=reports.append,
    )
    try:
        async with running(daemon):
            # Two hung checks hold localhost's two slots and two of the three global ones;
            # the other two wait for a localhost slot holding nothing, so the sixth
            # site-wide slot keeps serving everyone else.
            await until(lambda: len(reports) >= 6, seconds=8)
            assert sorted(r.source_id for r in reports) == sorted(fine)
    finally:
        release.set()


async def test_config_reload_in_process_reschedules_and_records(
    tmp_path: Path, page_server: PageServer
) -> None:
    a = page_server.set("/a", page("A"))
    b = page_server.set("/b", page("B"))
    config = write_config(tmp_path / "sources.toml", {"a": a}, each='interval = "1s"')
    db = tmp_path / "m.db"
    reports: list[CheckReport] = []
    daemon = Daemon(
        load(config),
        database=f"sqlite:///{db}",
        config_path=config,
        handle_signals=False,
        on_report=reports.append,
        poll_interval=0.1,
    )
    async with running(daemon):
        await until(lambda: any(r.source_id == "a" for r in reports))
        write_config(config, {"a": a, "b": b}, each='interval = "1s"')
        await until(lambda: any(r.source_id == "b" for r in reports), seconds=5)
        config.write_text(config.read_text() + '\n[[source]]\nid = "Bad Id"\n', "utf-8")
        await until(lambda: daemon.status.rejected_reloads == 1, seconds=5)
        count = len(reports)
        await until(lambda: len(reports) >= count + 2, seconds=5)  # still checking
        assert {s.id for s in daemon.settings.sources} == {"a", "b"}
        write_config(config, {"b": b}, each='interval = "1s"')
        await until(lambda: daemon.status.reloads == 2, seconds=5)
    types = event_types(db)
    assert ("b", "SourceRegistered") in types and ("a", "SourceRemoved") in types
    removed_at = types.index(("a", "SourceRemoved"))
    assert ("a", "BaselineCaptured") in types[:removed_at]
    health = daemon.status.as_dict()
    assert health["reloads"] == 2 and health["rejected_reloads"] == 1
    assert json.dumps(health)  # serializable for /healthz


async def test_the_daemon_signs_a_checkpoint_after_a_change_and_at_its_stop(
    tmp_path: Path, page_server: PageServer
) -> None:
    from monitor.audit.checkpoint import latest_checkpoint
    from monitor.audit.home import audit_home, log_id_of
    from monitor.audit.key_files import load_public_keys
    from monitor.audit.verify import verify_store

    url = page_server.set("/p", page("We have paused processing Hong Kong requests."))
    config = write_config(
        tmp_path / "sources.toml",
        {"p": url},
        monitor='checkpoint_every = "1h"\nkey_path = "keys/monitor.key"',
        each='interval = "1s"',
    )
    (tmp_path / "keys").mkdir()
    db = tmp_path / "m.db"
    reports: list[CheckReport] = []
    daemon = Daemon(
        load(config),
        database=f"sqlite:///{db}",
        config_path=config,
        handle_signals=False,
        on_report=reports.append,
        poll_interval=0.1,
    )
    async with running(daemon):
        await until(lambda: any(r.outcome == "baseline" for r in reports))
        page_server.set("/p", page("We have resumed processing Hong Kong requests."))
        await until(lambda: any(r.outcome == "changed" for r in reports), seconds=5)
        # Signed long before checkpoint_every (an hour): a change is signed promptly.
        await until(lambda: ("$checkpoints", "CheckpointSigned") in event_types(db), seconds=5)
    key = tmp_path / "keys" / "monitor.key"
    assert key.stat().st_mode & 0o777 == 0o600
    async with open_store(f"sqlite:///{db}", create=False) as store:
        head_seq, _ = await store.head()
        last = await latest_checkpoint(store)
        assert last is not None
        assert last.tree_size == head_seq - 1  # the stop's checkpoint covers all before it
        home = audit_home(load(config), f"sqlite:///{db}")
        journal = home.read(await log_id_of(store))
        assert journal and journal[-1] == last  # journaled beside the database, per log
        report = await verify_store(store, public_keys=load_public_keys(key), journal=journal)
    assert report.ok, report.findings

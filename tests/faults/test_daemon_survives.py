"""The daemon itself, in-process, among hostile servers and on a disk that fills up.

One real ``Daemon`` watches every kind of hostile page at once next to healthy pages
on another server: it must not die, the healthy pages must be checked on schedule,
and each hostile page must end in its recorded event. On a real (tmpfs) disk that
fills up, the daemon logs a clear error, keeps running, and records the check once
space returns. (A config reload with errors is covered by
``tests/test_daemon.py::test_config_reload_in_process_reschedules_and_records`` and
``tests/test_daemon_process.py::test_sources_are_checked_on_schedule_and_config_edits_and_sighup_reload_them``.)
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import itertools
import logging
import os
import random
import sqlite3
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from aiohttp import web

from monitor.audit.verify import verify_store
from monitor.config.parse import load_config
from monitor.daemon.service import Daemon
from monitor.store import open_store
from tests.faults.conftest import RssPeak
from tests.faults.hostile import (
    HostileServer,
    RawHandler,
    brotli_bomb,
    cut_mid_body,
    endless,
    gzip_bomb,
    html,
    redirect,
    respond,
    self_signed_context,
    status_storm,
    trickle,
)
from tests.keys import log_keys
from tests.pageserver import PageServer

HEALTHY = 3


def changing_pages(server: PageServer, count: int, size: int = 0) -> dict[str, list[float]]:
    """Pages that change on every request; returns each path's request times."""
    arrivals: dict[str, list[float]] = {}
    served = iter(range(1, 10**9))
    rng = random.Random(5)

    async def handler(request: web.Request) -> web.Response:
        arrivals[request.path].append(time.monotonic())
        filler = "".join(rng.choices("abcdefghij klmnop", k=size))
        body = f"<html><body><h1>Report</h1><p>Edition {next(served)}.</p><p>{filler}</p>"
        return web.Response(text=body + "</body></html>", content_type="text/html")

    for n in range(count):
        server.handlers[f"/h{n}"] = handler
        arrivals[f"/h{n}"] = []
    return arrivals


def bomb(body: bytes, encoding: str) -> RawHandler:
    return respond(200, body, {"Content-Type": "text/html", "Content-Encoding": encoding})


def write_config(path: Path, sources: dict[str, str], *, monitor: str, each: str) -> Path:
    lines = ["[monitor]", monitor, ""]
    for source_id, line in sources.items():
        lines += ["[[source]]", f'id = "{source_id}"', line, each, ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        try:
            return list(conn.execute(sql))
        except sqlite3.OperationalError:  # the schema is still being created
            return []


@contextlib.asynccontextmanager
async def running(daemon: Daemon) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(daemon.run())
    try:
        await asyncio.wait_for(daemon.ready.wait(), 15)
        yield task
    finally:
        daemon.request_stop()
        await asyncio.wait_for(task, 20)


async def until(condition: Callable[[], bool], seconds: float, task: asyncio.Task[None]) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert not task.done(), "the daemon stopped"
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_the_daemon_outlives_every_hostile_server_and_keeps_its_schedule(
    tmp_path: Path, page_server: PageServer
) -> None:
    hostile = HostileServer().start()
    tls = HostileServer(tls=self_signed_context(tmp_path)).start()
    try:
        hostile.route("/loop-b", redirect("/loop-a"))
        expected = {  # source id -> (url, first event type, its error kind or suspect reason)
            "slowloris": (hostile.route("/slow", trickle(10_000, 1.0)), "FetchFailed", "timeout"),
            "endless": (hostile.route("/endless", endless()), "FetchFailed", "too_large"),
            "gzip-bomb": (
                hostile.route("/gz", bomb(gzip_bomb(128), "gzip")),
                "FetchFailed",
                "too_large",
            ),
            "brotli-bomb": (
                hostile.route("/br", bomb(brotli_bomb(128), "br")),
                "FetchFailed",
                "too_large",
            ),
            "loop": (hostile.route("/loop-a", redirect("/loop-b")), "FetchFailed", "redirect_loop"),
            "to-file": (
                hostile.route("/file", redirect("file:///etc/shadow")),
                "FetchFailed",
                "redirect_scheme",
            ),
            "to-denied": (
                hostile.route("/denied", redirect(f"http://127.0.0.2:{hostile.port}/")),
                "FetchFailed",
                "forbidden_address",
            ),
            "reset": (
                hostile.route("/reset", cut_mid_body(5000, b"<p>half", rst=True)),
                "FetchFailed",
                "reset",
            ),
            "storm-500": (hostile.route("/500", status_storm(500)), "FetchFailed", "http"),
            "storm-429": (
                hostile.route("/429", status_storm(429, {"Retry-After": "1"})),
                "FetchFailed",
                "http",
            ),
            "self-signed": (tls.route("/", html("<p>hello</p>")), "FetchFailed", "tls"),
            "login-wall": (
                hostile.route("/login", html("<h1>Please sign in to continue</h1>")),
                "ContentSuspect",
                "login_wall",
            ),
        }
        arrivals = changing_pages(page_server, HEALTHY)
        sources = {sid: f'url = "{url}"\ninterval = "3s"' for sid, (url, _, _) in expected.items()}
        sources |= {f"healthy-{n}": f'url = "{page_server.url(f"/h{n}")}"\ninterval = "1s"'
                    for n in range(HEALTHY)}  # fmt: skip
        config = write_config(
            tmp_path / "sources.toml",
            sources,
            monitor='timeout = "2s"\nmax_bytes = "1MB"\ndeny_networks = ["127.0.0.2/32"]\n'
            'concurrency = 8\nper_host = 4\ngrace_period = "3s"',
            each="",
        )
        db = tmp_path / "monitor.db"
        daemon = Daemon(
            load_config(config, environ={}),
            database=f"sqlite:///{db}",
            config_path=config,
            environ={},
            handle_signals=False,
        )
        with RssPeak() as rss:
            async with running(daemon) as task:
                started = time.monotonic()

                def all_recorded() -> bool:
                    checked = rows(
                        db, "SELECT DISTINCT stream FROM events WHERE type NOT LIKE 'Source%'"
                    )
                    return set(expected) <= {s for (s,) in checked}

                await until(all_recorded, 30, task)
                await until(lambda: time.monotonic() - started > 5, 10, task)
                elapsed = time.monotonic() - started
                assert not task.done()
        for source_id, (_, kind, detail) in expected.items():
            first = rows(
                db,
                "SELECT type, json_extract(data, '$.error'), json_extract(data, '$.reason') "
                f"FROM events WHERE stream = '{source_id}' AND type NOT LIKE 'Source%' "
                "ORDER BY seq LIMIT 1",
            )
            assert first and first[0][0] == kind and detail in first[0][1:], (source_id, first)
        for path, times in arrivals.items():  # the healthy pages, every second all along
            gaps = [b - a for a, b in itertools.pairwise(times)]
            assert len(times) >= elapsed - 2, (path, len(times), elapsed)
            assert max(gaps) < 2.0, (path, max(gaps))
        [[changes]] = rows(db, "SELECT COUNT(*) FROM events WHERE type = 'ChangeDetected'")
        assert isinstance(changes, int) and changes >= HEALTHY * (elapsed - 3)
        assert daemon.status.checks > len(expected)
        assert rss.growth_mb < 150, f"memory grew {rss.growth_mb:.0f} MB"
        async with open_store(f"sqlite:///{db}", create=False) as store:
            report = await verify_store(store, public_keys=log_keys(f"sqlite:///{db}", config))
            assert report.ok, report.findings
    finally:
        hostile.stop()
        tls.stop()


# --------------------------------------------------------------------------- a real full disk


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 6 MB tmpfs (needs root); skipped elsewhere — the page-limit test covers the path."""
    where = tmp_path / "small"
    where.mkdir()
    try:
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=6m,mode=0700", "tmpfs", str(where)],
            check=True,
            capture_output=True,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot mount a small tmpfs here ({exc})")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False, capture_output=True)


def fill(directory: Path) -> Path:
    """Write a file until the filesystem is full; returns it."""
    filler = directory / "filler"
    with filler.open("wb") as out:
        try:
            while True:
                out.write(bytes(64 * 1024))
                out.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


async def test_a_disk_that_fills_up_stops_nothing_and_the_check_is_recorded_later(
    tmp_path: Path,
    page_server: PageServer,
    small_disk: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    arrivals = changing_pages(page_server, 1, size=100_000)
    config = write_config(
        tmp_path / "sources.toml",
        {"report": f'url = "{page_server.url("/h0")}"'},
        monitor="",
        each='interval = "1s"',
    )
    db = small_disk / "monitor.db"
    daemon = Daemon(
        load_config(config, environ={}),
        database=f"sqlite:///{db}",
        config_path=config,
        environ={},
        handle_signals=False,
    )

    def recorded() -> int:
        return len(rows(db, "SELECT seq FROM events WHERE stream = 'report'"))

    caplog.set_level(logging.ERROR, logger="monitor.daemon.service")
    async with running(daemon) as task:
        await until(lambda: recorded() >= 2, 15, task)
        filler = await asyncio.to_thread(fill, small_disk)
        before = recorded()
        await until(lambda: "disk full" in caplog.text, 15, task)
        assert f"could not be recorded: disk full while writing to {db}" in caplog.text
        checks = len(arrivals["/h0"])
        await until(lambda: len(arrivals["/h0"]) >= checks + 2, 10, task)  # still checking
        assert recorded() <= before + 1  # at most a check that was committing as it filled
        os.unlink(filler)
        after = recorded()
        await until(lambda: recorded() >= after + 2, 15, task)
    async with open_store(f"sqlite:///{db}", create=False) as store:
        report = await verify_store(store, public_keys=log_keys(f"sqlite:///{db}", config))
        assert report.ok, report.findings
        types = [e.type for e in await store.read(stream="report")]
        assert types[0] == "SourceRegistered" and set(types[1:]) <= {
            "BaselineCaptured",
            "ChangeDetected",
        }

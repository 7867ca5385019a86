"""`monitor run` as a real process: schedule, signals, crashes, reloads — what an operator sees."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from aiohttp import web

from monitor.cli import main
from tests.pageserver import PageServer

ROOT = Path(__file__).resolve().parents[1]


def page(text: str) -> str:
    return f"<!doctype html><html><head><title>T</title></head><body><p>{text}</p></body></html>"


class Daemon:
    """One ``python -m monitor run`` process with its stderr kept in a file."""

    def __init__(self, workdir: Path, config: Path, db: Path, name: str = "daemon") -> None:
        self.log = workdir / f"{name}.log"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        env.pop("MONITOR_CONFIG", None)
        env.pop("MONITOR_DB", None)
        with self.log.open("w") as err:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "monitor",
                    "run",
                    "--config",
                    str(config),
                    "--db",
                    f"sqlite:///{db}",
                ],
                cwd=workdir,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                env=env,
            )

    def signal(self, sig: int) -> None:
        self.process.send_signal(sig)

    def wait(self, seconds: float) -> int:
        return self.process.wait(seconds)

    def stderr(self) -> str:
        return self.log.read_text(encoding="utf-8")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for daemon in started:
        daemon.stop()


def write_config(path: Path, body: str, *, monitor: str = "") -> Path:
    path.write_text(f"[monitor]\n{monitor}\n\n{body}", encoding="utf-8")
    return path


def source(source_id: str, url: str, extra: str = 'interval = "1s"') -> str:
    return f'[[source]]\nid = "{source_id}"\nurl = "{url}"\n{extra}\n\n'


def events(db: Path) -> list[tuple[int, str, str, dict[str, object]]]:
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        try:
            rows = conn.execute("SELECT seq, stream, type, data FROM events ORDER BY seq")
            return [(seq, stream, kind, json.loads(data)) for seq, stream, kind, data in rows]
        except sqlite3.OperationalError:  # the daemon is still creating the schema
            return []


def types(db: Path) -> list[tuple[str, str]]:
    return [(stream, kind) for _, stream, kind, _ in events(db)]


def until(
    condition: Callable[[], bool], seconds: float = 10.0, daemon: Daemon | None = None
) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if daemon is not None and daemon.process.poll() is not None:
            raise AssertionError(f"the daemon exited early:\n{daemon.stderr()}")
        if time.monotonic() > deadline:
            raise AssertionError("timed out" + (f":\n{daemon.stderr()}" if daemon else ""))
        time.sleep(0.05)


def verify(db: Path, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    code = main(["verify", "--db", f"sqlite:///{db}"])
    out = capsys.readouterr().out
    assert code == 0, out
    return out


def test_sigterm_lets_checks_in_flight_finish_cancels_at_the_grace_period_and_exits_0(
    workdir: Path,
    page_server: PageServer,
    daemons: list[Daemon],
    capsys: pytest.CaptureFixture[str],
) -> None:
    release = threading.Event()

    async def hang(request: web.Request) -> web.Response:
        await asyncio.to_thread(release.wait, 30)
        return web.Response(text=page("late"), content_type="text/html")

    page_server.handlers["/hung"] = hang
    slow = page_server.set("/slow", page("slow"), delay=1.5)
    config = write_config(
        workdir / "sources.toml",
        source("slow", slow, 'interval = "10s"')
        + source("hung", page_server.url("/hung"), 'interval = "10s"'),
        monitor='grace_period = "3s"\ntimeout = "60s"',
    )
    db = workdir / "m.db"
    daemon = Daemon(workdir, config, db)
    daemons.append(daemon)
    try:
        until(lambda: len(page_server.requests) == 2, 10, daemon)  # both checks in flight
        started = time.monotonic()
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(10) == 0
        elapsed = time.monotonic() - started
    finally:
        release.set()
    # The grace period (3 s), not the hung page's timeout (60 s); the upper bound is
    # kept far from the grace period so a loaded machine cannot break it.
    assert 2.5 < elapsed < 30
    recorded = types(db)
    assert ("slow", "BaselineCaptured") in recorded  # finished within the grace period
    assert not [t for s, t in recorded if s == "hung" and t != "SourceRegistered"]
    assert "check of hung cancelled: the grace period ended" in daemon.stderr()
    assert "ok:" in verify(db, capsys)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Receiver:
    """A webhook receiver (Apprise ``json://``) on a port chosen before it listens."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.posts: list[dict[str, object]] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    async def _hook(self, request: web.Request) -> web.Response:
        self.posts.append(await request.json())
        return web.Response(text="ok")

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


def test_an_alert_recorded_but_not_sent_before_sigkill_is_sent_once_after_restart(
    workdir: Path, page_server: PageServer, daemons: list[Daemon]
) -> None:
    url = page_server.set("/hk", page("Example Corp has paused Hong Kong government requests."))
    port = free_port()  # nothing listens yet: the first daemon cannot deliver
    config = write_config(
        workdir / "sources.toml",
        f'[[channel]]\nname = "hook"\nurl = "json://127.0.0.1:{port}/hook"\ntags = ["urgent"]\n\n'
        '[[rule]]\nid = "hk-data-requests"\nall = ["Hong Kong"]\nany = ["government"]\n'
        'severity = "high"\nnotify = ["urgent"]\n\n' + source("hk", url),
    )
    db = workdir / "m.db"
    first = Daemon(workdir, config, db, "first")
    daemons.append(first)
    until(lambda: ("hk", "BaselineCaptured") in types(db), 10, first)
    page_server.set("/hk", page("Example Corp has resumed Hong Kong government requests."))
    until(lambda: ("hk", "ChangeDetected") in types(db), 10, first)
    first.signal(signal.SIGKILL)
    first.wait(5)
    assert ("$notifier", "NotificationSent") not in types(db)

    receiver = Receiver(port)
    receiver.start()
    try:
        second = Daemon(workdir, config, db, "second")
        daemons.append(second)
        until(lambda: len(receiver.posts) >= 1, 15, second)
        time.sleep(1.5)  # a second delivery would arrive within this
        second.signal(signal.SIGTERM)
        assert second.wait(10) == 0
    finally:
        receiver.stop()
    assert len(receiver.posts) == 1
    body = json.dumps(receiver.posts[0])
    assert "hk-data-requests" in body and "resumed" in body
    change_seq = next(seq for seq, _, kind, _ in events(db) if kind == "ChangeDetected")
    sent = [d for _, _, kind, d in events(db) if kind == "NotificationSent"]
    assert [(d["for_seq"], d["channel"]) for d in sent] == [(change_seq, "hook")]


def test_sources_are_checked_on_schedule_and_config_edits_and_sighup_reload_them(
    workdir: Path,
    page_server: PageServer,
    daemons: list[Daemon],
    capsys: pytest.CaptureFixture[str],
) -> None:
    a = page_server.set("/a", page("A"))
    b = page_server.set("/b", page("B"))
    config = write_config(workdir / "sources.toml", source("a", a))
    db = workdir / "m.db"
    daemon = Daemon(workdir, config, db)
    daemons.append(daemon)
    until(lambda: [p for p, _ in page_server.requests].count("/a") >= 3, 10, daemon)
    assert "monitor running: 1 sources" in daemon.stderr()

    write_config(config, source("a", a) + source("b", b))  # saved: seen by polling
    until(lambda: ("b", "BaselineCaptured") in types(db), 10, daemon)

    write_config(config, source("a", a) + source("b", b, 'interval = "soon"') + "oops = 1\n")
    until(lambda: "still running the previous one" in daemon.stderr(), 10, daemon)
    err = daemon.stderr()
    assert "interval" in err and "oops" in err
    hits = len(page_server.requests)
    until(lambda: {p for p, _ in page_server.requests[hits:]} == {"/a", "/b"}, 10, daemon)

    # SIGHUP reloads even when the file looks untouched (same size, inode and mtime).
    before = config.stat()
    body = source("b", b)
    body += "#" * (before.st_size - len(f"[monitor]\n\n\n{body}".encode()) - 1) + "\n"
    write_config(config, body)
    os.utime(config, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert config.stat().st_size == before.st_size
    daemon.signal(signal.SIGHUP)
    until(lambda: ("a", "SourceRemoved") in types(db), 10, daemon)
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(10) == 0
    assert types(db).count(("b", "SourceRegistered")) == 1
    assert "ok:" in verify(db, capsys)

"""A host that asks for quiet: `monitor check` ends, defers its sources and remembers.

Real parts only: an aiohttp server on 127.0.0.1 answering 429 / 503 with
``Retry-After`` (seconds or an HTTP date), a SQLite log on disk, the real CLI — in
this process and, for "the next check", in a second one.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from monitor.check.fetch import Fetcher
from monitor.check.pipeline import CheckReport
from monitor.cli import main
from monitor.config.parse import load_config
from monitor.config.settings import MonitorSettings, SourceSettings
from monitor.core.classify import Failed, decide
from monitor.core.projections import SourceState, apply
from monitor.daemon.service import Daemon
from monitor.errors import FetchError, HostPausedError
from monitor.events import StoredEvent
from monitor.notify.routing import alert_severity
from monitor.store import open_store
from monitor.store.pauses import MemoryHostPauses, pauses_of
from monitor.web.app import create_app
from tests.pageserver import PageServer

PATHS = ("/a", "/b", "/c", "/d")


def page(title: str) -> str:
    return (
        f"<!doctype html><html><head><title>{title}</title></head><body><main>"
        f"<h1>{title}</h1><p>We publish the {title} report twice a year, with the number "
        "of government requests for user data we received and how we answered.</p>"
        "</main></body></html>"
    )


def retry_after(form: str, seconds: int) -> str:
    if form == "seconds":
        return str(seconds)
    when = datetime.now(UTC) + timedelta(seconds=seconds)
    return email.utils.format_datetime(when, usegmt=True)


def four_sources(workdir: Path, server: PageServer, *, per_host: int = 2) -> dict[str, str]:
    """Four sources on one host; /a answers whatever ``limit`` sets, the rest 200."""
    ids = {}
    lines = [
        f'[monitor]\ndatabase = "sqlite:///monitor.db"\nconcurrency = 4\nper_host = {per_host}\n'
    ]
    for path in PATHS:
        source_id = f"src-{path[1:]}"
        ids[path] = source_id
        server.set(path, page(source_id))
        lines.append(
            f'[[source]]\nid = "{source_id}"\nurl = "{server.url(path)}"\n'
            f'company = "Example"\ntitle = "{source_id}"\n'
        )
    (workdir / "sources.toml").write_text("\n".join(lines), encoding="utf-8")
    return ids


def limit(server: PageServer, status: int, header: str) -> list[str]:
    """The host answers its first request ``status`` with ``Retry-After: header``, then
    normally; returns the list of paths that got the refusal (one)."""
    refused: list[str] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        if not refused:
            refused.append(request.path)
            return web.Response(status=status, text="slow down", headers={"Retry-After": header})
        return web.Response(text=page(f"src-{request.path[1:]}"), content_type="text/html")

    for path in PATHS:
        server.handlers[path] = handler
    return refused


def outcomes(out: str) -> dict[str, str]:
    """source id -> outcome word of each line `monitor check` printed."""
    found = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].startswith("src-"):
            found[parts[0]] = parts[1]
    return found


def requested(server: PageServer) -> Counter[str]:
    return Counter(path for path, _ in server.requests)


def log_events(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    capsys.readouterr()
    assert main(["log", "--json"]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def check_in_another_process(workdir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    return subprocess.run(
        [sys.executable, "-m", "monitor", "check"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.timeout(45)  # "ends within the bound": a pass that waits for the hour never ends
@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize("form", ["seconds", "date"])
def test_a_long_pause_defers_the_hosts_sources_and_the_next_process_asks_nothing(
    workdir: Path,
    page_server: PageServer,
    capsys: pytest.CaptureFixture[str],
    status: int,
    form: str,
) -> None:
    ids = four_sources(workdir, page_server, per_host=1)
    refused = limit(page_server, status, retry_after(form, 3600))

    assert main(["check"]) == 3  # partial: some sources deferred
    out = outcomes(capsys.readouterr().out)
    # One request, refused and not retried (the pause is longer than the bound); the
    # three sources not yet fetched when it came are deferred without a request.
    assert len(page_server.requests) == 1
    assert out[ids[refused[0]]] == "failed"
    assert sorted(out.values()) == ["deferred", "deferred", "deferred", "failed"]

    before = len(page_server.requests)
    second = check_in_another_process(workdir)
    assert second.returncode == 3, second.stderr
    assert len(page_server.requests) == before  # zero requests to the paused host
    assert set(outcomes(second.stdout).values()) == {"deferred"}
    assert "asked for quiet until" in second.stdout
    assert "asked for quiet until" in second.stderr  # and the process says so once more

    events = log_events(capsys)
    deferred = [
        e for e in events if e["type"] == "FetchFailed" and e["data"]["error"] == "deferred"
    ]
    assert len(deferred) == 3 + 4
    for event in deferred:
        data = event["data"]
        assert isinstance(data, dict)
        until = datetime.fromisoformat(str(data["paused_until"]).replace("Z", "+00:00"))
        assert timedelta(minutes=55) < until - datetime.now(UTC) <= timedelta(hours=1)
        # No failure in a row: the count alert_after_failures reads does not move.
        refused_id = ids[refused[0]]
        assert data["consecutive_failures"] == (1 if event["stream"] == refused_id else 0)


@pytest.mark.timeout(45)
def test_sources_fetched_before_the_refusal_came_are_not_deferred(
    workdir: Path, page_server: PageServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """With two requests in flight per host, whatever was already fetched is kept."""
    ids = four_sources(workdir, page_server, per_host=2)
    limit(page_server, 429, "3600")
    assert main(["check"]) == 3
    out = outcomes(capsys.readouterr().out)
    asked = requested(page_server)
    for path, source_id in ids.items():
        if asked[path] == 0:
            assert out[source_id] == "deferred"
        else:
            assert out[source_id] in ("baseline", "failed")
    assert list(out.values()).count("failed") == 1


@pytest.mark.timeout(45)
def test_a_short_pause_is_waited_out_within_the_bound(
    workdir: Path, page_server: PageServer, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = four_sources(workdir, page_server, per_host=1)
    refused = limit(page_server, 429, "2")
    assert main(["check"]) == 0  # 2 s is within the default --max-wait of 10 s
    out = outcomes(capsys.readouterr().out)
    assert set(out.values()) == {"baseline"}
    assert requested(page_server)[refused[0]] == 2  # refused once, then asked again
    assert len(out) == len(ids)


@pytest.mark.timeout(45)
@pytest.mark.parametrize("form", ["seconds", "date"])
def test_after_the_pause_the_host_is_asked_again_and_every_source_captured(
    workdir: Path, page_server: PageServer, capsys: pytest.CaptureFixture[str], form: str
) -> None:
    four_sources(workdir, page_server, per_host=1)
    limit(page_server, 429, retry_after(form, 3))
    assert main(["check", "--max-wait", "0.5"]) == 3
    first = outcomes(capsys.readouterr().out)
    assert sorted(first.values()) == ["deferred", "deferred", "deferred", "failed"]
    paused_until = max(
        datetime.fromisoformat(str(e["data"]["paused_until"]).replace("Z", "+00:00"))
        for e in log_events(capsys)
        if e["type"] == "FetchFailed" and "paused_until" in e["data"]
    )
    # Wait for the pause the host named to end (setup, not an assertion on time).
    time.sleep(max(0.0, (paused_until - datetime.now(UTC)).total_seconds()) + 0.3)

    before = len(page_server.requests)
    assert main(["check"]) == 0
    second = outcomes(capsys.readouterr().out)
    assert sorted(second.values()) == ["baseline"] * 4  # every source captured now
    assert len(page_server.requests) - before == 4


async def test_a_restarted_daemon_honours_the_stored_pause_and_checks_other_hosts_meanwhile(
    workdir: Path, page_server: PageServer
) -> None:
    arrivals: dict[str, list[datetime]] = {}

    async def handler(request: web.Request) -> web.StreamResponse:
        arrivals.setdefault(request.path, []).append(datetime.now(UTC))
        return web.Response(text=page(f"src-{request.path[1:]}"), content_type="text/html")

    # "localhost" and "127.0.0.1" are different hosts to politeness, and to pauses.
    paused = {f"quiet{i}": f"http://localhost:{page_server.port}/q{i}" for i in range(2)}
    fine = {f"fine{i}": page_server.url(f"/f{i}") for i in range(3)}
    for path in ("/q0", "/q1", "/f0", "/f1", "/f2"):
        page_server.handlers[path] = handler
    lines = ["[monitor]", 'per_host = 2\nconcurrency = 4\ngrace_period = "1s"']
    for source_id, url in {**paused, **fine}.items():
        lines += ["[[source]]", f'id = "{source_id}"', f'url = "{url}"', 'interval = "10s"', ""]
    (workdir / "sources.toml").write_text("\n".join(lines), encoding="utf-8")
    db = f"sqlite:///{workdir / 'm.db'}"

    # What the daemon's previous life was told: localhost wants quiet for a few seconds.
    until = datetime.now(UTC) + timedelta(seconds=3)
    async with open_store(db) as store:
        pauses = pauses_of(store)
        assert pauses is not None
        await pauses.pause_host(
            f"localhost:{page_server.port}", until, reason="HTTP 429", now=datetime.now(UTC)
        )

    reports: list[CheckReport] = []
    daemon = Daemon(
        load_config(workdir / "sources.toml", environ={}),
        database=db,
        handle_signals=False,
        on_report=reports.append,
    )
    task = asyncio.create_task(daemon.run())
    try:
        await asyncio.wait_for(daemon.ready.wait(), 10)

        def checked() -> set[str]:
            return {r.source_id for r in reports}

        await wait_for(lambda: set(fine) <= checked(), 20)
        # Every other host was checked while localhost's pause ran (nothing went to
        # localhost before its end) ...
        assert all(t >= until for p in ("/q0", "/q1") for t in arrivals.get(p, []))
        await wait_for(lambda: set(paused) <= checked(), 20)
    finally:
        daemon.request_stop()
        await asyncio.wait_for(task, 15)
    # ... and after it ended the paused sources were asked, and captured.
    for path in ("/q0", "/q1"):
        assert arrivals[path] and min(arrivals[path]) >= until
    assert {r.source_id: r.outcome for r in reports if r.source_id in paused} == {
        s: "baseline" for s in paused
    }


async def wait_for(condition: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


@pytest.mark.timeout(45)
def test_a_paused_host_shows_in_log_show_metrics_and_the_web_view(
    workdir: Path, page_server: PageServer, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = four_sources(workdir, page_server, per_host=1)
    assert main(["check"]) == 0  # every source has a baseline
    refused = limit(page_server, 429, "3600")
    assert main(["check"]) == 3
    capsys.readouterr()
    host = f"127.0.0.1:{page_server.port}"
    deferred_id = next(ids[p] for p in PATHS if p != refused[0])

    assert main(["log", "--source", deferred_id]) == 0
    out, err = capsys.readouterr()
    assert f"deferred: {host} asked for quiet until" in out.splitlines()[-1]
    assert f"# {host} asked for quiet until" in err
    assert main(["log", "--json"]) == 0
    assert "asked for quiet until" not in capsys.readouterr().err  # JSON lines only

    assert main(["show", deferred_id]) == 0
    out, err = capsys.readouterr()
    assert "report twice a year" in out
    assert f"# paused: {host} asked for quiet until" in err

    async def web_pages() -> dict[str, str]:
        settings = load_config(workdir / "sources.toml", environ={})
        async with open_store(f"sqlite:///{workdir / 'monitor.db'}", create=False) as store:
            app = create_app(store, settings)
            async with TestClient(TestServer(app, host="127.0.0.1")) as client:
                pages = {}
                for path in ("/metrics", f"/sources/{deferred_id}", "/"):
                    response = await client.get(path)
                    assert response.status == 200
                    pages[path] = await response.text()
                return pages

    pages = asyncio.run(web_pages())
    metrics = dict(
        line.rsplit(" ", 1) for line in pages["/metrics"].splitlines() if line[:1] != "#"
    )
    assert metrics["monitor_hosts_paused"] == "1"
    until = float(metrics[f'monitor_host_paused_until_seconds{{host="{host}"}}'])
    assert 3000 < until - time.time() <= 3600
    assert metrics['monitor_checks_total{outcome="deferred"}'] == "3"
    assert 'monitor_fetch_failures_total{error="deferred"}' not in metrics
    assert "asked for quiet until" in pages[f"/sources/{deferred_id}"]
    assert "Deferred: the host asked for quiet" in pages[f"/sources/{deferred_id}"]
    assert host in pages["/"] and "asked for quiet" in pages["/"]


def test_a_deferred_check_neither_counts_as_a_failure_nor_alerts() -> None:
    """Two failures, then deferrals, then a third failure: the alert comes with the third."""
    source = SourceSettings(id="s", url="http://127.0.0.1:9/")
    now = datetime(2025, 3, 1, tzinfo=UTC)
    state = SourceState(source_id="s")
    alerts = []
    for seq, error in enumerate(("http", "http", "deferred", "deferred", "http"), start=1):
        outcome = Failed(
            url=source.url,
            error=error,
            message="m",
            status=None,
            fetched_at=now,
            until=now + timedelta(hours=1) if error == "deferred" else None,
        )
        [event] = decide(state, outcome, source=source, rules=(), now=now)
        stored = StoredEvent(
            seq=seq,
            event_id=str(seq),
            stream="s",
            version=seq,
            type=event.type,
            schema=1,
            recorded_at="2025-03-01T00:00:00.000000Z",
            data=event.to_data(),
            prev_hash="0" * 64,
            hash="0" * 64,
        )
        state = apply(state, stored)
        alerts.append(alert_severity(stored.event, alert_after=3))
        if error == "deferred":
            assert stored.data["paused_until"] == "2025-03-01T01:00:00.000000Z"
            assert state.status == "failing" and state.consecutive_failures == 2
        else:
            assert "paused_until" not in stored.data  # other failures keep their shape
    assert alerts == [None, None, None, None, "low"]
    assert state.consecutive_failures == 3 and state.failures == 3


async def test_a_fetcher_honours_a_pause_another_fetcher_recorded(page_server: PageServer) -> None:
    """Two processes in miniature: two fetchers sharing one pause book (the memory twin)."""
    page_server.set("/x", "<p>x</p>", status=503, headers={"Retry-After": "600"})
    page_server.set("/y", "<p>y</p>")
    book = MemoryHostPauses()
    settings = MonitorSettings()
    now = datetime.now(UTC)
    async with Fetcher(settings, pauses=book) as first:
        with pytest.raises(FetchError) as refused:
            await first.fetch(SourceSettings(id="x", url=page_server.url("/x")), now=now)
    assert refused.value.status == 503
    [recorded] = await book.host_pauses(now=now)
    assert recorded.host == f"127.0.0.1:{page_server.port}"
    assert "answering x" in recorded.reason

    async with Fetcher(settings, pauses=book, max_wait=1.0) as second:
        with pytest.raises(HostPausedError) as deferred:
            await second.fetch(SourceSettings(id="y", url=page_server.url("/y")), now=now)
        assert deferred.value.kind == "deferred" and deferred.value.until == recorded.until
        assert [p.host for p in second.paused_hosts()] == [recorded.host]
        other = PageServer().start()  # another port is another server: not held
        try:
            other.set("/z", "<p>z</p>")
            result = await second.fetch(SourceSettings(id="z", url=other.url("/z")), now=now)
            assert result.body == b"<p>z</p>"
        finally:
            other.stop()
    assert [path for path, _ in page_server.requests] == ["/x"]


async def test_short_pauses_in_a_row_never_add_up_past_the_bound(page_server: PageServer) -> None:
    page_server.set("/storm", "<p>busy</p>", status=429, headers={"Retry-After": "1"})
    source = SourceSettings(id="storm", url=page_server.url("/storm"))
    async with Fetcher(MonitorSettings(), max_wait=1.5) as fetcher:
        with pytest.raises(FetchError) as refused:
            await fetcher.fetch(source, now=datetime.now(UTC))
    assert refused.value.status == 429
    # One pause of 1 s waited out; a second would make 2 s > 1.5 s: given up, not asked again.
    assert len(page_server.requests) == 2


async def test_a_running_fetcher_learns_a_pause_recorded_later_within_a_second(
    page_server: PageServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fetcher that found no pause asks the store again after ``PAUSE_RECHECK``, not at
    every check, yet honours a pause another process records meanwhile once it has."""
    monkeypatch.setattr("monitor.check.hosts.PAUSE_RECHECK", 0.2)
    page_server.set("/x", "<p>x</p>", status=503, headers={"Retry-After": "600"})
    page_server.set("/y", "<p>y</p>")
    book = MemoryHostPauses()
    settings = MonitorSettings()
    now = datetime.now(UTC)
    y = SourceSettings(id="y", url=page_server.url("/y"))
    async with Fetcher(settings, pauses=book, max_wait=1.0) as running:
        assert (await running.fetch(y, now=now)).body == b"<p>y</p>"  # no pause known
        async with Fetcher(settings, pauses=book) as other:
            with pytest.raises(FetchError):
                await other.fetch(SourceSettings(id="x", url=page_server.url("/x")), now=now)
        await asyncio.sleep(0.3)
        with pytest.raises(HostPausedError):
            await running.fetch(y, now=now)
    assert [path for path, _ in page_server.requests] == ["/y", "/x"]

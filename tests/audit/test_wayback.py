"""Save Page Now after substantive changes, against a local stand-in of its SPN2 API.

The stand-in speaks the documented protocol: ``POST /save`` (form ``url``) answers a
job id, ``GET /save/status/<job>`` answers ``pending`` once, then ``success`` with
the capture's timestamp. ``down`` answers 503, ``busy`` answers 429.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from monitor.audit.wayback import ARCHIVE_STREAM, MAX_ATTEMPTS, WaybackArchiver
from monitor.cli import main
from monitor.config.settings import AuditSettings
from monitor.daemon.service import Daemon
from monitor.store import open_store
from monitor.web.metrics import render_metrics
from monitor.web.model import ReadModel
from tests.audit.test_journals import page
from tests.pageserver import PageServer


@dataclass
class SavePageNow:
    server: PageServer
    down: bool = False
    busy: bool = False
    saved: list[str] = field(default_factory=list)
    authorizations: list[str | None] = field(default_factory=list)
    polls: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.server.handlers["/save"] = self._save

    @property
    def endpoint(self) -> str:
        return self.server.url("/save")

    async def _save(self, request: web.Request) -> web.Response:
        if self.down:
            return web.Response(status=503, text="Service Unavailable")
        if self.busy:
            return web.Response(status=429, text="Too Many Requests")
        form = await request.post()
        url = str(form["url"])
        self.saved.append(url)
        self.authorizations.append(request.headers.get("Authorization"))
        job = f"spn2-{len(self.saved)}"
        self.server.handlers[f"/save/status/{job}"] = lambda r, j=job, u=url: self._status(j, u)
        return web.json_response({"url": url, "job_id": job})

    async def _status(self, job: str, url: str) -> web.Response:
        self.polls[job] = self.polls.get(job, 0) + 1
        if self.polls[job] == 1:
            return web.json_response({"status": "pending", "job_id": job})
        return web.json_response(
            {"status": "success", "job_id": job, "timestamp": "20260301120000", "original_url": url}
        )


@pytest.fixture
def spn(tmp_path: Path) -> Iterator[SavePageNow]:
    server = PageServer().start()
    try:
        yield SavePageNow(server)
    finally:
        server.stop()


def settings(spn: SavePageNow, **extra: object) -> AuditSettings:
    return AuditSettings(wayback=True, wayback_endpoint=spn.endpoint, **extra)  # type: ignore[arg-type]


def check(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["check", "--db", "sqlite:///m.db"]) == 0, capsys.readouterr()


def configured(workdir: Path, server: PageServer) -> None:
    (workdir / "sources.toml").write_text(
        f'[[source]]\nid = "a"\nurl = "{server.url("/a")}"\n'
        f'[[source]]\nid = "b"\nurl = "{server.url("/b")}"\n'
    )
    server.set("/a", page("Alpha one."))
    server.set("/b", page("Beta one."))


def archiver(store: object, spn: SavePageNow, **extra: object) -> WaybackArchiver:
    return WaybackArchiver(
        store,  # type: ignore[arg-type]
        settings(spn, **extra),
        retry_base=0.2,
        retry_cap=0.2,
        poll_every=0.01,
    )


async def in_thread(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    await asyncio.to_thread(check, workdir, capsys)


async def test_a_substantive_change_is_archived_and_its_archive_url_recorded(
    workdir: Path, page_server: PageServer, spn: SavePageNow, capsys: pytest.CaptureFixture[str]
) -> None:
    configured(workdir, page_server)
    await in_thread(workdir, capsys)  # baselines: not archived
    async with open_store("sqlite:///m.db", create=False) as store:
        async with archiver(store, spn, wayback_key="access:secret") as wayback:
            await wayback.start()
            page_server.set("/a", page("Alpha two: we stopped publishing."))
            await in_thread(workdir, capsys)
            (captured,) = await wayback.process()
            assert await wayback.process() == []  # each change once
        change = await store.get_event(int(captured.data["for_seq"]))
    assert change is not None and change.type == "ChangeDetected" and change.stream == "a"
    assert captured.type == "ThirdPartyCaptured" and captured.stream == ARCHIVE_STREAM
    assert captured.data["url"] == page_server.url("/a")
    assert captured.data["archive_url"] == (
        f"http://127.0.0.1:{spn.server.port}/web/20260301120000/{page_server.url('/a')}"
    )
    assert spn.saved == [page_server.url("/a")]
    assert spn.authorizations == ["LOW access:secret"]
    # The evidence of that change names the outside copy.
    await asyncio.to_thread(main, ["evidence", str(change.seq), "ev", "--db", "sqlite:///m.db"])
    readme = (workdir / "ev" / "README.md").read_text()
    assert f"- {captured.data['archive_url']}" in readme


async def test_an_outage_is_recorded_retried_in_order_and_finally_given_up(
    workdir: Path, page_server: PageServer, spn: SavePageNow, capsys: pytest.CaptureFixture[str]
) -> None:
    configured(workdir, page_server)
    await in_thread(workdir, capsys)
    async with (
        open_store("sqlite:///m.db", create=False) as store,
        archiver(store, spn, wayback_per_minute=10) as wayback,  # every try counts
    ):
        await wayback.start()
        page_server.set("/a", page("Alpha two."))
        page_server.set("/b", page("Beta two."))
        await in_thread(workdir, capsys)
        spn.down = True
        events = []
        for attempt in range(1, MAX_ATTEMPTS):
            await asyncio.sleep(wayback.seconds_until_due() or 0)
            (failed,) = await wayback.process()  # the first change blocks the second
            assert failed.type == "ThirdPartyCaptureFailed"
            assert (failed.data["attempt"], failed.data["final"]) == (attempt, False)
            events.append(failed)
        await asyncio.sleep(wayback.seconds_until_due() or 0)
        # The last try of the first change fails for good; the second is tried at once.
        last, second = await wayback.process()
        assert (last.data["attempt"], last.data["final"]) == (MAX_ATTEMPTS, True)
        assert second.data["for_seq"] > last.data["for_seq"] and second.data["attempt"] == 1
        spn.down = False
        await asyncio.sleep(wayback.seconds_until_due() or 0)
        (captured,) = await wayback.process()
        assert captured.type == "ThirdPartyCaptured"
        assert (captured.data["for_seq"], captured.data["attempt"]) == (second.data["for_seq"], 2)
        recorded = await store.read(stream=ARCHIVE_STREAM)
    assert "HTTP 503" in str(events[0].data["error"])
    model = ReadModel()
    model.apply_all(recorded)
    metrics = render_metrics(model, notifier_lag=0)
    failures = 'monitor_third_party_captures_total{outcome="failed",archive="wayback"}'
    assert f"{failures} {MAX_ATTEMPTS + 1}" in metrics
    assert 'monitor_third_party_captures_total{outcome="captured",archive="wayback"} 1' in metrics


async def test_at_most_the_configured_number_of_captures_a_minute(
    workdir: Path, page_server: PageServer, spn: SavePageNow, capsys: pytest.CaptureFixture[str]
) -> None:
    configured(workdir, page_server)
    await in_thread(workdir, capsys)
    async with (
        open_store("sqlite:///m.db", create=False) as store,
        archiver(store, spn, wayback_per_minute=1) as wayback,
    ):
        await wayback.start()
        page_server.set("/a", page("Alpha two."))
        page_server.set("/b", page("Beta two."))
        await in_thread(workdir, capsys)
        assert len(await wayback.process()) == 1
        assert await wayback.process() == []  # the second waits for the next minute
        wait = wayback.seconds_until_due()
        assert wait is not None and 50 < wait <= 60
    assert len(spn.saved) == 1


async def test_the_daemon_archives_changes_without_holding_checks(
    tmp_path: Path, page_server: PageServer, spn: SavePageNow
) -> None:
    from monitor.config.parse import load_config
    from tests.test_daemon import running, until

    url = page_server.set("/p", page("We have paused processing Hong Kong requests."))
    conf = tmp_path / "sources.toml"
    conf.write_text(
        f'[audit]\nwayback = true\nwayback_endpoint = "{spn.endpoint}"\n'
        f'[[source]]\nid = "p"\nurl = "{url}"\ninterval = "1s"\n'
    )
    db = tmp_path / "m.db"
    daemon = Daemon(
        load_config(conf, environ={}),
        database=f"sqlite:///{db}",
        config_path=conf,
        handle_signals=False,
        poll_interval=0.1,
    )

    def types() -> list[str]:
        with sqlite3.connect(db) as conn:
            return [t for (t,) in conn.execute("SELECT type FROM events ORDER BY seq")]

    async with running(daemon):
        await until(lambda: "BaselineCaptured" in types(), seconds=10)
        page_server.set("/p", page("We have resumed processing Hong Kong requests."))
        # The stand-in answers "pending" first; Save Page Now is polled every few seconds.
        await until(lambda: "ThirdPartyCaptured" in types(), seconds=15)
    assert spn.saved == [url]

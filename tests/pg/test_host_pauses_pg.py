"""Workers sharing one PostgreSQL log share a host's Retry-After pause too."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from aiohttp import web

from monitor.check.pipeline import CheckReport
from monitor.cli import main
from monitor.config.parse import load_config
from monitor.config.settings import SourceSettings
from monitor.daemon.service import Daemon
from monitor.daemon.workers import LeaseScheduler
from monitor.store import open_store
from monitor.store.pauses import pauses_of
from monitor.store.postgres import PostgresEventStore
from tests.pageserver import PageServer
from tests.pg.support import eventually, schema_of, server_url


@pytest.mark.timeout(45)
def test_a_pause_one_worker_was_sent_keeps_the_next_from_asking(
    pg_url: str, workdir: Path, page_server: PageServer, capsys: pytest.CaptureFixture[str]
) -> None:
    async def refuse(request: web.Request) -> web.StreamResponse:
        return web.Response(status=429, text="slow down", headers={"Retry-After": "3600"})

    page_server.handlers["/a"] = refuse
    page_server.set("/b", "<main><p>Government requests: 12 received, 3 answered.</p></main>")
    lines = ["[monitor]", "per_host = 1"]
    for name in "ab":
        lines += ["[[source]]", f'id = "{name}"', f'url = "{page_server.url("/" + name)}"', ""]
    (workdir / "sources.toml").write_text("\n".join(lines), encoding="utf-8")

    assert main(["check", "--db", pg_url, "a"]) == 0  # refused: a failure, nothing deferred
    assert len(page_server.requests) == 1
    capsys.readouterr()
    # Another worker (its own connections) checks the other page on that host.
    assert main(["check", "--db", pg_url, "b"]) == 3
    assert len(page_server.requests) == 1
    line = capsys.readouterr().out.split()
    assert line[:2] == ["b", "deferred"] and "asked for quiet until" in " ".join(line)


async def test_a_worker_postpones_checks_of_a_paused_host_and_keeps_checking_the_others(
    pg_url: str, workdir: Path, page_server: PageServer
) -> None:
    """With leases, a check waiting on an hour's pause would hold one of the worker's
    claims all that time: with one claim (concurrency = 1) nothing else would be checked."""
    quiet = {f"quiet{i}": f"http://localhost:{page_server.port}/q{i}" for i in range(4)}
    fine = {f"fine{i}": page_server.set(f"/f{i}", "<main><p>Report</p></main>") for i in range(2)}
    lines = ["[monitor]", 'concurrency = 1\ngrace_period = "1s"']
    for source_id, url in {**quiet, **fine}.items():
        lines += ["[[source]]", f'id = "{source_id}"', f'url = "{url}"', 'interval = "10s"', ""]
    (workdir / "sources.toml").write_text("\n".join(lines), encoding="utf-8")
    until = datetime.now(UTC) + timedelta(hours=1)
    async with open_store(pg_url) as store:
        pauses = pauses_of(store)
        assert pauses is not None
        await pauses.pause_host(
            f"localhost:{page_server.port}", until, reason="HTTP 429", now=datetime.now(UTC)
        )

    reports: list[CheckReport] = []
    daemon = Daemon(
        load_config(workdir / "sources.toml", environ={}),
        database=pg_url,
        handle_signals=False,
        on_report=reports.append,
    )
    task = asyncio.create_task(daemon.run())
    try:
        await asyncio.wait_for(daemon.ready.wait(), 10)
        await eventually(lambda: set(fine) <= {r.source_id for r in reports}, 20)
        assert set(fine) <= {r.source_id for r in reports}
        for _ in range(100):  # a claimed source of the paused host is handed back
            leases = await leases_of(pg_url, sorted(quiet))
            if postponed(leases, until):
                break
            await asyncio.sleep(0.05)
    finally:
        daemon.request_stop()
        await asyncio.wait_for(task, 15)
    assert not any(path.startswith("/q") for path, _ in page_server.requests)
    # Claimed sources of the paused host wait in the table, due when the pause ends.
    assert postponed(leases, until), leases


def postponed(leases: dict[str, tuple[datetime, object]], until: datetime) -> list[str]:
    return [sid for sid, (due, held) in leases.items() if held is None and due >= until]


async def leases_of(url: str, ids: list[str]) -> dict[str, tuple[datetime, object]]:
    conn = await asyncpg.connect(server_url())
    try:
        rows = await conn.fetch(
            f'SELECT source_id, due_at, lease_until FROM "{schema_of(url)}".leases '
            "WHERE source_id = ANY($1::text[])",
            ids,
        )
    finally:
        await conn.close()
    return {r["source_id"]: (r["due_at"], r["lease_until"]) for r in rows}


async def test_a_postponed_lease_is_due_at_the_pause_end_even_on_a_slow_worker_clock(
    pg_url: str,
) -> None:
    """A worker whose clock runs a minute behind the database's still gets its source
    back only when the pause is over by its own clock (or it would claim and postpone
    it again and again)."""
    store = await PostgresEventStore.open(pg_url)
    behind = timedelta(seconds=60)
    postponed_once = asyncio.Event()

    def slow_clock() -> datetime:
        return datetime.now(UTC) - behind

    async def paused(source_id: str) -> datetime:
        postponed_once.set()
        return slow_clock() + timedelta(seconds=30)  # the end, as this worker sees it

    scheduler = LeaseScheduler(
        paused, store=store, clock=slow_clock, lease_period=30, poll_interval=0.2, owner="w"
    )
    configured = [SourceSettings(id="s", url="http://127.0.0.1:9/", interval=3600)]
    try:
        scheduler.start()
        scheduler.sync(configured, last_checked={}, jitter_percent=0, default_interval=3600)
        await asyncio.wait_for(postponed_once.wait(), 10)
        for _ in range(100):
            [(due, held)] = (await leases_of(pg_url, ["s"])).values()
            if held is None:
                break
            await asyncio.sleep(0.05)
    finally:
        await scheduler.aclose()
        await store.close()
    assert held is None  # freed for any worker, not held through the pause
    assert due > datetime.now(UTC) + timedelta(seconds=20)
    assert scheduler.claimed == 1

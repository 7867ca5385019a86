"""The daemon with a source that needs a browser: it renders it, and its browser ends with it."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

from monitor.check.pipeline import CheckReport
from monitor.config.parse import load_config
from monitor.daemon.service import Daemon
from tests.browser.conftest import requires_browser
from tests.browser.test_browser_checks import STATIC, serve_dashboard
from tests.pageserver import PageServer


def our_browsers() -> list[int]:
    """Live Chromium main processes launched by a pool of this test process."""
    marker = f"--policy-monitor-browser={os.getpid()}-".encode()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as cmdline:
                args = cmdline.read().split(b"\0")
            with open(f"/proc/{name}/stat") as stat:
                state = stat.read().rpartition(")")[2].split()[0]
        except OSError:
            continue
        if state != "Z" and any(arg.startswith(marker) for arg in args):
            found.append(int(name))
    return found


@requires_browser
async def test_the_daemon_renders_browser_sources_and_stops_its_browser(
    tmp_path: Path, page_server: PageServer
) -> None:
    dashboard = serve_dashboard(page_server, 41)
    guide = page_server.set("/guide", STATIC)
    config = tmp_path / "sources.toml"
    config.write_text(
        f'[[source]]\nid = "dashboard"\nurl = "{dashboard}"\nrender = "browser"\n'
        f'select = "#app"\ninterval = "10s"\n\n'
        f'[[source]]\nid = "guide"\nurl = "{guide}"\ninterval = "10s"\n',
        encoding="utf-8",
    )
    db = tmp_path / "monitor.db"
    reports: list[CheckReport] = []
    both_checked = asyncio.Event()

    def reported(report: CheckReport) -> None:
        reports.append(report)
        if len(reports) == 2:
            both_checked.set()

    daemon = Daemon(
        load_config(config, environ={}),
        database=f"sqlite:///{db}",
        handle_signals=False,
        on_report=reported,
    )
    task = asyncio.create_task(daemon.run())
    try:
        await asyncio.wait_for(both_checked.wait(), 20)
        running = our_browsers()
    finally:
        daemon.request_stop()
        await asyncio.wait_for(task, 20)

    assert {r.source_id: r.outcome for r in reports[:2]} == {
        "dashboard": "baseline",
        "guide": "baseline",
    }
    assert len(running) == 1
    assert our_browsers() == []  # a clean stop ends Chromium too
    with sqlite3.connect(db) as conn:
        renderers = dict(
            conn.execute(
                "SELECT stream, json_extract(data, '$.capture.renderer') FROM events "
                "WHERE type = 'BaselineCaptured'"
            )
        )
    assert renderers == {"dashboard": "browser", "guide": "http"}

"""`monitor run` schedules discovery by `interval` and checks what `watch` registers."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from monitor.config.parse import load_config
from monitor.daemon.service import Daemon
from tests.pageserver import PageServer
from tests.test_daemon import running, until


def sitemap(server: PageServer, *paths: str) -> str:
    rows = "".join(f"<url><loc>{server.url(p)}</loc></url>" for p in paths)
    return f'<?xml version="1.0"?><urlset>{rows}</urlset>'


def events(db: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(db) as conn:
        return list(conn.execute("SELECT stream, type FROM events ORDER BY seq"))


async def test_the_daemon_discovers_on_its_interval_and_checks_what_it_registers(
    tmp_path: Path, page_server: PageServer
) -> None:
    page_server.set("/sitemap.xml", sitemap(page_server, "/policies/privacy"))
    page_server.set("/policies/privacy", "<html><body><p>Privacy policy.</p></body></html>")
    config = tmp_path / "sources.toml"
    config.write_text(
        "[monitor]\njitter = 0\n\n"
        f'[[discover]]\nid = "example"\nsitemap = "{page_server.url("/sitemap.xml")}"\n'
        'match = "/policies/"\ninterval = "1s"\nwatch = true\n\n'
        '[discover.source]\ninterval = "1h"\n',
        encoding="utf-8",
    )
    db = tmp_path / "m.db"
    daemon = Daemon(
        load_config(config, environ={}), database=f"sqlite:///{db}", handle_signals=False
    )
    async with running(daemon):
        await until(lambda: ("$discover:example", "DiscoveryBaselined") in events(db))
        page_server.set(
            "/policies/law-enforcement",
            "<html><body><p>We answer valid legal process only.</p></body></html>",
        )
        page_server.set(
            "/sitemap.xml", sitemap(page_server, "/policies/privacy", "/policies/law-enforcement")
        )
        await until(lambda: any(t == "BaselineCaptured" for _, t in events(db)))
    recorded = events(db)
    [registered] = [s for s, t in recorded if t == "SourceRegistered"]
    assert registered.startswith("example.policies-law-enforcement-")
    assert (registered, "BaselineCaptured") in recorded
    assert [t for s, t in recorded if s == "$discover:example"] == [
        "DiscoveryBaselined",
        "SourceDiscovered",
    ]
    # The page that was listed at the baseline was never fetched: discovery reads lists.
    assert "/policies/privacy" not in {p for p, _ in page_server.requests}

"""Quiet changes in the web view and feeds: shown folded, left out of feeds by default."""

from __future__ import annotations

from pathlib import Path

import feedparser

from monitor.check.fetch import Fetcher
from monitor.check.netpolicy import NetworkPolicy
from monitor.check.pipeline import CheckRunner
from monitor.config.settings import MonitorSettings, Settings, SourceSettings
from monitor.store import open_store
from tests.pageserver import PageServer
from tests.web.conftest import ClientFactory


def help_page(stamp: str) -> str:
    return (
        "<!doctype html><html><head><title>Help</title></head><body><main>"
        "<h1>Deleting your account</h1>"
        f"<p>Updated {stamp}</p>"
        "<p>You can delete your account at any time from the settings page.</p>"
        "</main></body></html>"
    )


async def quiet_log(tmp_path: Path, server: PageServer) -> tuple[str, Settings]:
    url = server.set("/help", help_page("3 weeks ago"))
    source = SourceSettings(id="help", url=url, company="Acme", title="Help")
    db_url = f"sqlite:///{tmp_path / 'monitor.db'}"
    settings = Settings(path="t", monitor=MonitorSettings(database=db_url), sources=(source,))
    async with (
        open_store(db_url) as store,
        Fetcher(settings.monitor, NetworkPolicy()) as fetcher,
    ):
        runner = CheckRunner(store=store, fetcher=fetcher, settings=settings)
        await runner.reconcile()
        assert (await runner.check(source)).outcome == "baseline"
        server.set("/help", help_page("yesterday"))
        report = await runner.check(source)
        assert report.outcome == "volatile"
    return db_url, settings


async def test_quiet_changes_are_folded_on_the_dashboard_and_out_of_feeds(
    tmp_path: Path, page_server: PageServer, make_client: ClientFactory
) -> None:
    db_url, settings = await quiet_log(tmp_path, page_server)
    client = await make_client(db_url=db_url, settings=settings)
    page = await (await client.get("/")).text()
    assert '<li class="change quiet">' in page
    assert "<details><summary>" in page and "not alerted" in page
    feed = feedparser.parse(await (await client.get("/feeds/changes.atom")).text())
    assert feed.entries == []
    asked = feedparser.parse(await (await client.get("/feeds/changes.atom?quiet=1")).text())
    assert len(asked.entries) == 1


async def test_learned_blocks_appear_on_the_source_timeline(
    tmp_path: Path, page_server: PageServer, make_client: ClientFactory
) -> None:
    def page(story: str) -> str:
        return (
            "<!doctype html><html><head><title>G</title></head><body><main><h1>Guidelines</h1>"
            "<p>We remove content that incites violence.</p>"
            f"<p>Featured story: {story}</p><p>Report anything that breaks the rules.</p>"
            "</main></body></html>"
        )

    url = page_server.set("/g", page("Ada"))
    source = SourceSettings(id="g", url=url, learn_volatile_after=2)
    db_url = f"sqlite:///{tmp_path / 'monitor.db'}"
    settings = Settings(path="t", monitor=MonitorSettings(database=db_url), sources=(source,))
    async with (
        open_store(db_url) as store,
        Fetcher(settings.monitor, NetworkPolicy()) as fetcher,
    ):
        runner = CheckRunner(store=store, fetcher=fetcher, settings=settings)
        await runner.reconcile()
        for story in ("Ada", "Grace", "Alan"):
            page_server.set("/g", page(story))
            await runner.check(source)
    client = await make_client(db_url=db_url, settings=settings)
    html = await (await client.get("/sources/g")).text()
    assert "Learned a volatile block" in html and "Featured story: Alan" in html

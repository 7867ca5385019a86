"""Summaries speak the format: CSV rows by key, JSON paths, PDF pages, document links —
in alerts, feeds, the web view and ``monitor log``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import feedparser
import pytest
from aiohttp.test_utils import TestClient, TestServer

from monitor.check.fetch import Fetcher
from monitor.check.netpolicy import NetworkPolicy
from monitor.check.pipeline import CheckRunner
from monitor.config.parse import parse_config
from monitor.config.settings import SourceSettings
from monitor.desk.links import document_kind
from monitor.desk.summaries import change_summary, diff_summary
from monitor.diff.textdiff import diff_texts
from monitor.events import ChangeDetected
from monitor.extract.document import extract
from monitor.notify.render import SourceInfo, render_alert
from monitor.store import open_store
from monitor.web.app import create_app
from tests.desk.conftest import EMPTY_CONFIG
from tests.pageserver import PageServer
from tests.web.cli import main
from tests.web.htmlcheck import parse

CSV_BEFORE = "country,requests,disclosed\nHong Kong,0,0\nJapan,10,5\n"
CSV_AFTER = "country,requests,disclosed\nHong Kong,45,12\nJapan,10,5\n"
HK = "Hong Kong: requests 0 → 45, disclosed 0 → 12"


def summary_of(fmt: str, before: bytes, after: bytes, **settings: object) -> str:
    source = SourceSettings(id="s", url="https://example.org/r/", format=fmt, **settings)  # type: ignore[arg-type]
    old = extract(before, content_type=None, source=source).text
    new = extract(after, content_type=None, source=source).text
    return diff_summary(diff_texts(old, new).to_data(), fmt=fmt)


@pytest.mark.parametrize(
    ("fmt", "before", "after", "expected"),
    [
        ("csv", CSV_BEFORE, CSV_AFTER, HK),
        (
            "csv",
            CSV_BEFORE,
            CSV_BEFORE + "Kenya,3,1\n",
            "Kenya: row added (requests 3, disclosed 1)",
        ),
        ("csv", CSV_BEFORE, "country,requests,disclosed\nJapan,10,5\n", "Hong Kong: row removed"),
        (
            "json",
            json.dumps({"report": {"hk": {"requests": 0}}}),
            json.dumps({"report": {"hk": {"requests": 45}}}),
            "report.hk.requests: 0 → 45",
        ),
        (
            "json",
            json.dumps({"a": 1}),
            json.dumps({"a": 1, "b": "new"}),
            "b: new (added)",
        ),
    ],
)
def test_data_formats_are_summarized_by_row_and_path(
    fmt: str, before: str, after: str, expected: str
) -> None:
    assert summary_of(fmt, before.encode(), after.encode()) == expected


def test_a_pdf_change_names_its_page() -> None:
    old = "--- page 1 ---\n# Requests\nIntro.\n--- page 4 ---\nHong Kong: 0 requests.\n"
    new = old.replace("0 requests", "45 requests")
    assert diff_summary(diff_texts(old, new).to_data(), fmt="pdf") == "page 4: '0' → '45'"


def test_a_removed_report_link_is_listed() -> None:
    page = (
        '<main><h1>Reports</h1><p><a href="/">Home</a></p><ul>'
        '<li><a href="/f/tr-2019.pdf?utm_source=x">Transparency Report 2019</a></li>'
        '<li><a href="/f/data.csv">Data</a></li></ul></main>'
    )
    after = page.replace(
        '<li><a href="/f/tr-2019.pdf?utm_source=x">Transparency Report 2019</a></li>', ""
    )
    summary = summary_of("html", page.encode(), after.encode(), watch_links="documents")
    assert summary.endswith("link removed: Transparency Report 2019 (PDF)")
    assert document_kind("https://e.org/transparency-report/2019") == "report page"
    assert document_kind("https://e.org/about") is None


def test_plain_html_keeps_its_recorded_summary() -> None:
    diff = diff_texts("a b c\n", "a x c\n").to_data()
    assert diff_summary(diff, fmt="html") == diff["summary"]


@pytest.fixture
async def csv_log(tmp_path: Path) -> AsyncIterator[tuple[str, object]]:
    server = PageServer().start()
    try:
        text = f"""
[web]
base_url = "http://m"

[[source]]
id = "hk-csv"
company = "Example"
title = "Requests by country"
url = "{server.url("/r.csv")}"
format = "csv"

[[source]]
id = "reports"
company = "Example"
title = "Reports"
url = "{server.url("/reports")}"
watch_links = "documents"
"""
        settings = parse_config(text, path="s.toml", environ={})
        reports = (
            '<html><body><main><h1>Reports</h1><p><a href="/home">Home</a></p><ul>'
            '<li><a href="/f/tr-2019.pdf">Transparency Report 2019</a></li>'
            '<li><a href="/f/tr-2020.pdf">Transparency Report 2020</a></li></ul>'
            "</main></body></html>"
        )
        server.set("/r.csv", CSV_BEFORE, content_type="text/csv")
        server.set("/reports", reports)
        url = f"sqlite:///{tmp_path / 'monitor.db'}"
        policy = NetworkPolicy.from_strings(allow_private=False)
        async with open_store(url) as store, Fetcher(settings.monitor, policy) as fetcher:
            runner = CheckRunner(store=store, fetcher=fetcher, settings=settings)
            await runner.reconcile()
            for source in settings.sources:
                await runner.check(source)
            server.set("/r.csv", CSV_AFTER, content_type="text/csv")
            # a navigation link moving is no change; a report leaving the list is
            server.set("/reports", reports.replace('href="/home"', 'href="/start"'))
            assert (await runner.check(settings.sources[1])).outcome == "unchanged"
            server.set(
                "/reports",
                reports.replace(
                    '<li><a href="/f/tr-2019.pdf">Transparency Report 2019</a></li>', ""
                ),
            )
            for source in settings.sources:
                await runner.check(source)
        yield url, settings
    finally:
        server.stop()


async def test_alerts_feeds_web_and_log_say_it(
    csv_log: tuple[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    url, settings = csv_log
    async with open_store(url, create=False) as store:
        changes = await store.read(types=["ChangeDetected"])
        (csv_change,) = [c for c in changes if c.stream == "hk-csv"]
        (link_change,) = [c for c in changes if c.stream == "reports"]
        alert = render_alert(csv_change, SourceInfo(source_id="hk-csv"))
        assert f"Summary: {HK}" in alert.body
        links = render_alert(link_change, SourceInfo(source_id="reports"))
        assert "link removed: Transparency Report 2019 (PDF)" in links.body
        app = create_app(store, settings)  # type: ignore[arg-type]
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            page = parse(await (await client.get(f"/changes/{csv_change.seq}")).text())
            assert HK in page.text
            feed = feedparser.parse(await (await client.get("/feeds/changes.atom")).text())
            assert any(HK in e.title and HK in e.summary for e in feed.entries)
            assert any("link removed" in e.summary for e in feed.entries)
            dashboard = parse(await (await client.get("/")).text())
            assert HK in dashboard.text
    argv = ["log", "--type", "ChangeDetected", "--db", url, "--config", EMPTY_CONFIG]
    assert await asyncio.to_thread(main, argv) == 0
    assert HK in capsys.readouterr().out


async def test_an_unwatched_page_lists_the_documents_its_change_removed(tmp_path: Path) -> None:
    server = PageServer().start()
    try:
        settings = parse_config(
            f'[[source]]\nid = "reports"\nurl = "{server.url("/reports")}"\n',
            path="s.toml",
            environ={},
        )
        item = '<li><a href="/f/tr-2019.pdf?utm_source=feed">Transparency Report 2019</a></li>'
        page = (
            '<html><body><main><h1>Reports</h1><p><a href="/home">Home</a></p><ul>'
            f'{item}<li><a href="/f/tr-2020.pdf">Transparency Report 2020</a></li></ul>'
            "</main></body></html>"
        )
        server.set("/reports", page)
        url = f"sqlite:///{tmp_path / 'monitor.db'}"
        policy = NetworkPolicy.from_strings(allow_private=False)
        async with open_store(url) as store, Fetcher(settings.monitor, policy) as fetcher:
            runner = CheckRunner(store=store, fetcher=fetcher, settings=settings)
            await runner.reconcile()
            await runner.check(settings.sources[0])
            # a link-only change is not a change of the text: nothing is recorded
            server.set("/reports", page.replace("tr-2020.pdf", "tr-2020-v2.pdf"))
            assert (await runner.check(settings.sources[0])).outcome == "unchanged"
            server.set("/reports", page.replace(item, ""))
            report = await runner.check(settings.sources[0])
        (change,) = [e for e in report.events if e.type == "ChangeDetected"]
        documents = change.data["diff"]["documents"]
        assert documents["removed"] == [["Transparency Report 2019", server.url("/f/tr-2019.pdf")]]
        assert isinstance(change.event, ChangeDetected)
        summary = change_summary(change.event)
        assert summary.endswith("link removed: Transparency Report 2019 (PDF)")
        # compared with the last recorded capture: the 2020 report is where it was
        assert documents["added"] == []
    finally:
        server.stop()


def test_with_a_rule_match_the_rows_it_saw_come_first() -> None:
    old = "country,requests\nBrazil,5\nHong Kong,0\n"
    new = "country,requests\nBrazil,6\nHong Kong,45\n"
    source = SourceSettings(id="s", url="u", format="csv")
    diff = diff_texts(
        extract(old.encode(), content_type=None, source=source).text,
        extract(new.encode(), content_type=None, source=source).text,
    ).to_data()
    assert diff_summary(diff, fmt="csv") == "Brazil: requests 5 → 6; Hong Kong: requests 0 → 45"
    rules = [{"rule_id": "hk", "severity": "high", "sentences": ["Hong Kong · requests: 45"]}]
    led = diff_summary(diff, rules, "csv")
    assert led == "Hong Kong: requests 0 → 45; Brazil: requests 5 → 6"


def test_a_figures_rule_keeps_its_headline() -> None:
    diff = diff_texts("Hong Kong · requests: 0\n", "Hong Kong · requests: 45\n").to_data()
    diff["summary"] = "Google · Hong Kong · requests 2011: 45 (2010: 0)"
    rules = [{"rule_id": "hk", "side": "figures", "sentences": [diff["summary"]]}]
    assert diff_summary(diff, rules, "csv") == "Google · Hong Kong · requests 2011: 45 (2010: 0)"

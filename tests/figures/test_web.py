"""Figures on the web: the source page's SVG chart and the JSON API, over a real log."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from openapi_spec_validator import validate

from monitor.cli import main
from monitor.config.parse import load_config
from monitor.store import open_store
from monitor.web.app import create_app
from tests.figures.test_pipeline import log_events, serve_versions
from tests.pageserver import PageServer
from tests.web.htmlcheck import parse

Client = TestClient[web.Request, web.Application]


@pytest.fixture
def report_log(
    workdir: Path, page_server: PageServer, capsys: pytest.CaptureFixture[str]
) -> tuple[Path, list[dict[str, object]], dict[str, Any]]:
    serve_versions(workdir, page_server, "csv")
    events = log_events(capsys)
    assert main(["figures", "google-requests", "--where", "Country=Hong Kong", "--json"]) == 0
    return workdir, events, json.loads(capsys.readouterr().out)


@pytest.fixture
async def client(
    report_log: tuple[Path, list[dict[str, object]], dict[str, Any]],
) -> AsyncIterator[Client]:
    workdir = report_log[0]
    settings = load_config(str(workdir / "sources.toml"), environ=os.environ)
    async with open_store(f"sqlite:///{workdir / 'monitor.db'}", create=False) as store:
        server = TestServer(create_app(store, settings), host="127.0.0.1")
        async with TestClient(server) as c:
            yield c


async def test_source_page_draws_the_series_with_restated_points_and_capture_links(
    client: Client, report_log: tuple[Path, list[dict[str, object]], dict[str, Any]]
) -> None:
    events = report_log[1]
    changes = [e["seq"] for e in events if e["type"] == "ChangeDetected"]
    response = await client.get(
        "/sources/google-requests",
        params=[("where", "Country=Hong Kong"), ("column", "User Data Requests")],
    )
    assert response.status == 200
    html = await response.text()
    page = parse(html)
    assert len(page.elements("svg")) == 1
    assert page.elements("script") == [] or all(s.get("src") for s in page.elements("script"))
    assert len(page.elements("polyline")) == 1  # one series: Hong Kong · Subpoena
    restated = [g for g in page.elements("g") if "restated" in (g.get("class") or "")]
    assert len(restated) == 1
    assert "Hong Kong · Subpoena · 2011-06-30: 48 (restated from 45)" in page.text
    links = [a.get("href") for a in page.elements("a")]
    assert f"/changes/{changes[1]}" in links  # the restated point: the capture that restated it
    assert any(str(h).startswith("/blobs/") for h in links)  # baseline points: the raw capture


async def test_source_page_without_filters_still_charts(client: Client) -> None:
    response = await client.get("/sources/google-requests")
    html = await response.text()
    assert response.status == 200 and "<svg" in html
    assert len(parse(html).elements("polyline")) == 3  # Germany, India, Hong Kong


async def test_api_answers_the_same_rows_as_the_cli_and_follows_the_document(
    client: Client, report_log: tuple[Path, list[dict[str, object]], dict[str, Any]]
) -> None:
    cli_document = report_log[2]
    doc = await (await client.get("/api/openapi.json")).json()
    validate(doc)
    response = await client.get(
        "/api/sources/google-requests/figures", params={"where": "Country=Hong Kong"}
    )
    assert response.status == 200
    body = await response.json()
    schema = doc["paths"]["/api/sources/{source_id}/figures"]["get"]["responses"]["200"]
    jsonschema.Draft202012Validator(
        {**schema["content"]["application/json"]["schema"], "components": doc["components"]}
    ).validate(body)
    assert body == cli_document
    missing = await client.get("/api/sources/google-requests/figures?where=Region=Asia")
    assert missing.status == 400 and "Region" in await missing.text()
    assert (await client.get("/api/sources/nope/figures")).status == 404


async def test_timeline_names_each_fact_and_links_its_change(
    client: Client, report_log: tuple[Path, list[dict[str, object]], dict[str, Any]]
) -> None:
    changes = [e["seq"] for e in report_log[1] if e["type"] == "ChangeDetected"]
    html = await (await client.get("/sources/google-requests")).text()
    text = parse(html).text
    assert "Figures published: 2011-06-30" in text and "3 rows" in text
    assert "Figure restated: Hong Kong · Subpoena · 2011-06-30" in text
    assert "User Data Requests: 45 → 48" in text
    assert "Figures withdrawn: India · Subpoena · 2010-06-30" in text
    hrefs = [a.get("href") for a in parse(html).elements("a")]
    assert hrefs.count(f"/changes/{changes[1]}") >= 3  # the change, its two facts (and the chart)


async def test_feed_entry_title_leads_with_the_figure_rule_sentence(
    workdir: Path, page_server: PageServer, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    import feedparser

    from tests.figures.test_pipeline import HK_RULE

    await asyncio.to_thread(serve_versions, workdir, page_server, "csv", extra=HK_RULE)
    settings = load_config(str(workdir / "sources.toml"), environ=os.environ)
    async with open_store(f"sqlite:///{workdir / 'monitor.db'}", create=False) as store:
        server = TestServer(create_app(store, settings), host="127.0.0.1")
        async with TestClient(server) as c:
            feed = feedparser.parse(await (await c.get("/feeds/rules/hk-resumed.atom")).text())
    [entry] = feed.entries
    assert "Google · Hong Kong · Subpoena · User Data Requests 2011-06-30: 45 (2010-12-31: 0)" in (
        entry.title
    )

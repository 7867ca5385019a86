"""What discovery found, on the web page and in the JSON API (checked against its schema)."""

from __future__ import annotations

from pathlib import Path

import jsonschema

from monitor.config.parse import parse_config
from tests.discover.build import add_discoveries, config_text
from tests.pageserver import PageServer
from tests.web.conftest import ClientFactory
from tests.web.test_api import openapi_doc, response_schema


async def test_the_api_and_the_page_show_what_was_found(
    tmp_path: Path, page_server: PageServer, make_client: ClientFactory
) -> None:
    db_url = f"sqlite:///{tmp_path / 'monitor.db'}"
    await add_discoveries(db_url, page_server)
    settings = parse_config(config_text(page_server), path="sources.toml", environ={})
    client = await make_client(db_url=db_url, settings=settings)
    doc = await openapi_doc(client)
    response = await client.get("/api/discoveries")
    assert response.status == 200
    body = await response.json()
    jsonschema.Draft202012Validator(response_schema(doc, "/api/discoveries", 200)).validate(body)
    [entry] = body["entries"]
    assert entry["id"] == "example-reports" and entry["company"] == "Example"
    states = {f["url"].rsplit("/", 1)[1]: f["state"] for f in entry["found"]}
    assert states == {"hk": "watching", "2026-h1": "waiting"}
    hk = next(f for f in entry["found"] if f["url"].endswith("/hk"))
    assert hk["severity"] == "high" and hk["source_id"].startswith("example-reports.reports-hk-")

    waiting = await (await client.get("/api/discoveries?state=waiting")).json()
    assert [f["state"] for f in waiting["entries"][0]["found"]] == ["waiting"]
    bad = await client.get("/api/discoveries?state=bogus")
    assert bad.status == 400 and (await bad.json())["title"] == "Bad Request"

    page = await client.get("/discover")
    assert page.status == 200
    html = await page.text()
    assert "Statement on Hong Kong &lt;government&gt; requests" in html  # escaped
    assert f'href="/sources/{hk["source_id"]}"' in html
    assert "Transparency report H1 2026" in html and "waiting" in html
    # The watched document is a source of the dashboard like any other.
    source = await client.get(f"/api/sources/{hk['source_id']}")
    assert source.status == 200
    assert [e["type"] for e in (await source.json())["timeline"]][:2] == [
        "SourceRegistered",
        "BaselineCaptured",
    ]

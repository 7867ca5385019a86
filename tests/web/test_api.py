"""The JSON API: every answer conforms to the served OpenAPI 3.1 document."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from openapi_spec_validator import validate

from tests.web.conftest import Client
from tests.web.site import Site

JsonObject = dict[str, Any]


async def openapi_doc(client: Client) -> JsonObject:
    response = await client.get("/api/openapi.json")
    assert response.status == 200
    doc: JsonObject = await response.json()
    return doc


def response_schema(doc: JsonObject, path: str, status: int) -> JsonObject:
    """The JSON Schema of one documented answer, able to resolve the document's $refs."""
    answer = doc["paths"][path]["get"]["responses"][str(status)]
    schema = answer["content"]["application/json"]["schema"]
    return {**schema, "components": doc["components"]}


async def get_valid(
    client: Client, doc: JsonObject, url: str, template: str, status: int = 200
) -> JsonObject:
    """GET ``url`` and check its answer against the schema documented for ``template``."""
    response = await client.get(url)
    body: JsonObject = await response.json()
    assert response.status == status, body
    assert response.content_type == "application/json"
    jsonschema.Draft202012Validator(response_schema(doc, template, status)).validate(body)
    return body


async def test_openapi_document_is_valid_openapi_3_1(client: Client) -> None:
    doc = await openapi_doc(client)
    assert doc["openapi"].startswith("3.1")
    validate(doc)  # raises on any violation of the OpenAPI 3.1 schema
    for schema in doc["components"]["schemas"].values():
        jsonschema.Draft202012Validator.check_schema(schema)


async def test_sources_list_every_source_with_status(client: Client, site: Site) -> None:
    doc = await openapi_doc(client)
    body = await get_valid(client, doc, "/api/sources", "/api/sources")
    statuses = {s["id"]: s["status"] for s in body["sources"]}
    assert statuses == {
        "hk-requests": "ok",
        "xss-page": "ok",
        "down-page": "failing",
        "suspect-page": "suspect",
        "zh-page": "ok",
    }
    assert body["head"] == site.events[-1].seq
    filtered = await get_valid(client, doc, "/api/sources?tag=asia", "/api/sources")
    assert sorted(s["id"] for s in filtered["sources"]) == ["hk-requests", "zh-page"]


async def test_source_detail_has_captures_and_timeline(client: Client, site: Site) -> None:
    doc = await openapi_doc(client)
    body = await get_valid(client, doc, "/api/sources/hk-requests", "/api/sources/{source_id}")
    assert [c["kind"] for c in body["captures"]] == ["baseline", "change", "change"]
    types = [e["type"] for e in body["timeline"]]
    assert types[:2] == ["SourceRegistered", "BaselineCaptured"]
    assert "NotificationSent" in types and "NotificationFailed" in types
    assert body["last_change_seq"] == site.change("hk-requests", "reverted").seq
    await get_valid(client, doc, "/api/sources/nope", "/api/sources/{source_id}", 404)


async def test_events_page_by_seq_until_the_end(client: Client, site: Site) -> None:
    doc = await openapi_doc(client)
    seen: list[int] = []
    url: str | None = "/api/events?limit=5"
    pages = 0
    while url is not None:
        body = await get_valid(client, doc, url, "/api/events")
        seen += [e["seq"] for e in body["events"]]
        url = body["next"]
        pages += 1
    assert seen == [e.seq for e in site.events]
    assert pages == len(site.events) // 5 + 1
    first = await get_valid(client, doc, "/api/events?limit=1", "/api/events")
    assert first["events"][0] == site.events[0].to_json()  # the stored record, hashes included


async def test_events_filter_by_stream_and_type_keeps_the_filter_in_next(
    client: Client, site: Site
) -> None:
    doc = await openapi_doc(client)
    url = "/api/events?stream=hk-requests&type=ChangeDetected&type=BaselineCaptured&limit=2"
    body = await get_valid(client, doc, url, "/api/events")
    assert [e["type"] for e in body["events"]] == ["BaselineCaptured", "ChangeDetected"]
    assert body["next"] is not None
    rest = await get_valid(client, doc, body["next"], "/api/events")
    assert [e["seq"] for e in rest["events"]] == [site.change("hk-requests", "reverted").seq]
    assert rest["next"] is None


@pytest.mark.parametrize("query", ["after=-1", "after=x", "limit=0", "limit=1001", "limit=ten"])
async def test_bad_paging_values_are_400(client: Client, query: str) -> None:
    doc = await openapi_doc(client)
    body = await get_valid(client, doc, f"/api/events?{query}", "/api/events", 400)
    assert body["status"] == 400 and body["error"]


async def test_changes_newest_first_paging_backwards(client: Client, site: Site) -> None:
    doc = await openapi_doc(client)
    expected = sorted((e.seq for e in site.events if e.type == "ChangeDetected"), reverse=True)
    seen: list[int] = []
    url: str | None = "/api/changes?limit=3"
    while url is not None:
        body = await get_valid(client, doc, url, "/api/changes")
        seen += [c["seq"] for c in body["changes"]]
        url = body["next"]
    assert seen == expected
    high = await get_valid(client, doc, "/api/changes?severity=high", "/api/changes")
    assert [c["rules"] for c in high["changes"]] == [["hk-data-requests"]]
    search = await get_valid(client, doc, "/api/changes?q=%E6%9A%82%E5%81%9C", "/api/changes")
    assert [c["source_id"] for c in search["changes"]] == ["zh-page"]


async def test_change_detail_has_diff_capture_and_notifications(client: Client, site: Site) -> None:
    doc = await openapi_doc(client)
    change = site.change("hk-requests")
    body = await get_valid(client, doc, f"/api/changes/{change.seq}", "/api/changes/{seq}")
    assert body["diff"] == change.data["diff"]
    assert body["capture"] == change.data["capture"]
    assert [n["outcome"] for n in body["notifications"]] == ["sent", "failed"]
    for missing in ("9999", "1", "abc"):
        await get_valid(client, doc, f"/api/changes/{missing}", "/api/changes/{seq}", 404)


async def test_text_at_a_time_follows_the_captures(client: Client, site: Site) -> None:
    doc = await openapi_doc(client)
    template = "/api/sources/{source_id}/text"
    baseline = site.of("hk-requests", "BaselineCaptured")[0]
    change = site.change("hk-requests")
    at_baseline = await get_valid(
        client, doc, f"/api/sources/hk-requests/text?at={baseline.recorded_at}", template
    )
    assert "paused" in at_baseline["text"] and at_baseline["capture"]["seq"] == baseline.seq
    at_change = await get_valid(
        client, doc, f"/api/sources/hk-requests/text?at={change.recorded_at}", template
    )
    assert "resumed" in at_change["text"]
    now = await get_valid(client, doc, "/api/sources/hk-requests/text", template)
    assert "paused" in now["text"] and now["at"] is None
    before = await get_valid(
        client, doc, "/api/sources/hk-requests/text?at=2000-01-01T00:00:00Z", template, 404
    )
    assert "no good capture" in before["error"]
    await get_valid(client, doc, "/api/sources/hk-requests/text?at=yesterday", template, 400)
    await get_valid(client, doc, "/api/sources/nope/text", template, 404)


async def test_unknown_api_path_is_a_json_404(client: Client) -> None:
    response = await client.get("/api/nothing")
    assert response.status == 404
    assert (await response.json())["status"] == 404

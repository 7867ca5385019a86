"""Search across all history: the CLI, the page and the API over one FTS5 projection."""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import jsonschema
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from monitor.desk.search import sentence_of, tokens_text
from monitor.desk.search_index import SearchIndex
from monitor.store import open_store
from monitor.web.app import create_app
from monitor.web.openapi import openapi_document
from tests.desk.conftest import EMPTY_CONFIG
from tests.web.cli import main
from tests.web.htmlcheck import inner_texts, parse
from tests.web.site import IMG, SCRIPT, Site
from tests.web.test_api import get_valid, openapi_doc

Client = TestClient[web.Request, web.Application]


def search(site: Site, capsys: pytest.CaptureFixture[str], *argv: str) -> list[dict[str, object]]:
    code = main(["search", *argv, "--json", "--db", site.db_url, "--config", EMPTY_CONFIG])
    assert code == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_hong_kong_is_found_in_changes_and_captures_newest_first(
    writable: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    change = writable.change("hk-requests")
    hits = search(writable, capsys, "hong KONG")
    seqs = [h["seq"] for h in hits]
    assert seqs == sorted(seqs, reverse=True)
    sides = {(h["seq"], h["side"]) for h in hits}
    assert {(change.seq, "added"), (change.seq, "removed"), (change.seq, "capture")} <= sides
    added = next(h for h in hits if h["side"] == "added" and h["seq"] == change.seq)
    assert (
        added["sentence"] == "We have resumed processing Hong Kong requests from law enforcement."
    )
    assert added["link"] == f"/changes/{change.seq}"
    assert added["company"] == "Meta"
    # the baseline's capture says it too, linked on the source's timeline
    baseline = writable.of("hk-requests", "BaselineCaptured")[0]
    first = next(h for h in hits if h["seq"] == baseline.seq)
    assert first["link"] == f"/sources/hk-requests#seq-{baseline.seq}"


def test_removed_means_the_words_left_the_page(
    writable: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    change = writable.change("hk-requests")
    # "Hong Kong" stayed in the reworded sentence: that change did not remove it
    assert all(h["seq"] != change.seq for h in search(writable, capsys, "Hong Kong", "--removed"))
    (paused,) = [
        h for h in search(writable, capsys, "paused", "--removed") if h["seq"] == change.seq
    ]
    assert paused["sentence"] == "We have paused processing Hong Kong requests."
    assert [h["seq"] for h in search(writable, capsys, "resumed", "--added")][-1] == change.seq


def test_cjk_text_is_found(writable: Site, capsys: pytest.CaptureFixture[str]) -> None:
    change = writable.change("zh-page")
    hits = search(writable, capsys, "香港")
    assert {h["source_id"] for h in hits} == {"zh-page"}
    assert any(h["seq"] == change.seq for h in hits)
    (added,) = search(writable, capsys, "暂停处理", "--added")
    assert added["seq"] == change.seq and added["sentence"] == "我们暂停处理香港的政府请求。"
    (removed,) = search(writable, capsys, "收到", "--removed")
    assert removed["seq"] == change.seq
    assert search(writable, capsys, "香港", "--company", "Meta") == []


def test_filters_company_source_and_since(
    writable: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    assert {h["source_id"] for h in search(writable, capsys, "policy", "--company", "at&t")} == {
        "xss-page"
    }
    assert search(writable, capsys, "Hong Kong", "--source", "zh-page") == []
    assert search(writable, capsys, "Hong Kong", "--since", "2999-01-01") == []
    assert main(["search", "!!!", "--db", writable.db_url, "--config", EMPTY_CONFIG]) == 2
    assert "no words" in capsys.readouterr().err


async def test_an_index_of_another_log_is_rebuilt(writable: Site, tmp_path: Path) -> None:
    async with open_store(writable.db_url, create=False) as store:
        index = SearchIndex.for_store(store)
        await index.catch_up(store)
        before = await index.search("Hong Kong")
        head = index.head_seq
        index.close()
    assert before and head > 0
    # Another database put in place of this one, its index left behind.
    other = tmp_path / "other.db"
    async with open_store(f"sqlite:///{other}") as store:
        pass
    db_file = Path(writable.db_url.removeprefix("sqlite:///"))
    shutil.copy(other, db_file)
    async with open_store(writable.db_url, create=False) as store:
        index = SearchIndex.for_store(store)
        await index.catch_up(store)
        assert await index.search("Hong Kong") == []
        index.close()


def test_tokens_and_sentences() -> None:
    assert tokens_text("Hong Kong 香港政府") == "hong kong  香港 港政 政府 "
    text = "First sentence. We stopped Hong Kong requests! Last one."
    assert sentence_of(text, "hong kong") == "We stopped Hong Kong requests!"
    assert sentence_of("甲。我们暂停处理香港的请求。乙", "香港") == "我们暂停处理香港的请求。"


@pytest.fixture
async def client(writable: Site) -> AsyncIterator[Client]:
    async with open_store(writable.db_url, create=False) as store:
        app = create_app(store, writable.settings)
        async with TestClient(TestServer(app, host="127.0.0.1")) as test_client:
            yield test_client


async def test_the_search_page_shows_sentences_as_text_with_links(
    client: Client, writable: Site
) -> None:
    response = await client.get("/search?q=alert&side=added")
    assert response.status == 200
    html = await response.text()
    assert "alert" in inner_texts(html, "mark")  # the words found are marked
    page = parse(html)
    assert SCRIPT in page.text and IMG in page.text
    assert page.elements("img") == []
    assert [s.get("src") for s in page.elements("script")] == ["/static/localtime.js"]
    seq = writable.change("xss-page").seq
    assert f"/changes/{seq}" in [a.get("href") for a in page.elements("a")]
    reflected = parse(
        await (await client.get("/search?q=%3Cscript%3Ealert(1)%3C/script%3E")).text()
    )
    assert [s.get("src") for s in reflected.elements("script")] == ["/static/localtime.js"]
    assert (await client.get("/search?q=x&side=sideways")).status == 400


async def test_the_search_api_conforms_to_the_openapi_document(
    client: Client, writable: Site
) -> None:
    doc = await openapi_doc(client)
    body = await get_valid(client, doc, "/api/search?q=Hong+Kong&limit=1", "/api/search")
    assert len(body["hits"]) == 1 and body["next"] is not None
    older = await get_valid(client, doc, str(body["next"]), "/api/search")
    assert older["hits"][0]["seq"] < body["hits"][0]["seq"]
    await get_valid(client, doc, "/api/search?q=", "/api/search", status=400)
    # The write is documented where a server takes it (an analyst [[user]] exists).
    post = openapi_document(writes=True)["paths"]["/api/changes/{seq}/reviews"]["post"]
    assert post["security"] == [{"bearer": []}]
    jsonschema.Draft202012Validator.check_schema(
        post["requestBody"]["content"]["application/json"]["schema"]
    )

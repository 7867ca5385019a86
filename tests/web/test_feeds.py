"""Atom feeds: valid Atom 1.0 that a standard feed parser reads, one per need."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET

import feedparser
import pytest

from monitor.config.settings import WebSettings
from tests.web.conftest import Client, ClientFactory
from tests.web.site import Site

ATOM = "{http://www.w3.org/2005/Atom}"
BASE = "http://monitor.example"  # [web] base_url of the test site


def change_seqs(site: Site, *streams: str) -> list[int]:
    """Change seqs of ``streams`` (all when none given), newest first."""
    return sorted(
        (
            e.seq
            for e in site.events
            if e.type == "ChangeDetected" and (not streams or e.stream in streams)
        ),
        reverse=True,
    )


async def fetch_feed(client: Client, path: str) -> tuple[str, feedparser.FeedParserDict]:
    response = await client.get(path)
    body = await response.text()
    assert response.status == 200, body
    assert response.content_type == "application/atom+xml"
    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    return body, parsed


@pytest.mark.parametrize(
    ("path", "streams"),
    [
        ("/feeds/changes.atom", ()),
        ("/feeds/sources/hk-requests.atom", ("hk-requests",)),
        ("/feeds/tags/asia.atom", ("hk-requests", "zh-page")),
        ("/feeds/tags/privacy.atom", ("xss-page",)),
    ],
)
async def test_feed_lists_the_changes_newest_first_with_permanent_ids(
    client: Client, site: Site, path: str, streams: tuple[str, ...]
) -> None:
    _, parsed = await fetch_feed(client, path)
    wanted = change_seqs(site, *streams)
    links = [e.link for e in parsed.entries]
    assert links == [f"{BASE}/changes/{seq}" for seq in wanted]
    by_seq = {e.seq: e for e in site.events}
    assert [e.id for e in parsed.entries] == [f"urn:uuid:{by_seq[s].event_id}" for s in wanted]
    assert [e.updated for e in parsed.entries] == [by_seq[s].recorded_at for s in wanted]
    assert parsed.feed.id.startswith("urn:uuid:")
    assert parsed.feed.updated == by_seq[wanted[0]].recorded_at
    assert any(link.rel == "self" and link.href == BASE + path for link in parsed.feed.links)
    # the same feed keeps its id; different feeds have different ids
    _, again = await fetch_feed(client, path)
    assert again.feed.id == parsed.feed.id
    _, other = await fetch_feed(client, "/feeds/rules/hk-data-requests.atom")
    assert other.feed.id != parsed.feed.id


async def test_feeds_are_well_formed_atom_with_every_required_element(client: Client) -> None:
    for path in ("/feeds/changes.atom", "/feeds/rules/hk-data-requests.atom"):
        body = await (await client.get(path)).text()
        assert body.startswith('<?xml version="1.0" encoding="utf-8"?>')
        root = ET.fromstring(body)
        assert root.tag == f"{ATOM}feed"
        for name in ("id", "title", "updated", "author"):
            assert root.find(f"{ATOM}{name}") is not None, name
        entries = root.findall(f"{ATOM}entry")
        assert entries
        for entry in entries:
            for name in ("id", "title", "updated", "summary", "content"):
                assert (entry.findtext(f"{ATOM}{name}") or "").strip(), name
            alternate = [
                link for link in entry.findall(f"{ATOM}link") if link.get("rel") == "alternate"
            ]
            assert len(alternate) == 1 and alternate[0].get("href", "").startswith(BASE)


async def test_rule_feed_holds_the_matching_change_with_its_sentence(
    client: Client, site: Site
) -> None:
    _, parsed = await fetch_feed(client, "/feeds/rules/hk-data-requests.atom")
    (entry,) = parsed.entries
    assert entry.link == f"{BASE}/changes/{site.change('hk-requests').seq}"
    assert entry.title.startswith("Meta · Government requests for user data:")
    assert {t.term for t in entry.tags} >= {"hk-data-requests", "law-enforcement", "high"}
    content = entry.content[0].value
    assert "resumed" in content and "law enforcement" in content


async def test_configured_rule_without_changes_has_an_empty_valid_feed(client: Client) -> None:
    _, parsed = await fetch_feed(client, "/feeds/rules/never-matches.atom")
    assert parsed.entries == []
    assert parsed.feed.updated  # the time of the last event in the log


async def test_chinese_text_survives_in_the_feed(client: Client) -> None:
    _, parsed = await fetch_feed(client, "/feeds/sources/zh-page.atom")
    (entry,) = parsed.entries
    assert entry.title.startswith("腾讯 · 政府请求:")
    assert "暂停处理" in entry.content[0].value


@pytest.mark.parametrize(
    "path",
    ["/feeds/sources/nope.atom", "/feeds/tags/nope.atom", "/feeds/rules/nope.atom"],
)
async def test_unknown_feed_ids_are_404(client: Client, path: str) -> None:
    response = await client.get(path)
    assert response.status == 404
    assert response.content_type == "text/plain"


async def test_without_base_url_links_point_at_the_server_asked(
    make_client: ClientFactory, site: Site
) -> None:
    settings = dataclasses.replace(site.settings, web=WebSettings())
    client = await make_client(settings=settings)
    _, parsed = await fetch_feed(client, "/feeds/changes.atom")
    origin = str(client.make_url("")).rstrip("/")
    assert parsed.entries[0].link.startswith(origin + "/changes/")

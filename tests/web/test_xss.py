"""A watched page is untrusted: markup in its text shows as text on every page and feed."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import feedparser
import pytest

from tests.web.conftest import Client
from tests.web.htmlcheck import Page, parse
from tests.web.site import IMG, SCRIPT, SCRIPT_TITLE, Site

ATOM = "{http://www.w3.org/2005/Atom}"


def assert_inert(page: Page) -> None:
    """Nothing in ``page`` runs: only our own external script, no images, no handlers."""
    scripts = page.elements("script")
    assert all(s.get("src") == "/static/localtime.js" for s in scripts), scripts
    assert page.elements("img") == []
    handlers = [(tag, name) for tag, attrs in page.tags for name in attrs if name.startswith("on")]
    assert handlers == []


def html_paths(site: Site) -> list[str]:
    seq = site.change("xss-page").seq
    return [
        "/",
        "/?q=alert",
        "/?rule=alerts",
        "/?company=AT%26T",
        "/sources/xss-page",
        f"/changes/{seq}",
        "/review",  # the analyst's desk (search: tests/desk/test_search.py, which marks words)
        "/sources/xss-page/compare",
    ]


async def test_every_page_shows_the_markup_as_text(client: Client, site: Site) -> None:
    for path in html_paths(site):
        response = await client.get(path)
        assert response.status == 200, path
        html = await response.text()
        page = parse(html)
        assert_inert(page)
        assert SCRIPT_TITLE in page.text, path  # in the change summary on every page
        assert "&lt;script&gt;alert(3)&lt;/script&gt;" in html, path


async def test_change_and_source_pages_show_script_and_img_as_text(
    client: Client, site: Site
) -> None:
    seq = site.change("xss-page").seq
    for path in (f"/changes/{seq}", "/sources/xss-page"):
        html = await (await client.get(path)).text()
        page = parse(html)
        assert_inert(page)
        text = page.text
        assert SCRIPT in text and IMG in text, path
        assert "&lt;img src=x onerror=" in html


@pytest.mark.parametrize(
    "path",
    [
        "/sources/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "/changes/%3Cimg%20src=x%20onerror=alert(2)%3E",
        "/%3Cscript%3Ealert(1)%3C/script%3E",
        "/?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "/?company=%3Cimg%20src%3Dx%20onerror%3Dalert(2)%3E",
    ],
)
async def test_markup_in_the_address_is_never_reflected_as_html(client: Client, path: str) -> None:
    response = await client.get(path)
    assert response.status in (200, 404)
    assert_inert(parse(await response.text()))


FEEDS = [
    "/feeds/changes.atom",
    "/feeds/sources/xss-page.atom",
    "/feeds/tags/privacy.atom",
    "/feeds/rules/alerts.atom",
]


@pytest.mark.parametrize("path", FEEDS)
async def test_feeds_carry_the_markup_as_escaped_text(client: Client, path: str) -> None:
    body = await (await client.get(path)).text()
    root = ET.fromstring(body)
    entries = [
        e for e in root.iter(f"{ATOM}entry") if "alert(3)" in (e.findtext(f"{ATOM}title") or "")
    ]
    assert len(entries) == 1
    entry = entries[0]
    title = entry.find(f"{ATOM}title")
    assert title is not None and title.get("type") == "text"
    assert SCRIPT_TITLE in (title.text or "")  # plain text: a reader shows it literally
    content = entry.find(f"{ATOM}content")
    assert content is not None and content.get("type") == "html"
    inner = parse(content.text or "")  # the HTML a feed reader renders
    assert inner.elements("script") == [] and inner.elements("img") == []
    assert SCRIPT in inner.text and IMG in inner.text
    # a standard feed parser agrees: the rendered content holds the markup only as text
    parsed = feedparser.parse(body)
    assert not parsed.bozo
    (item,) = [e for e in parsed.entries if "alert(3)" in e.title]
    assert SCRIPT_TITLE in item.title
    rendered = parse(item.content[0].value)
    assert rendered.elements("script") == [] and rendered.elements("img") == []
    assert SCRIPT in rendered.text and IMG in rendered.text

"""The HTML pages over a log made by the real pipeline: what an analyst sees."""

from __future__ import annotations

import re

import pytest

from tests.web.conftest import Client
from tests.web.htmlcheck import inner_texts, parse
from tests.web.site import Site

PAGE_CSP_PARTS = ("default-src 'self'", "script-src 'self'", "frame-ancestors 'none'")


async def get_html(client: Client, path: str, status: int = 200) -> str:
    response = await client.get(path)
    body = await response.text()
    assert response.status == status, body
    assert response.content_type == "text/html"
    assert response.charset == "utf-8"
    return body


async def test_dashboard_groups_sources_by_company_with_status_and_tags(client: Client) -> None:
    html = await get_html(client, "/")
    page = parse(html)
    headings = inner_texts(html, "h3")
    companies = [h.split(" only this company")[0].strip() for h in headings]
    assert companies == ["AT&T", "Example", "Meta", "腾讯"]
    rows = inner_texts(html, "tr")
    by_title = {r.split()[0]: r for r in rows if r.strip()}
    assert "failing" in by_title["Transparency"]
    assert "suspect" in by_title["Law"]
    assert "ok" in by_title["Government"]
    assert "law-enforcement" in by_title["Government"] and "asia" in by_title["Government"]
    links = [a.get("href") for a in page.elements("a")]
    assert "/sources/hk-requests" in links
    assert "/?tag=law-enforcement" in links
    # every time has a machine-readable UTC value and a UTC title to hover
    times = page.elements("time")
    assert times
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", t["datetime"] or "") for t in times)
    assert all((t["title"] or "").endswith("UTC") for t in times)


async def test_dashboard_is_mobile_ready_utf8_and_scripts_are_external_only(
    client: Client,
) -> None:
    response = await client.get("/")
    html = await response.text()
    page = parse(html)
    viewport = [m for m in page.elements("meta") if m.get("name") == "viewport"]
    assert viewport and "width=device-width" in (viewport[0]["content"] or "")
    assert [m.get("charset") for m in page.elements("meta") if "charset" in m] == ["utf-8"]
    assert page.elements("html")[0]["lang"] == "en"
    scripts = page.elements("script")
    assert [s.get("src") for s in scripts] == ["/static/localtime.js"]
    assert "<script>" not in html  # no inline script anywhere
    csp = response.headers["Content-Security-Policy"]
    assert all(part in csp for part in PAGE_CSP_PARTS)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    css = await client.get("/static/style.css")
    assert css.status == 200 and css.content_type == "text/css"
    assert "Noto Sans CJK SC" in await css.text()
    assert (await client.get("/static/nope.css")).status == 404


@pytest.mark.parametrize(
    ("query", "shown", "hidden"),
    [
        ("company=Meta", ["hk-requests"], ["xss-page", "zh-page", "down-page"]),
        ("company=meta", ["hk-requests"], ["xss-page"]),
        ("tag=asia", ["hk-requests", "zh-page"], ["xss-page", "down-page"]),
        ("status=failing", ["down-page"], ["hk-requests", "suspect-page"]),
        ("rule=hk-data-requests", ["hk-requests"], ["xss-page", "zh-page"]),
        ("severity=medium", ["hk-requests", "xss-page"], ["zh-page", "down-page"]),
        ("severity=high", ["hk-requests"], ["xss-page", "zh-page"]),
        ("q=hong+kong", ["hk-requests"], ["xss-page", "zh-page"]),
        ("q=%E6%9A%82%E5%81%9C", ["zh-page"], ["hk-requests"]),  # 暂停, a Chinese search
        ("q=resumed&company=Example", [], ["hk-requests", "down-page"]),
    ],
)
async def test_dashboard_filters_narrow_sources_and_changes(
    client: Client, query: str, shown: list[str], hidden: list[str]
) -> None:
    html = await get_html(client, f"/?{query}")
    listed = set(re.findall(r'<span class="id">([^<]+)</span>', html))
    assert listed == set(shown)
    assert not listed & set(hidden)


async def test_search_lists_only_the_matching_changes(client: Client, site: Site) -> None:
    html = await get_html(client, "/?q=resumed")
    change = site.change("hk-requests")
    revert = site.change("hk-requests", "reverted")
    assert f'href="/changes/{change.seq}"' in html
    # the revert's summary says 'resumed' → 'paused', so it matches too; the others do not
    assert f'href="/changes/{revert.seq}"' in html
    others = [
        e.seq for e in site.events if e.type == "ChangeDetected" and e.stream != "hk-requests"
    ]
    assert all(f'href="/changes/{seq}"' not in html for seq in others)


async def test_bad_filter_value_is_a_clear_400(client: Client) -> None:
    html = await get_html(client, "/?severity=urgent", status=400)
    assert "severity must be one of" in html


async def test_source_page_shows_timeline_with_notifications_and_current_text(
    client: Client, site: Site
) -> None:
    html = await get_html(client, "/sources/hk-requests")
    page = parse(html)
    timeline = inner_texts(html, "li")
    joined = "\n".join(timeline)
    for headline in ("Registered", "Baseline captured", "Change", "Reverted change"):
        assert headline in joined
    assert "Notification sent to team-mail" in joined
    assert "Notification to team-webhook failed" in joined and "HTTP 500 from the webhook" in joined
    # newest first
    seqs = [int(s) for s in re.findall(r'<li id="seq-(\d+)"', html)]
    assert seqs == sorted(seqs, reverse=True)
    # the current text is the reverted one, read from its text blob
    pre = inner_texts(html, "pre")
    assert len(pre) == 1 and "We have paused processing Hong Kong requests." in pre[0]
    assert "resumed" not in pre[0]
    feeds = [a for a in page.elements("link") if a.get("type") == "application/atom+xml"]
    assert {"/feeds/changes.atom", "/feeds/sources/hk-requests.atom"} == {f["href"] for f in feeds}


async def test_failing_and_suspect_sources_explain_themselves(client: Client) -> None:
    down = await get_html(client, "/sources/down-page")
    assert "Fetch failed: http (HTTP 404)" in parse(down).text
    suspect = await get_html(client, "/sources/suspect-page")
    text = parse(suspect).text
    assert "Suspect capture: error_page" in text and "access denied" in text.lower()


async def test_chinese_source_text_keeps_its_language(client: Client) -> None:
    html = await get_html(client, "/sources/zh-page")
    page = parse(html)
    assert "我们暂停处理香港的政府请求。" in page.text
    assert page.elements("pre")[0]["lang"] == "zh-CN"


async def test_change_page_shows_word_diff_rules_summary_and_hashes(
    client: Client, site: Site
) -> None:
    change = site.change("hk-requests")
    html = await get_html(client, f"/changes/{change.seq}")
    assert "paused" in inner_texts(html, "del")
    assert "resumed" in inner_texts(html, "ins")
    marks = inner_texts(html, "mark")
    assert "Hong Kong" in marks and "law enforcement" in marks
    text = parse(html).text
    assert change.data["diff"]["summary"] in text
    assert "hk-data-requests" in text
    assert "We have resumed processing Hong Kong requests from law enforcement." in re.sub(
        r"\s+", " ", text
    )
    capture = change.data["capture"]
    for value in (capture["raw_sha256"], capture["text_sha256"], change.hash, change.prev_hash):
        assert value in text
    assert f'href="/blobs/{capture["raw_sha256"]}"' in html
    assert f"monitor evidence {change.seq} evidence-{change.seq}" in text
    # both views: an inline list and a side-by-side grid with before and after cells
    assert html.count('class="cell old') == html.count('class="cell new') >= 1
    assert 'class="block op-changed matched"' in html
    assert "team-mail" in text and "team-webhook" in text


async def test_reverted_change_is_labelled(client: Client, site: Site) -> None:
    revert = site.change("hk-requests", "reverted")
    html = await get_html(client, f"/changes/{revert.seq}")
    assert "went back to a previous version" in html
    assert "resumed" in inner_texts(html, "del") and "paused" in inner_texts(html, "ins")


@pytest.mark.parametrize(
    "path",
    ["/sources/nope", "/changes/9999", "/changes/abc", "/changes/0", "/nothing/here"],
)
async def test_unknown_ids_get_an_html_404(client: Client, path: str) -> None:
    html = await get_html(client, path, status=404)
    assert "404" in parse(html).text


async def test_alert_links_to_other_events_land_on_their_timeline(
    client: Client, site: Site
) -> None:
    (failure,) = site.of("down-page", "FetchFailed")
    response = await client.get(f"/changes/{failure.seq}", allow_redirects=False)
    assert response.status == 302
    assert response.headers["Location"] == f"/sources/down-page#seq-{failure.seq}"
    html = await get_html(client, response.headers["Location"])
    assert f'id="seq-{failure.seq}"' in html
    notification = next(e for e in site.events if e.stream.startswith("$"))
    await get_html(client, f"/changes/{notification.seq}", status=404)


async def test_raw_capture_is_a_download_never_a_page(client: Client, site: Site) -> None:
    capture = site.change("xss-page").data["capture"]
    raw = await client.get(f"/blobs/{capture['raw_sha256']}")
    assert raw.status == 200
    assert raw.headers["Content-Type"] == "application/octet-stream"
    assert raw.headers["Content-Disposition"].startswith("attachment;")
    assert raw.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in raw.headers["Content-Security-Policy"]
    assert b"&lt;script&gt;alert(1)" in await raw.read()
    text = await client.get(f"/blobs/{capture['text_sha256']}")
    assert text.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert text.headers["Content-Disposition"].startswith("attachment;")
    assert "<script>alert(1)</script>" in await text.text()
    for missing in ("0" * 64, "not-a-hash", "A" * 64):
        assert (await client.get(f"/blobs/{missing}")).status == 404


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
async def test_nothing_can_be_written(client: Client, method: str) -> None:
    for path in ("/", "/api/events", "/sources/hk-requests", "/no/such/path"):
        response = await client.request(method, path)
        assert response.status == 405
        assert response.headers["Allow"] == "GET, HEAD"


async def test_head_answers_without_a_body(client: Client) -> None:
    response = await client.head("/")
    assert response.status == 200
    assert await response.read() == b""

"""Screenshots on the change page, and the one route that serves them as images."""

from __future__ import annotations

import re

import pytest

from monitor.check.browser import CHROMIUM_FLAGS, CHROMIUM_PATH, unavailable_reason
from monitor.store import open_store
from monitor.web.app import serve
from tests.web.conftest import Client, ClientFactory
from tests.web.htmlcheck import parse
from tests.web.screenshots import (
    AFTER_PNG,
    BEFORE_PNG,
    LATE_PNG,
    ShotLog,
    build_sync,
    png_size,
    sha256_of,
)
from tests.web.site import Site

TOKEN = "correct horse battery staple"
BROWSER_MISSING = unavailable_reason()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> ShotLog:
    """A log with screenshot captures (read only once built)."""
    return build_sync(tmp_path_factory.mktemp("shots") / "monitor.db")


@pytest.fixture
async def shot_client(make_client: ClientFactory, shots: ShotLog) -> Client:
    return await make_client(db_url=shots.db_url, settings=shots.settings)


def screenshot_url(sha256: str) -> str:
    return f"/screenshots/{sha256}.png"


async def page_of(client: Client, path: str) -> str:
    response = await client.get(path)
    body = await response.text()
    assert response.status == 200, body
    return body


async def test_change_page_shows_the_before_and_after_screenshots(
    shot_client: Client, shots: ShotLog
) -> None:
    change = shots.change("dash")
    html = await page_of(shot_client, f"/changes/{change.seq}")
    page = parse(html)
    before, after = sha256_of(BEFORE_PNG), sha256_of(AFTER_PNG)
    assert change.data["capture"]["screenshot_sha256"] == after
    images = page.elements("img")
    assert [i["src"] for i in images] == [screenshot_url(before), screenshot_url(after)]
    assert all(i.get("alt") for i in images)
    full_size = re.findall(r'<a href="([^"]+)">full-size screenshot</a>', html)
    assert full_size == [screenshot_url(before), screenshot_url(after)]
    text = " ".join(page.text.split())
    assert before in text and after in text
    assert "The previous capture has no screenshot" not in text


async def test_change_after_screenshots_were_turned_on_shows_only_the_after_one(
    shot_client: Client, shots: ShotLog
) -> None:
    change = shots.change("late")
    html = await page_of(shot_client, f"/changes/{change.seq}")
    page = parse(html)
    assert [i["src"] for i in page.elements("img")] == [screenshot_url(sha256_of(LATE_PNG))]
    assert "The previous capture has no screenshot." in page.text


async def test_source_page_links_the_current_screenshot(shot_client: Client) -> None:
    html = await page_of(shot_client, "/sources/dash")
    assert f'<a href="{screenshot_url(sha256_of(AFTER_PNG))}">full-size screenshot</a>' in html


async def test_pages_of_plain_captures_show_no_screenshot(client: Client, site: Site) -> None:
    html = await page_of(client, f"/changes/{site.change('hk-requests').seq}")
    assert parse(html).elements("img") == []
    assert "full-size screenshot" not in html


async def test_screenshot_route_serves_the_png_as_an_immutable_image(
    shot_client: Client,
) -> None:
    url = screenshot_url(sha256_of(AFTER_PNG))
    response = await shot_client.get(url)
    assert response.status == 200
    assert response.headers["Content-Type"] == "image/png"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "immutable" in response.headers["Cache-Control"]
    body = await response.read()
    assert body == AFTER_PNG and png_size(body) == (40, 120)
    etag = response.headers["ETag"]
    again = await shot_client.get(url, headers={"If-None-Match": etag})
    assert again.status == 304 and await again.read() == b""
    head = await shot_client.head(url)
    assert head.status == 200 and head.headers["Content-Type"] == "image/png"


async def test_screenshot_route_serves_nothing_but_screenshots(
    shot_client: Client, shots: ShotLog
) -> None:
    capture = shots.change("dash").data["capture"]
    odd = shots.of("odd", "BaselineCaptured")[0].data["capture"]["screenshot_sha256"]
    not_screenshots = [
        "0" * 64,  # no such blob
        "A" * 64,  # not a sha256 name
        "not-a-hash",
        capture["raw_sha256"],  # stored, but the page's HTML
        capture["text_sha256"],  # stored, but its text
        odd,  # named as a screenshot, but its bytes are not a PNG
    ]
    for sha256 in not_screenshots:
        response = await shot_client.get(screenshot_url(sha256))
        assert response.status == 404, sha256
        assert response.content_type == "text/plain"
    # The raw page is still there, as a download only.
    raw = await shot_client.get(f"/blobs/{capture['raw_sha256']}")
    assert raw.status == 200 and raw.headers["Content-Disposition"].startswith("attachment;")
    assert (await shot_client.get("/screenshots/")).status == 404


async def test_screenshots_need_the_token_like_every_page(
    make_client: ClientFactory, shots: ShotLog
) -> None:
    client = await make_client(db_url=shots.db_url, settings=shots.settings, token=TOKEN)
    url = screenshot_url(sha256_of(AFTER_PNG))
    refused = await client.get(url)
    assert refused.status == 401 and refused.content_type == "text/plain"
    allowed = await client.get(url, headers={"Authorization": f"Bearer {TOKEN}"})
    assert allowed.status == 200 and await allowed.read() == AFTER_PNG
    # Behind a token it may stay in this browser's cache only, never in a shared one.
    assert allowed.headers["Cache-Control"].startswith("private")
    assert "immutable" in allowed.headers["Cache-Control"]


@pytest.mark.skipif(BROWSER_MISSING is not None, reason=BROWSER_MISSING or "")
@pytest.mark.timeout(120)
async def test_chromium_draws_both_screenshots_on_the_change_page(shots: ShotLog) -> None:
    from playwright.async_api import async_playwright

    change = shots.change("dash")
    async with (
        open_store(shots.db_url, create=False) as store,
        serve(store, shots.settings, "127.0.0.1", 0) as base,
        async_playwright() as playwright,
    ):
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM_PATH, headless=True, args=list(CHROMIUM_FLAGS)
        )
        try:
            page = await browser.new_page()
            await page.goto(f"{base}/changes/{change.seq}", wait_until="load")
            images = page.locator("figure.screenshot img")
            for index in range(await images.count()):
                await images.nth(index).scroll_into_view_if_needed()  # they load lazily
            await page.wait_for_function(
                "Array.from(document.images).every(i => i.complete)", timeout=15_000
            )
            drawn = await page.eval_on_selector_all(
                "figure.screenshot img", "imgs => imgs.map(i => [i.naturalWidth, i.naturalHeight])"
            )
        finally:
            await browser.close()
    # Decoded by the browser under the page's CSP: each picture at its own size.
    assert drawn == [list(png_size(BEFORE_PNG)), list(png_size(AFTER_PNG))]

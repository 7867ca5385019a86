"""Checks of pages that need a browser, end to end: local pages, Chromium, a SQLite log."""

from __future__ import annotations

import asyncio
import os
import signal
import struct
import threading

from aiohttp import web

from monitor.audit.verify import verify_store
from monitor.check.browser import BrowserPool
from monitor.config.settings import SourceSettings
from monitor.store import EventStore
from tests.browser.conftest import LOOP, RunnerFactory, requires_browser
from tests.pageserver import PageServer

pytestmark = LOOP

SHELL = (
    "<!doctype html><html><head><title>Transparency dashboard</title></head><body>"
    "<main id='app'></main><noscript>Please enable JavaScript.</noscript>"
    "<img src='/logo.png' alt=''><script src='/app.js'></script></body></html>"
)


def app_script(hong_kong: int) -> str:
    """The dashboard's script: it writes the report's text into the empty shell."""
    return (
        "document.getElementById('app').innerHTML = "
        "'<h1>Government requests for user data</h1>' + "
        f"'<p>Hong Kong authorities made {hong_kong} requests in the period.</p>' + "
        "'<p>We disclosed data in response to 12 percent of them.</p>';"
    )


STATIC = (
    "<!doctype html><html><head><title>Law enforcement guidelines</title></head><body><main>"
    "<h1>Law enforcement guidelines</h1>"
    "<p>We disclose account records only in accordance with our terms of service and "
    "applicable law, and we require a valid legal process for any request.</p>"
    "<p>We notify people about requests for their information before disclosing it unless "
    "we are prohibited by law from doing so, or in exceptional circumstances.</p>"
    "</main></body></html>"
)


def serve_dashboard(server: PageServer, hong_kong: int) -> str:
    server.set("/app.js", app_script(hong_kong), content_type="application/javascript")
    server.set("/logo.png", b"\x89PNG\r\n\x1a\n", content_type="image/png")
    return server.set("/dashboard", SHELL)


def requested(server: PageServer, path: str) -> int:
    return sum(1 for seen, _ in server.requests if seen == path)


@requires_browser
async def test_a_script_built_page_is_empty_over_http_and_read_in_the_browser(
    page_server: PageServer, pool: BrowserPool, runner_for: RunnerFactory
) -> None:
    url = serve_dashboard(page_server, 41)
    plain = SourceSettings(id="plain", url=url)
    rendered = SourceSettings(id="rendered", url=url, render="browser")
    runner = await runner_for(plain, rendered, browser=pool)

    over_http = await runner.check(plain)
    assert over_http.outcome == "suspect"
    assert [e.type for e in over_http.events] == ["ContentSuspect"]
    assert over_http.events[0].data["reason"] == "empty"

    in_browser = await runner.check(rendered)
    assert in_browser.outcome == "baseline"
    capture = in_browser.events[0].data["capture"]
    assert capture["renderer"] == "browser"
    text = (await runner.store.get_blob(capture["text_sha256"])).decode()
    assert "Hong Kong authorities made 41 requests in the period." in text
    assert "Government requests for user data" in text
    # Images are not downloaded when no screenshot is wanted.
    assert requested(page_server, "/logo.png") == 0


@requires_browser
async def test_a_change_made_by_the_script_is_a_change_detected(
    page_server: PageServer, pool: BrowserPool, runner_for: RunnerFactory
) -> None:
    url = serve_dashboard(page_server, 41)
    source = SourceSettings(id="dashboard", url=url, render="browser", select="#app")
    runner = await runner_for(source, browser=pool)
    assert (await runner.check(source)).outcome == "baseline"
    assert (await runner.check(source)).outcome == "unchanged"

    serve_dashboard(page_server, 97)  # same page, a different script
    report = await runner.check(source)

    assert report.outcome == "changed"
    [change] = report.events
    assert change.type == "ChangeDetected"
    assert change.data["classification"] == "substantive"
    assert "97" in change.data["diff"]["patch"]
    assert change.data["capture"]["renderer"] == "browser"


@requires_browser
async def test_auto_uses_the_browser_for_the_script_page_and_plain_http_for_the_static_one(
    page_server: PageServer, pool: BrowserPool, runner_for: RunnerFactory
) -> None:
    dashboard = SourceSettings(id="dashboard", url=serve_dashboard(page_server, 41), render="auto")
    guide = SourceSettings(id="guide", url=page_server.set("/guide", STATIC), render="auto")
    runner = await runner_for(dashboard, guide, browser=pool)

    script_page = await runner.check(dashboard)
    static_page = await runner.check(guide)

    assert script_page.outcome == static_page.outcome == "baseline"
    script_capture = script_page.events[0].data["capture"]
    static_capture = static_page.events[0].data["capture"]
    assert script_capture["renderer"] == "browser"
    assert static_capture["renderer"] == "http"
    text = (await runner.store.get_blob(script_capture["text_sha256"])).decode()
    assert "Hong Kong authorities made 41 requests" in text
    assert requested(page_server, "/app.js") == 1  # only the browser runs scripts
    assert requested(page_server, "/guide") == 1  # the static page was never rendered


@requires_browser
async def test_auto_uses_the_browser_when_the_select_matches_nothing_in_the_plain_page(
    page_server: PageServer, pool: BrowserPool, runner_for: RunnerFactory
) -> None:
    long_shell = SHELL.replace("<main id='app'></main>", f"<main id='app'></main>{STATIC}")
    page_server.set("/app.js", app_script(5), content_type="application/javascript")
    url = page_server.set("/mixed", long_shell)
    source = SourceSettings(
        id="mixed", url=url, render="auto", select="#app h1 + p", remove=("noscript",)
    )
    runner = await runner_for(source, browser=pool)

    report = await runner.check(source)

    assert report.outcome == "baseline"
    capture = report.events[0].data["capture"]
    assert capture["renderer"] == "browser"
    text = (await runner.store.get_blob(capture["text_sha256"])).decode()
    assert text == "Hong Kong authorities made 5 requests in the period."


@requires_browser
async def test_each_capture_of_a_screenshot_source_has_a_full_page_png_that_verifies(
    page_server: PageServer, pool: BrowserPool, runner_for: RunnerFactory, store: EventStore
) -> None:
    def tall(word: str) -> str:
        return (
            "<!doctype html><html><body style='margin:0'>"
            f"<h1 style='margin:0;height:100px'>Policy {word}</h1>"
            "<div style='height:3000px'>We keep logs for ninety days.</div>"
            "<img src='/logo.png' alt=''></body></html>"
        )

    page_server.set("/logo.png", b"\x89PNG\r\n\x1a\n", content_type="image/png")
    url = page_server.set("/tall", tall("one"))
    source = SourceSettings(id="tall", url=url, screenshot=True)
    runner = await runner_for(source, browser=pool)

    baseline = await runner.check(source)
    page_server.set("/tall", tall("two"))
    change = await runner.check(source)

    assert [baseline.outcome, change.outcome] == ["baseline", "changed"]
    shots = []
    for report in (baseline, change):
        capture = report.events[0].data["capture"]
        assert capture["renderer"] == "browser"
        png = await store.get_blob(capture["screenshot_sha256"])
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        assert png[12:16] == b"IHDR"
        width, height = struct.unpack(">II", png[16:24])
        assert width == 1280
        assert height >= 3100  # the whole page, not the 800-pixel viewport
        shots.append(capture["screenshot_sha256"])
    assert shots[0] != shots[1]
    assert requested(page_server, "/logo.png") >= 1  # a screenshot shows the images
    verified = await verify_store(store)
    assert verified.ok, [str(f) for f in verified.findings]
    assert verified.blobs >= 6  # body, text and screenshot of each capture


@requires_browser
async def test_killing_the_browser_during_a_check_is_a_fetch_failed_and_the_next_check_works(
    page_server: PageServer, pool: BrowserPool, runner_for: RunnerFactory
) -> None:
    arrived = threading.Event()

    async def slow_page(request: web.Request) -> web.Response:
        arrived.set()
        await asyncio.sleep(3.0)
        return web.Response(text=STATIC, content_type="text/html")

    page_server.handlers["/slow"] = slow_page
    source = SourceSettings(id="slow", url=page_server.url("/slow"), render="browser")
    runner = await runner_for(source, browser=pool)
    launches = pool.launches

    check = asyncio.create_task(runner.check(source))
    assert await asyncio.to_thread(arrived.wait, 15)  # the browser is loading the page now
    pid = pool.browser_pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    failed = await check

    assert failed.outcome == "failed"
    [event] = failed.events
    assert event.type == "FetchFailed"
    assert event.data["error"] == "browser_crash"

    page_server.handlers.pop("/slow")
    page_server.set("/slow", STATIC)
    recovered = await runner.check(source)

    assert recovered.outcome == "baseline"
    assert [e.type for e in recovered.events] == ["SourceRecovered", "BaselineCaptured"]
    assert pool.browser_pid not in (None, pid)
    assert pool.launches == launches + 1


async def test_a_source_that_needs_a_browser_fails_with_install_advice_when_there_is_none(
    page_server: PageServer, runner_for: RunnerFactory
) -> None:
    source = SourceSettings(id="dashboard", url=serve_dashboard(page_server, 1), render="browser")
    runner = await runner_for(source, browser=None)

    report = await runner.check(source)

    assert report.outcome == "failed"
    [event] = report.events
    assert event.type == "FetchFailed"
    assert event.data["error"] == "browser_unavailable"
    assert "apt-get install chromium" in event.data["message"]
    assert "policy-monitor[browser]" in event.data["message"]
    assert requested(page_server, "/dashboard") == 0

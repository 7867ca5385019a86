"""HTTP politeness inside one check: retries, Retry-After, robots.txt, queueing vs timeouts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from aiohttp import web

from monitor.check.fetch import Fetcher
from monitor.config.settings import MonitorSettings, SourceSettings
from monitor.errors import FetchError
from tests.pageserver import PageServer

NOW = datetime(2026, 3, 12, tzinfo=UTC)


def source(url: str, **kwargs: object) -> SourceSettings:
    return SourceSettings(id="s", url=url, **kwargs)  # type: ignore[arg-type]


def flaky(server: PageServer, path: str, answers: list[tuple[int, dict[str, str]]]) -> list[float]:
    """Serve ``answers`` in turn (then 200s); returns the arrival times of the requests."""
    arrivals: list[float] = []

    async def handler(request: web.Request) -> web.Response:
        arrivals.append(time.monotonic())
        if len(arrivals) <= len(answers):
            status, headers = answers[len(arrivals) - 1]
            return web.Response(status=status, text="busy", headers=headers)
        return web.Response(text="<p>fine</p>", content_type="text/html")

    server.handlers[path] = handler
    return arrivals


def arrived(arrivals: list[float]) -> Callable[[], None]:
    def wait() -> None:
        deadline = time.monotonic() + 5
        while not arrivals and time.monotonic() < deadline:
            time.sleep(0.01)

    return wait


async def test_transient_server_errors_are_retried_with_backoff(page_server: PageServer) -> None:
    arrivals = flaky(page_server, "/flaky", [(503, {}), (502, {})])
    async with Fetcher(MonitorSettings(), retry_base=0.2) as fetcher:
        result = await fetcher.fetch(source(page_server.url("/flaky")), now=NOW)
    assert result.status == 200 and result.body == b"<p>fine</p>"
    assert len(arrivals) == 3
    first_wait, second_wait = arrivals[1] - arrivals[0], arrivals[2] - arrivals[1]
    # Lower bounds only: a sleep never ends early, but a loaded machine ends it late.
    assert first_wait >= 0.1 and second_wait >= 0.2  # the fixed half doubled


def test_backoff_doubles_with_equal_jitter() -> None:
    """The waits themselves, without a clock: half fixed, half random, doubling."""
    fetcher = Fetcher(MonitorSettings(), retry_base=0.2)
    for _ in range(200):
        assert 0.1 <= fetcher._backoff(1) <= 0.2
        assert 0.2 <= fetcher._backoff(2) <= 0.4


async def test_permanent_errors_are_not_retried_and_retries_are_capped(
    page_server: PageServer,
) -> None:
    gone = flaky(page_server, "/gone", [(404, {})] * 5)
    down = flaky(page_server, "/down", [(500, {})] * 5)
    async with Fetcher(MonitorSettings(), retry_base=0.01) as fetcher:
        with pytest.raises(FetchError) as not_found:
            await fetcher.fetch(source(page_server.url("/gone")), now=NOW)
        with pytest.raises(FetchError) as failing:
            await fetcher.fetch(source(page_server.url("/down")), now=NOW)
    assert (not_found.value.status, len(gone)) == (404, 1)
    assert (failing.value.status, len(down)) == (500, 3)


async def test_retry_after_pauses_the_whole_host(page_server: PageServer) -> None:
    limited = flaky(page_server, "/limited", [(429, {"Retry-After": "1"})])
    other = flaky(page_server, "/other", [])
    async with Fetcher(MonitorSettings(per_host=2)) as fetcher:
        first = asyncio.create_task(fetcher.fetch(source(page_server.url("/limited")), now=NOW))
        await asyncio.to_thread(arrived(limited))
        # Waited for, not slept for: the 429 has been read once the host is paused.
        while fetcher.host_pause(page_server.url("/other")) == 0:
            assert not first.done()
            await asyncio.sleep(0.01)
        assert 0 < fetcher.host_pause(page_server.url("/other")) <= 1.0
        second = await fetcher.fetch(source(page_server.url("/other")), now=NOW)
        result = await first
    assert result.status == 200 and second.status == 200
    assert limited[1] - limited[0] >= 0.95  # the retry waited as asked
    assert other[0] - limited[0] >= 0.95  # and so did the other page on that host


async def test_a_long_retry_after_fails_the_check_and_holds_later_requests(
    page_server: PageServer,
) -> None:
    arrivals = flaky(page_server, "/later", [(503, {"Retry-After": "120"})])
    async with Fetcher(MonitorSettings()) as fetcher:
        with pytest.raises(FetchError) as caught:
            await fetcher.fetch(source(page_server.url("/later")), now=NOW)
        assert caught.value.status == 503 and "120s" in str(caught.value)
        assert fetcher.host_pause(page_server.url("/anything")) > 100
    assert len(arrivals) == 1


async def test_waiting_for_a_host_slot_does_not_count_against_the_timeout(
    page_server: PageServer,
) -> None:
    for name in "abc":
        page_server.set(f"/{name}", f"<p>{name}</p>", delay=0.45)
    async with Fetcher(MonitorSettings(per_host=1, timeout=1)) as fetcher:
        results = await asyncio.gather(
            *(fetcher.fetch(source(page_server.url(f"/{n}")), now=NOW) for n in "abc")
        )
    assert [r.body for r in results] == [b"<p>a</p>", b"<p>b</p>", b"<p>c</p>"]
    assert page_server.peak_in_flight == 1


async def test_robots_txt_is_obeyed_when_asked_and_cached_per_host(
    page_server: PageServer,
) -> None:
    page_server.set(
        "/robots.txt",
        "User-agent: *\nDisallow: /private\n",
        content_type="text/plain",
    )
    public = page_server.set("/public", "<p>open</p>")
    private = page_server.set("/private/report", "<p>closed</p>")
    async with Fetcher(MonitorSettings(respect_robots=True)) as fetcher:
        assert (await fetcher.fetch(source(public), now=NOW)).status == 200
        with pytest.raises(FetchError) as caught:
            await fetcher.fetch(source(private), now=NOW)
        # A source can opt out of the global setting.
        opted_out = await fetcher.fetch(source(private, robots=False), now=NOW)
    assert caught.value.kind == "robots" and "disallows" in str(caught.value)
    assert opted_out.body == b"<p>closed</p>"
    paths = [path for path, _ in page_server.requests]
    assert paths.count("/robots.txt") == 1
    assert "/private/report" in paths and paths.count("/private/report") == 1


async def test_robots_txt_missing_allows_and_broken_refuses(page_server: PageServer) -> None:
    page = page_server.set("/page", "<p>x</p>")
    async with Fetcher(MonitorSettings()) as fetcher:
        # No robots.txt at all (404): everything is allowed.
        assert (await fetcher.fetch(source(page, robots=True), now=NOW)).status == 200
    page_server.set("/robots.txt", "oops", status=500)
    async with Fetcher(MonitorSettings()) as fetcher:
        with pytest.raises(FetchError) as caught:
            await fetcher.fetch(source(page, robots=True), now=NOW)
        # Robots not asked for: no robots.txt request, page fetched.
        assert (await fetcher.fetch(source(page), now=NOW)).status == 200
    assert caught.value.kind == "robots" and "HTTP 500" in str(caught.value)

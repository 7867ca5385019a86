"""The fetch edge against a real local server: redirects, caps, policy, conditional GET."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime

import pytest
from aiohttp import web

from monitor.check.fetch import Fetcher
from monitor.check.netpolicy import NetworkPolicy
from monitor.config.settings import MonitorSettings, SourceSettings
from monitor.errors import FetchError
from tests.pageserver import PageServer

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def source(url: str, **kwargs: object) -> SourceSettings:
    return SourceSettings(id="s", url=url, **kwargs)  # type: ignore[arg-type]


def redirect_to(target: str, status: int = 302) -> object:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, headers={"Location": target})

    return handler


async def test_redirects_are_followed_and_recorded(page_server: PageServer) -> None:
    final = page_server.set("/final", "<p>here</p>")
    page_server.handlers["/a"] = redirect_to("/b", 301)  # type: ignore[assignment]
    page_server.handlers["/b"] = redirect_to(final)  # type: ignore[assignment]
    async with Fetcher(MonitorSettings()) as fetcher:
        result = await fetcher.fetch(source(page_server.url("/a")), now=NOW)
    assert result.final_url == final
    assert [status for _, status in result.redirects] == [301, 302]
    assert result.body == b"<p>here</p>"


@pytest.mark.parametrize("target", ["file:///etc/passwd", "ftp://127.0.0.1/x"])
async def test_redirect_to_other_schemes_is_refused(page_server: PageServer, target: str) -> None:
    page_server.handlers["/r"] = redirect_to(target)  # type: ignore[assignment]
    async with Fetcher(MonitorSettings()) as fetcher:
        with pytest.raises(FetchError) as caught:
            await fetcher.fetch(source(page_server.url("/r")), now=NOW)
    assert caught.value.kind == "redirect_scheme"


async def test_redirect_to_a_forbidden_address_is_refused(page_server: PageServer) -> None:
    page_server.handlers["/r"] = redirect_to(f"http://127.0.0.2:{page_server.port}/x")  # type: ignore[assignment]
    policy = NetworkPolicy.from_strings(allow_private=False, deny=("127.0.0.2/32",))
    async with Fetcher(MonitorSettings(), policy) as fetcher:
        with pytest.raises(FetchError) as caught:
            await fetcher.fetch(source(page_server.url("/r")), now=NOW)
    assert caught.value.kind == "forbidden_address"
    assert "/x" not in [path for path, _ in page_server.requests]


async def test_redirect_loop_is_a_clear_failure(page_server: PageServer) -> None:
    page_server.handlers["/loop"] = redirect_to("/loop")  # type: ignore[assignment]
    async with Fetcher(MonitorSettings()) as fetcher:
        with pytest.raises(FetchError) as caught:
            await fetcher.fetch(source(page_server.url("/loop")), now=NOW)
    assert caught.value.kind == "redirect_loop"


async def test_body_cap_applies_after_decompression(page_server: PageServer) -> None:
    bomb = gzip.compress(b"a" * 5_000_000)
    url = page_server.set("/bomb", bomb, headers={"Content-Encoding": "gzip"})
    async with Fetcher(MonitorSettings(max_bytes=1_000_000)) as fetcher:
        with pytest.raises(FetchError) as caught:
            await fetcher.fetch(source(url), now=NOW)
    assert caught.value.kind == "too_large"


async def test_http_errors_carry_the_status(page_server: PageServer) -> None:
    url = page_server.set("/gone", "gone", status=410)
    async with Fetcher(MonitorSettings()) as fetcher:
        with pytest.raises(FetchError) as caught:
            await fetcher.fetch(source(url), now=NOW)
    assert (caught.value.kind, caught.value.status) == ("http", 410)


async def test_conditional_get_gets_a_304_without_a_body(page_server: PageServer) -> None:
    url = page_server.set("/e", "<p>x</p>", headers={"ETag": '"v1"'})
    async with Fetcher(MonitorSettings()) as fetcher:
        first = await fetcher.fetch(source(url), now=NOW)
        second = await fetcher.fetch(source(url), now=NOW, validators=first.validators())
    assert first.headers["etag"] == '"v1"'
    assert second.not_modified and second.body == b""
    assert page_server.requests[-1][1].get("If-None-Match") == '"v1"'


async def test_a_slow_body_times_out(page_server: PageServer) -> None:
    url = page_server.set("/slow", "<p>late</p>", delay=3)
    async with Fetcher(MonitorSettings(timeout=1)) as fetcher:
        with pytest.raises(FetchError) as caught:
            await fetcher.fetch(source(url), now=NOW)
    assert caught.value.kind == "timeout"

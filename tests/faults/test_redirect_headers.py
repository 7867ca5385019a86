"""A source's own ``headers`` (credentials, cookies) go to the source's origin only.

A hostile or compromised page could otherwise redirect the monitor to a server it
controls and read the ``Authorization`` header sent along. The browser path already
limits them to the origin; the HTTP path does the same at every redirect hop.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from aiohttp import web

from monitor.check.fetch import Fetcher
from monitor.config.settings import MonitorSettings, SourceSettings
from tests.pageserver import PageServer

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
SECRETS = (("Authorization", "Bearer s3cret-token"), ("Cookie", "session=s3cret-cookie"))


def redirect_to(target: str) -> object:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(status=302, headers={"Location": target})

    return handler


@pytest.fixture
def elsewhere() -> Iterator[PageServer]:
    """A second server: same host, another port, so another origin."""
    server = PageServer().start()
    yield server
    server.stop()


def sent(server: PageServer, path: str) -> dict[str, str]:
    return next(headers for seen, headers in server.requests if seen == path)


async def test_headers_are_not_sent_after_a_redirect_to_another_origin(
    page_server: PageServer, elsewhere: PageServer
) -> None:
    target = elsewhere.set("/landing", "<p>moved here</p>")
    page_server.handlers["/start"] = redirect_to(target)  # type: ignore[assignment]
    source = SourceSettings(id="s", url=page_server.url("/start"), headers=SECRETS)
    async with Fetcher(MonitorSettings()) as fetcher:
        result = await fetcher.fetch(source, now=NOW)
    assert result.body == b"<p>moved here</p>"
    assert sent(page_server, "/start")["Authorization"] == "Bearer s3cret-token"
    landing = sent(elsewhere, "/landing")
    assert "Authorization" not in landing
    assert "s3cret" not in repr(landing)


async def test_headers_follow_redirects_within_the_origin_and_back_to_it(
    page_server: PageServer, elsewhere: PageServer
) -> None:
    final = page_server.set("/final", "<p>home again</p>")
    page_server.handlers["/start"] = redirect_to("/middle")  # type: ignore[assignment]
    page_server.handlers["/middle"] = redirect_to(elsewhere.url("/away"))  # type: ignore[assignment]
    elsewhere.handlers["/away"] = redirect_to(final)  # type: ignore[assignment]
    source = SourceSettings(id="s", url=page_server.url("/start"), headers=SECRETS)
    async with Fetcher(MonitorSettings()) as fetcher:
        result = await fetcher.fetch(source, now=NOW)
    assert result.body == b"<p>home again</p>"
    for path in ("/start", "/middle", "/final"):
        assert sent(page_server, path)["Cookie"] == "session=s3cret-cookie", path
    assert "Cookie" not in sent(elsewhere, "/away")
    assert "Authorization" not in sent(elsewhere, "/away")

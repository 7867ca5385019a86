"""Access: an optional bearer token, required before the log is served beyond loopback."""

from __future__ import annotations

import dataclasses
import socket
from pathlib import Path

import pytest

from monitor.config.settings import WebSettings
from monitor.errors import MonitorError
from monitor.store import open_store
from monitor.web.app import check_exposure, parse_listen, serve
from tests.web.cli import main
from tests.web.conftest import ClientFactory
from tests.web.site import Site

TOKEN = "correct horse battery staple"


def routes(site: Site) -> list[str]:
    change = site.change("hk-requests")
    return [
        "/",
        "/sources/hk-requests",
        f"/changes/{change.seq}",
        f"/blobs/{change.data['capture']['raw_sha256']}",
        "/feeds/changes.atom",
        "/api/sources",
        "/api/openapi.json",
        "/metrics",
        "/static/style.css",
    ]


async def test_every_route_but_healthz_needs_the_token(
    make_client: ClientFactory, site: Site
) -> None:
    client = await make_client(token=TOKEN)
    for path in [*routes(site), "/no/such/page"]:
        response = await client.get(path)
        assert response.status == 401, path
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert TOKEN not in await response.text()
    assert (await client.get("/api/sources")).content_type == "application/json"
    assert (await client.get("/healthz")).status == 200


async def test_bearer_token_opens_every_route(make_client: ClientFactory, site: Site) -> None:
    client = await make_client(token=TOKEN)
    for path in routes(site):
        response = await client.get(path, headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status == 200, path
        assert TOKEN not in await response.text(), path  # never echoed into a page
    wrong = await client.get("/", headers={"Authorization": "Bearer nope"})
    assert wrong.status == 401
    basic = await client.get("/", headers={"Authorization": f"Basic {TOKEN}"})
    assert basic.status == 401


async def test_query_token_serves_feed_readers_and_lets_a_browser_follow_links(
    make_client: ClientFactory,
) -> None:
    client = await make_client(token=TOKEN)
    feed = await client.get("/feeds/changes.atom", params={"token": TOKEN})
    assert feed.status == 200
    cookie = feed.cookies["monitor_token"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict"
    # the plain links of the pages now work in this browser session
    assert (await client.get("/sources/hk-requests")).status == 200
    client.session.cookie_jar.clear()
    assert (await client.get("/sources/hk-requests")).status == 401
    assert (await client.get("/", params={"token": "wrong"})).status == 401


@pytest.mark.parametrize(
    ("host", "token", "allowed"),
    [
        ("127.0.0.1", None, True),
        ("127.0.0.2", None, True),
        ("::1", None, True),
        ("localhost", None, True),
        ("0.0.0.0", None, False),
        ("::", None, False),
        ("192.168.1.10", None, False),
        ("monitor.example.org", None, False),
        ("0.0.0.0", TOKEN, True),
    ],
)
def test_non_loopback_address_needs_a_token(host: str, token: str | None, allowed: bool) -> None:
    if allowed:
        check_exposure(host, token)
    else:
        with pytest.raises(MonitorError, match=r"without a token: set `token` in the \[web\]"):
            check_exposure(host, token)


async def test_serve_refuses_before_binding_without_a_token(site: Site) -> None:
    settings = dataclasses.replace(site.settings, web=WebSettings())
    async with open_store(site.db_url, create=False) as store:
        with pytest.raises(MonitorError, match="without a token"):
            async with serve(store, settings, "0.0.0.0", 0):
                pytest.fail("served without a token")


async def test_serve_reports_a_port_in_use(site: Site) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        async with open_store(site.db_url, create=False) as store:
            with pytest.raises(MonitorError, match=f"cannot listen on 127.0.0.1:{port}"):
                async with serve(store, site.settings, "127.0.0.1", port):
                    pytest.fail("bound a port in use")


def test_serve_command_refuses_a_public_address_without_token(
    workdir: Path, site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--web", "0.0.0.0:0", "--db", site.db_url]) == 2
    assert "without a token" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:8080", ("127.0.0.1", 8080)),
        ("[::1]:9000", ("::1", 9000)),
        (":8080", ("127.0.0.1", 8080)),
        ("localhost:0", ("localhost", 0)),
        ("0.0.0.0:443", ("0.0.0.0", 443)),
    ],
)
def test_listen_address_is_read(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen(text) == expected


@pytest.mark.parametrize("text", ["8080", "host:", "host:99999", "[::1]8080", "host:http"])
def test_bad_listen_address_is_refused_with_the_expected_form(text: str) -> None:
    with pytest.raises(MonitorError, match="HOST:PORT"):
        parse_listen(text)

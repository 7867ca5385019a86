"""Fixtures: one real monitor database per session, and clients of the web app over it."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from monitor.config.settings import Settings
from monitor.store import open_store
from monitor.web.app import create_app
from monitor.web.context import Health
from tests.web.site import Site, build_sync

Client = TestClient[web.Request, web.Application]
ClientFactory = Callable[..., Awaitable[Client]]


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    """The database every read-only web test looks at (never written after it is built)."""
    return build_sync(tmp_path_factory.mktemp("site") / "monitor.db")


@pytest.fixture
async def make_client(site: Site) -> AsyncIterator[ClientFactory]:
    """Start the app over a database (the shared site by default) with optional overrides."""
    async with AsyncExitStack() as stack:

        async def make(
            *,
            db_url: str | None = None,
            settings: Settings | None = None,
            token: str | None = None,
            health: Health | None = None,
        ) -> Client:
            chosen = settings or site.settings
            if token is not None:
                chosen = dataclasses.replace(
                    chosen, web=dataclasses.replace(chosen.web, token=token)
                )
            store = await stack.enter_async_context(open_store(db_url or site.db_url, create=False))
            app = create_app(store, chosen, health=health)
            client: Client = TestClient(TestServer(app, host="127.0.0.1"))
            await stack.enter_async_context(client)
            return client

        yield make


@pytest.fixture
async def client(make_client: ClientFactory) -> Client:
    return await make_client()

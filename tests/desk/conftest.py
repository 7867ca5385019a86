"""Fixtures: a private, writable copy of the web suite's site database."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from monitor.config.settings import Settings, UserSettings
from monitor.store import open_store
from monitor.web.app import create_app
from tests.web.site import Site, build_sync

EMPTY_CONFIG = str(Path(__file__).with_name("empty.toml"))  # --config for CLI tests
ANALYST_TOKEN = "analyst token 7f3a"
VIEWER_TOKEN = "viewer token 91c2"
USERS = (
    UserSettings(name="Ana Analyst", token=ANALYST_TOKEN, role="analyst"),
    UserSettings(name="Vic Viewer", token=VIEWER_TOKEN, role="viewer"),
)


@pytest.fixture(scope="session")
def desk_site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    return build_sync(tmp_path_factory.mktemp("desk-site") / "monitor.db")


@pytest.fixture
def writable(desk_site: Site, tmp_path: Path) -> Site:
    """A copy of the site database this test may write to."""
    source = Path(desk_site.db_url.removeprefix("sqlite:///"))
    copy = tmp_path / "monitor.db"
    shutil.copy(source, copy)
    return dataclasses.replace(desk_site, db_url=f"sqlite:///{copy}")


def with_users(settings: Settings, users: tuple[UserSettings, ...] = USERS) -> Settings:
    return dataclasses.replace(settings, users=users)


@pytest.fixture
async def read_client(desk_site: Site) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    """A client of the web view over the (read-only) desk site."""
    async with open_store(desk_site.db_url, create=False) as store:
        app = create_app(store, desk_site.settings)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            yield client

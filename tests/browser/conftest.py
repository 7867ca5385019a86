"""Fixtures for the browser tests: a real Chromium pool, a real SQLite log, real local pages.

Every test that needs Chromium is marked ``requires_browser``: without Chromium or
Playwright it is skipped with a reason that says how to install them. One pool
(one Chromium) serves all the tests of a module, which run in that module's event
loop (``pytestmark = LOOP`` in each module), so Chromium starts once per module.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import pytest_asyncio

from monitor.check.browser import BrowserPool, unavailable_reason
from monitor.check.fetch import Fetcher
from monitor.check.netpolicy import NetworkPolicy
from monitor.check.pipeline import CheckRunner
from monitor.config.settings import MonitorSettings, Settings, SourceSettings
from monitor.store import EventStore, open_store

BROWSER_MISSING = unavailable_reason()
requires_browser = pytest.mark.skipif(
    BROWSER_MISSING is not None, reason=BROWSER_MISSING or "a browser is available"
)

MONITOR = MonitorSettings(timeout=15)
LOOP = pytest.mark.asyncio(loop_scope="module")

RunnerFactory = Callable[..., Awaitable[CheckRunner]]


@pytest_asyncio.fixture(loop_scope="module")
async def store(tmp_path: Path) -> AsyncIterator[EventStore]:
    async with open_store(f"sqlite:///{tmp_path / 'monitor.db'}") as opened:
        yield opened


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def pool() -> AsyncIterator[BrowserPool]:
    async with BrowserPool(MONITOR, NetworkPolicy()) as opened:
        yield opened


@pytest_asyncio.fixture(loop_scope="module")
async def fetcher() -> AsyncIterator[Fetcher]:
    async with Fetcher(MONITOR, NetworkPolicy(), retry_base=0.01) as opened:
        yield opened


@pytest.fixture
def runner_for(store: EventStore, fetcher: Fetcher) -> RunnerFactory:
    """Build a runner for some sources (recorded in the log first), with or without a pool."""

    async def build(*sources: SourceSettings, browser: BrowserPool | None) -> CheckRunner:
        settings = Settings(path="sources.toml", monitor=MONITOR, sources=tuple(sources))
        runner = CheckRunner(store=store, fetcher=fetcher, settings=settings, browser=browser)
        await runner.reconcile()
        return runner

    return build

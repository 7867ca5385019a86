"""Fixtures for the store tests: one contract suite, run against every backend.

Adding a backend to the contract suite is one entry in ``STORE_URLS``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.store import EventStore, open_store
from tests.pg.support import fresh_schema_url

STORE_URLS: dict[str, Callable[[Path], str]] = {
    "memory": lambda tmp: "memory://",
    "sqlite": lambda tmp: f"sqlite:///{tmp / 'events.db'}",
    "postgres": lambda tmp: fresh_schema_url(),  # skips when no server is reachable
}


class ManualClock:
    """A clock the test moves by hand (forwards or backwards)."""

    def __init__(self, start: datetime = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(params=sorted(STORE_URLS))
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock
) -> AsyncIterator[EventStore]:
    url = STORE_URLS[request.param](tmp_path)
    async with open_store(url, clock=clock) as opened:
        yield opened

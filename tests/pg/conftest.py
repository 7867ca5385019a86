"""Fixtures for the PostgreSQL tests: a fresh schema per test on $MONITOR_TEST_PG."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from monitor.store.postgres import PostgresEventStore
from tests.pg.support import drop_schema, fresh_schema_url, schema_of


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A store URL (``…?schema=monitor_test_…``) no other test uses; dropped afterwards."""
    url = fresh_schema_url()
    yield url
    await drop_schema(schema_of(url))


@pytest.fixture
async def pg_store(pg_url: str) -> AsyncIterator[PostgresEventStore]:
    store = await PostgresEventStore.open(pg_url)
    try:
        yield store
    finally:
        await store.close()

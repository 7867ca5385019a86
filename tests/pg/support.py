"""Reaching the test PostgreSQL: a fresh schema per test, dropped afterwards.

``MONITOR_TEST_PG`` names the server (default ``postgresql://127.0.0.1:5432/test``).
Each test gets its own schema through the store URL's ``?schema=`` parameter, so
runs (and parallel runs) never see each other's rows; advisory-lock keys are derived
from the schema name too. Schemas are dropped when the test ends, or at the latest
when the test process exits.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import socket
import time
import uuid
from collections.abc import Callable
from functools import cache
from urllib.parse import urlsplit

import asyncpg
import pytest

DEFAULT_PG = "postgresql://127.0.0.1:5432/test"
SKIP_REASON = (
    "PostgreSQL not reachable at $MONITOR_TEST_PG (default postgresql://127.0.0.1:5432/test); "
    "start it or set MONITOR_TEST_PG"
)

_created: set[str] = set()


def server_url() -> str:
    return os.environ.get("MONITOR_TEST_PG") or DEFAULT_PG


@cache
def reachable() -> bool:
    parts = urlsplit(server_url())
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), 2):
            return True
    except OSError:
        return False


def require_pg() -> str:
    """The server URL, or skip the calling test when nothing listens there."""
    if not reachable():
        pytest.skip(SKIP_REASON)
    return server_url()


def schema_url(schema: str) -> str:
    base = require_pg()
    return f"{base}{'&' if '?' in base else '?'}schema={schema}"


def fresh_schema_url() -> str:
    """A store URL naming a schema no one has used; the store creates it on open."""
    schema = f"monitor_test_{os.getpid()}_{uuid.uuid4().hex[:10]}"
    _created.add(schema)
    return schema_url(schema)


def schema_of(url: str) -> str:
    return url.rsplit("schema=", 1)[1]


async def drop_schema(schema: str) -> None:
    conn = await asyncpg.connect(server_url())
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()
    _created.discard(schema)


def _drop_leftovers() -> None:
    if not _created:
        return

    async def drop_all() -> None:
        for schema in sorted(_created):
            await drop_schema(schema)

    with contextlib.suppress(OSError, asyncpg.PostgresError):
        asyncio.run(drop_all())  # if the server went away, there is nothing to clean up


atexit.register(_drop_leftovers)


async def eventually(condition: Callable[[], bool], seconds: float, step: float = 0.02) -> float:
    """Wait until ``condition()`` holds (or ``seconds`` pass); returns the seconds waited."""
    started = time.monotonic()
    for _ in range(max(1, int(seconds / step))):
        if condition():
            break
        await asyncio.sleep(step)
    return time.monotonic() - started


def lock_id(key: int) -> tuple[int, int]:
    """How pg_locks shows a bigint advisory key: (classid, objid), the high and low halves."""
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    return unsigned >> 32, unsigned & 0xFFFFFFFF

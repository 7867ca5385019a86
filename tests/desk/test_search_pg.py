"""Search on a PostgreSQL log: full-text search in the log's database, same hits as FTS5."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from monitor.desk.search_index import SearchIndex, index_for, opened_index
from monitor.desk.search_pg import PostgresSearchIndex
from monitor.store import open_store
from tests.pg.support import drop_schema, fresh_schema_url, schema_of
from tests.web.cli import main
from tests.web.site import Site

QUERIES = [
    ("Hong Kong", {}),
    ("Hong Kong", {"side": "removed"}),
    ("paused", {"side": "removed"}),
    ("香港", {}),
    ("暂停处理", {"side": "added"}),
    ("policy", {"company": "at&t"}),
    ("alert", {"side": "added", "limit": 1}),
]


@pytest.fixture
async def pg_copy(desk_site: Site) -> AsyncIterator[str]:
    url = fresh_schema_url()
    try:
        code = await asyncio.to_thread(main, ["migrate", "--from", desk_site.db_url, "--to", url])
        assert code == 0
        yield url
    finally:
        await drop_schema(schema_of(url))


async def test_postgres_search_finds_what_sqlite_fts5_finds(desk_site: Site, pg_copy: str) -> None:
    expected = {}
    async with open_store(desk_site.db_url, create=False) as store:
        index = SearchIndex(":memory:")
        await index.catch_up(store)
        for query, options in QUERIES:
            expected[(query, str(options))] = await index.search(query, **options)  # type: ignore[arg-type]
        index.close()
    async with open_store(pg_copy, create=False) as store:
        assert isinstance(index_for(store), PostgresSearchIndex)
        async with opened_index(store) as pg_index:
            for query, options in QUERIES:
                got = await pg_index.search(query, **options)  # type: ignore[arg-type]
                assert got == expected[(query, str(options))], query
                assert got or query == "Hong Kong"
        # a second process finds the index built and reads only what is new
        async with opened_index(store) as again:
            assert await again.catch_up(store) == 0
            assert (await again.search("香港"))[0].source_id == "zh-page"

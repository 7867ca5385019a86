"""The search projection in PostgreSQL: full-text search (``tsvector``, GIN) beside the log.

Shell; the twin of ``search_index.SearchIndex`` for a PostgreSQL log, with the
same documents (``search_index.documents_of``), the same tokens (the ``simple``
configuration over ``search.tokens_text``: casefolded words, CJK bigrams), the
same head check (seq and hash of the last event indexed; rebuilt when they are
not in the log) and the same hits (``search_index.collect_hits``). The tables
live in the store's schema; several processes may catch up at once: an
advisory lock lets one index a batch at a time, the others then find it done.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from monitor.desk.search import SearchDoc, SearchHit, SearchQuery, tokens_text
from monitor.desk.search_index import (
    BATCH,
    Index,
    collect_hits,
    documents_of,
    head_rows,
    of_another_log,
)
from monitor.store import EventStore

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS search_meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE IF NOT EXISTS search_companies (source_id text PRIMARY KEY, company text NOT NULL);
CREATE TABLE IF NOT EXISTS search_seen (digest bytea PRIMARY KEY);
CREATE TABLE IF NOT EXISTS search_docs (
    id bigserial PRIMARY KEY, seq bigint NOT NULL, side text NOT NULL,
    source_id text NOT NULL, company text NOT NULL, company_key text NOT NULL,
    at text NOT NULL, text text NOT NULL, other text NOT NULL, kind text NOT NULL,
    body tsvector NOT NULL
);
CREATE INDEX IF NOT EXISTS search_docs_body ON search_docs USING gin (body);
"""
_LOCK = "SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':monitor-search'))"
_CHUNK = 500  # rows read per round while hits are filtered


async def _new_rows(
    conn: Any, docs: list[tuple[SearchDoc, str, bytes | None]]
) -> list[tuple[Any, ...]]:
    """Rows to insert: change documents, and capture lines not indexed with an earlier capture
    (one statement marks them all seen and answers which were new)."""
    digests = list(dict.fromkeys(d for _, _, d in docs if d is not None))
    fresh: set[bytes] = set()
    if digests:
        inserted = await conn.fetch(
            "INSERT INTO search_seen (digest) SELECT unnest($1::bytea[])"
            " ON CONFLICT DO NOTHING RETURNING digest",
            digests,
        )
        fresh = {bytes(row[0]) for row in inserted}
    rows = []
    for doc, kind, digest in docs:
        if digest is not None:
            if digest not in fresh:
                continue
            fresh.discard(digest)  # the first document with this line takes it
        rows.append(
            (
                doc.seq, doc.side, doc.source_id, doc.company, doc.company.casefold(),
                doc.at, doc.text, doc.other, kind, tokens_text(doc.text),
            )
        )  # fmt: skip
    return rows


class PostgresSearchIndex(Index):
    """Full-text search over a PostgreSQL log; see the module docstring."""

    path = "postgresql"

    def __init__(self, connection: Callable[[], AbstractAsyncContextManager[Any]]) -> None:
        self._connection = connection
        self._ready = False
        self.head_seq = 0

    def close(self) -> None:
        """Nothing to close: connections come from the store's pool."""

    async def catch_up(self, store: EventStore) -> int:
        count = 0
        async with self._connection() as conn:
            if not self._ready:
                async with conn.transaction():
                    await conn.execute(_LOCK)
                    await conn.execute(_SCHEMA)
                self._ready = True
            while True:
                async with conn.transaction():
                    await conn.execute(_LOCK)
                    meta = dict(await conn.fetch("SELECT key, value FROM search_meta"))
                    head = int(meta.get("head_seq") or 0)
                    if head and await of_another_log(
                        store, head, meta.get("head_hash"), meta.get("version")
                    ):
                        log.info("search index is not of this log: rebuilding it")
                        await conn.execute(
                            "TRUNCATE search_meta, search_companies, search_seen, search_docs"
                        )
                        head = 0
                    events = await store.read(after=head, limit=BATCH)
                    self.head_seq = head
                    if not events:
                        return count
                    companies = dict(
                        await conn.fetch("SELECT source_id, company FROM search_companies")
                    )
                    docs = await documents_of(store, events, companies)
                    await conn.executemany(
                        "INSERT INTO search_docs (seq, side, source_id, company, company_key,"
                        " at, text, other, kind, body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8,"
                        " $9, to_tsvector('simple', $10))",
                        await _new_rows(conn, docs),
                    )
                    await conn.executemany(
                        "INSERT INTO search_companies (source_id, company) VALUES ($1, $2)"
                        " ON CONFLICT (source_id) DO UPDATE SET company = EXCLUDED.company",
                        list(companies.items()),
                    )
                    last = events[-1]
                    await conn.executemany(
                        "INSERT INTO search_meta (key, value) VALUES ($1, $2)"
                        " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                        head_rows(last),
                    )
                    self.head_seq = last.seq
                    count += len(events)

    async def _hits(self, query: SearchQuery) -> list[SearchHit]:
        clauses = ["body @@ phraseto_tsquery('simple', $1)"]
        params: list[Any] = [tokens_text(query.text)]
        for condition, value in query.conditions():
            params.append(value)
            clauses.append(f"{condition} ${len(params)}")
        sql = (
            "SELECT id, seq, side, source_id, company, at, text, other, kind FROM search_docs"
            f" WHERE {' AND '.join(clauses)} AND id < ${len(params) + 1}"
            f" ORDER BY id DESC LIMIT {_CHUNK}"
        )
        hits: list[SearchHit] = []
        below = 2**62
        async with self._connection() as conn:
            while len(hits) < query.limit:
                rows = await conn.fetch(sql, *params, below)
                if not rows:
                    break
                below = rows[-1]["id"]
                found = collect_hits(
                    [tuple(r)[1:] for r in rows], query.text, query.side, query.limit
                )
                known = {(h.seq, h.side) for h in hits}
                hits += [h for h in found if (h.seq, h.side) not in known]
                if len(rows) < _CHUNK:
                    break
        return hits[: query.limit]

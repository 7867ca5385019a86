"""The full-text search projection: SQLite FTS5, rebuilt from the log and kept beside it.

Shell. ``SearchIndex.catch_up`` folds the events after the index's head into an
FTS5 table (documents from ``monitor.desk.search``), in log order, so the FTS
rowid order is the log order and "newest first" is a backwards walk of the
index, not a sort. The head is the seq *and hash* of the last event indexed: an
index whose head is not in the log (a restored or replaced database) is dropped
and rebuilt, so it never answers from another log.

Where: beside a SQLite log (``monitor.db`` → ``monitor.db.search``), so the web
view and ``monitor search`` share it and only read what is new; for other
stores, in memory for the life of the process. It holds nothing the log does
not: delete the file at any time.

All SQLite calls run in one worker thread at a time (an asyncio lock), off the
event loop; blobs are read from the store on the loop before each batch is
written.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any
from urllib.parse import quote

from monitor.desk.search import (
    SearchDoc,
    SearchHit,
    SearchQuery,
    capture_lines,
    change_docs,
    is_real,
    match_expression,
    sentence_of,
    tokens_text,
)
from monitor.errors import BlobMissingError, MonitorError
from monitor.events import (
    GOOD_CAPTURES,
    SETTINGS_EVENTS,
    ChangeDetected,
    StoredEvent,
)
from monitor.store import EventStore, local_file, postgres_connection

log = logging.getLogger(__name__)

INDEX_VERSION = 1  # bump when documents or tokens change: the index is rebuilt
BATCH = 500
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS companies (source_id TEXT PRIMARY KEY, company TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS seen_lines (digest BLOB PRIMARY KEY) WITHOUT ROWID;
CREATE VIRTUAL TABLE IF NOT EXISTS docs USING fts5(
    body, seq UNINDEXED, side UNINDEXED, source_id UNINDEXED, company UNINDEXED,
    company_key UNINDEXED, at UNINDEXED, text UNINDEXED, other UNINDEXED, kind UNINDEXED,
    tokenize = 'unicode61 remove_diacritics 2'
);
"""


class SearchIndexError(MonitorError):
    """The search index cannot be opened or written."""


class Index(ABC):
    """A search projection: ``SearchIndex`` (SQLite FTS5) or ``PostgresSearchIndex``."""

    path: str

    @abstractmethod
    async def catch_up(self, store: EventStore) -> int:
        """Index the events after the head; returns how many events were read."""

    async def search(
        self,
        query: str,
        *,
        side: str | None = None,
        company: str = "",
        source: str = "",
        since: str | None = None,
        before: int | None = None,
        limit: int = 50,
    ) -> list[SearchHit]:
        """Hits for ``query``, newest first, one per event and side."""
        if match_expression(query) is None:
            return []
        return await self._hits(SearchQuery(query, side, company, source, since, before, limit))

    @abstractmethod
    async def _hits(self, query: SearchQuery) -> list[SearchHit]:
        """The hits of a query that has words to search for."""

    @abstractmethod
    def close(self) -> None:
        """Release what the index holds open."""


def head_rows(last: StoredEvent) -> list[tuple[str, str]]:
    """The meta rows naming an index's head: the last event indexed (seq, hash), the version."""
    return [("head_seq", str(last.seq)), ("head_hash", last.hash), ("version", str(INDEX_VERSION))]


async def of_another_log(
    store: EventStore, head: int, head_hash: str | None, version: str | None
) -> bool:
    """Whether an index with this head was built from another log (or by another version):
    then it is dropped and rebuilt, so it never answers from another log."""
    stored = await store.get_event(head)
    return stored is None or stored.hash != head_hash or version != str(INDEX_VERSION)


class SearchIndex(Index):
    """An FTS5 index of changes and captures; see the module docstring."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = asyncio.Lock()
        try:
            if path != ":memory:" and not os.path.exists(path):
                # It quotes the watched pages like the log does: as private as the log.
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            if path != ":memory:":
                self._db.execute("PRAGMA journal_mode = WAL")
            self._db.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise SearchIndexError(f"cannot open the search index {path}: {exc}") from exc
        self._companies: dict[str, str] = dict(
            self._db.execute("SELECT source_id, company FROM companies").fetchall()
        )

    @classmethod
    def for_store(cls, store: EventStore) -> SearchIndex:
        """Beside a SQLite log; in memory when there is no file or it cannot be written
        (a read-only copy of a log is searched all the same)."""
        file = local_file(store)
        if not file or file == ":memory:":
            return cls(":memory:")
        try:
            return cls(f"{file}.search")
        except SearchIndexError as exc:
            log.warning("%s; searching with an index in memory", exc)
            return cls(":memory:")

    def close(self) -> None:
        self._db.close()

    # ----------------------------------------------------------------- head

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def _reset(self) -> None:
        with self._db:
            self._db.execute("BEGIN")
            for table in ("meta", "companies", "seen_lines", "docs"):
                self._db.execute(f"DELETE FROM {table}")
        self._companies = {}

    @property
    def head_seq(self) -> int:
        return int(self._meta("head_seq") or 0)

    async def catch_up(self, store: EventStore) -> int:
        async with self._lock:
            head = int(self._meta("head_seq") or 0)
            meta = self._meta
            if head and await of_another_log(store, head, meta("head_hash"), meta("version")):
                log.info("search index %s is not of this log: rebuilding it", self.path)
                await asyncio.to_thread(self._reset)
                head = 0
            count = 0
            while True:
                events = await store.read(after=head, limit=BATCH)
                if not events:
                    return count
                docs = await self._documents(store, events)
                last = events[-1]
                await asyncio.to_thread(self._write, docs, last)
                head = last.seq
                count += len(events)

    async def _documents(
        self, store: EventStore, events: Sequence[StoredEvent]
    ) -> list[tuple[SearchDoc, str, bytes | None]]:
        return await documents_of(store, events, self._companies)

    def _write(self, docs: list[tuple[SearchDoc, str, bytes | None]], last: StoredEvent) -> None:
        db = self._db
        try:
            with db:
                db.execute("BEGIN")
                for doc, kind, digest in docs:
                    if digest is not None:
                        inserted = db.execute(
                            "INSERT OR IGNORE INTO seen_lines (digest) VALUES (?)", (digest,)
                        )
                        if inserted.rowcount == 0:
                            continue  # this line was indexed with an earlier capture
                    db.execute(
                        "INSERT INTO docs (body, seq, side, source_id, company, company_key, at,"
                        " text, other, kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            tokens_text(doc.text),
                            doc.seq,
                            doc.side,
                            doc.source_id,
                            doc.company,
                            doc.company.casefold(),
                            doc.at,
                            doc.text,
                            doc.other,
                            kind,
                        ),
                    )
                db.executemany(
                    "INSERT OR REPLACE INTO companies (source_id, company) VALUES (?, ?)",
                    list(self._companies.items()),
                )
                db.executemany(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", head_rows(last)
                )
        except sqlite3.Error as exc:
            raise SearchIndexError(f"cannot write the search index {self.path}: {exc}") from exc

    # ----------------------------------------------------------------- queries

    async def _hits(self, query: SearchQuery) -> list[SearchHit]:
        async with self._lock:
            return await asyncio.to_thread(self._search, query)

    def _search(self, query: SearchQuery) -> list[SearchHit]:
        clauses = ["docs MATCH ?"]
        params: list[Any] = [match_expression(query.text)]
        for condition, value in query.conditions():
            clauses.append(f"{condition} ?")
            params.append(value)
        sql = (
            "SELECT seq, side, source_id, company, at, text, other, kind FROM docs WHERE "
            + " AND ".join(clauses)
            + " ORDER BY rowid DESC"
        )
        try:
            rows = self._db.execute(sql, params)
            return collect_hits(rows, query.text, query.side, query.limit)
        except sqlite3.Error as exc:
            raise SearchIndexError(f"cannot search the index {self.path}: {exc}") from exc


async def documents_of(
    store: EventStore, events: Sequence[StoredEvent], companies: dict[str, str]
) -> list[tuple[SearchDoc, str, bytes | None]]:
    """(document, kind, line digest) of a batch of events; capture texts read from the store.

    ``companies`` (source id → company) is read and updated as registrations pass.
    """
    out: list[tuple[SearchDoc, str, bytes | None]] = []
    for event in events:
        if event.stream.startswith("$"):
            continue
        indexed = event.event
        if isinstance(indexed, SETTINGS_EVENTS):
            companies[event.stream] = str(indexed.settings.get("company") or "")
            continue
        if not isinstance(indexed, GOOD_CAPTURES):
            continue
        company = companies.get(event.stream, "")
        if isinstance(indexed, ChangeDetected):
            for doc in change_docs(
                event.seq, event.stream, company, event.recorded_at, indexed.diff
            ):
                out.append((doc, "change", None))
        text_sha = indexed.capture.text_sha256
        if not text_sha:
            continue
        try:
            text = (await store.get_blob(text_sha)).decode("utf-8", "replace")
        except BlobMissingError:
            log.warning("search index: text blob %s of seq %d is missing", text_sha, event.seq)
            continue
        for line in capture_lines(text):
            digest = hashlib.sha256(f"{event.stream}\x1f{line}".encode()).digest()[:16]
            doc = SearchDoc(
                seq=event.seq,
                side="capture",
                source_id=event.stream,
                company=company,
                at=event.recorded_at,
                text=line,
            )
            out.append((doc, event.type, digest))
    return out


Row = tuple[Any, ...]  # seq, side, source_id, company, at, text, other, kind


def collect_hits(rows: Iterable[Row], query: str, side: str | None, limit: int) -> list[SearchHit]:
    """Hits from index rows (newest first): one per event and side, removals that are real."""
    hits: list[SearchHit] = []
    seen: set[tuple[int, str]] = set()
    for seq, doc_side, source_id, doc_company, at, text, other, kind in rows:
        key = (int(seq), str(doc_side))
        if key in seen:
            continue
        doc = SearchDoc(
            seq=int(seq), side=str(doc_side), source_id=str(source_id),
            company=str(doc_company), at=str(at), text=str(text), other=str(other),
        )  # fmt: skip
        if side and not is_real(doc, query):
            continue
        seen.add(key)
        where = (doc.seq, doc.side, doc.source_id, doc.company, doc.at)
        hits.append(SearchHit(*where, sentence_of(doc.text, query), _link(doc, str(kind))))
        if len(hits) >= limit:
            break
    return hits


def _link(doc: SearchDoc, kind: str) -> str:
    if kind in ("change", "ChangeDetected"):
        return f"/changes/{doc.seq}"
    return f"/sources/{quote(doc.source_id, safe='')}#seq-{doc.seq}"


def index_for(store: EventStore) -> Index:
    """PostgreSQL full-text search in a PostgreSQL log's database; else SQLite FTS5."""
    connection = postgres_connection(store)
    if connection is not None:
        from monitor.desk.search_pg import PostgresSearchIndex

        return PostgresSearchIndex(connection)
    return SearchIndex.for_store(store)


@contextlib.asynccontextmanager
async def opened_index(store: EventStore) -> AsyncIterator[Index]:
    """The store's search index, caught up with the log, closed on exit."""
    index = index_for(store)
    try:
        await index.catch_up(store)
        yield index
    finally:
        index.close()

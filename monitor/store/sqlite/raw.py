"""``RawRows`` on SQLite: a log's rows exactly as stored, for ``monitor migrate``.

Through the store's own connections: reads on its query-only reader, writes in its
write transactions (so a copy queues behind, never between, this process's appends).
``data`` is written back as TEXT, as the store writes it; bytes that are not UTF-8
stay bytes, so even a damaged row is copied verbatim.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import aiosqlite

from monitor.events import GENESIS_HASH
from monitor.store.base import RawEvent
from monitor.store.blobs import EncodedBlob
from monitor.store.rules import EVENT_COLUMNS, check_continues
from monitor.store.sqlite.files import EVENT_SELECT

INSERT_EVENTS = f"INSERT INTO events ({EVENT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)"

Query = Callable[[str, Iterable[Any]], Any]
Write = Callable[[], AbstractAsyncContextManager[aiosqlite.Connection]]


class SqliteRawRows:
    def __init__(self, query: Query, write: Write) -> None:
        self._query = query
        self._write = write

    async def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return list(await self._query(sql, params))

    async def last(self) -> tuple[int, str]:
        rows = await self._rows("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1")
        return (int(rows[0][0]), str(rows[0][1])) if rows else (0, GENESIS_HASH)

    async def events(self, after: int, until: int, batch: int) -> AsyncIterator[list[RawEvent]]:
        while after < until:
            rows = await self._rows(
                f"SELECT {EVENT_SELECT} FROM events "
                "WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
                (after, until, batch),
            )
            if not rows:
                return
            yield [RawEvent.from_row(row) for row in rows]
            after = int(rows[-1][0])

    async def event_hash(self, seq: int) -> str | None:
        rows = await self._rows("SELECT hash FROM events WHERE seq = ?", (seq,))
        return str(rows[0][0]) if rows else None

    async def write_events(self, batch: Sequence[RawEvent]) -> None:
        if not batch:
            return
        async with self._write() as db:
            rows = await db.execute_fetchall("SELECT MAX(seq) FROM events")
            check_continues(int(next(iter(rows))[0] or 0), batch[0].seq)
            await db.executemany(
                INSERT_EVENTS,
                [stored_row(e) for e in batch],
            )

    async def blob_names(self, batch: int) -> AsyncIterator[list[str]]:
        last = ""
        while True:
            rows = await self._rows(
                "SELECT sha256 FROM blobs WHERE sha256 > ? ORDER BY sha256 LIMIT ?", (last, batch)
            )
            if not rows:
                return
            yield [str(r[0]) for r in rows]
            last = str(rows[-1][0])

    async def missing_blobs(self, names: Sequence[str]) -> list[str]:
        marks = ",".join("?" * len(names))
        rows = await self._rows(f"SELECT sha256 FROM blobs WHERE sha256 IN ({marks})", names)
        present = {r[0] for r in rows}
        return [n for n in names if n not in present]

    async def read_blobs(self, names: Sequence[str]) -> list[EncodedBlob]:
        marks = ",".join("?" * len(names))
        rows = await self._rows(
            "SELECT sha256, size, codec, CAST(content AS BLOB) FROM blobs "
            f"WHERE sha256 IN ({marks}) ORDER BY sha256",
            names,
        )
        return [EncodedBlob(str(r[0]), int(r[1]), str(r[2]), bytes(r[3])) for r in rows]

    async def write_blobs(self, blobs: Sequence[EncodedBlob]) -> None:
        async with self._write() as db:
            await db.executemany(
                "INSERT OR IGNORE INTO blobs (sha256, size, codec, content) VALUES (?,?,?,?)",
                [(b.sha256, b.size, b.codec, b.content) for b in blobs],
            )

    async def cursors(self) -> dict[str, int]:
        return {str(n): int(s) for n, s in await self._rows("SELECT name, seq FROM cursors")}


def stored_row(event: RawEvent) -> tuple[Any, ...]:
    """The ``events`` row as SQLite keeps it: ``data`` as TEXT; bytes that are not UTF-8
    (a damaged row being copied) stay bytes, verbatim."""
    values = event.values()
    try:
        data: str | bytes = event.data.decode("utf-8")
    except UnicodeDecodeError:
        data = event.data
    return (*values[:7], data, *values[8:])

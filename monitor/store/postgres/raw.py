"""``RawRows`` on PostgreSQL: a schema's rows exactly as stored, for ``monitor migrate``.

Through the store's own (translated) pooled connections. Written events move
``log_head`` in the same transaction, as ``monitor_append`` would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from monitor.events import GENESIS_HASH
from monitor.store.base import RawEvent
from monitor.store.blobs import EncodedBlob
from monitor.store.rules import EVENT_COLUMNS, check_continues

if TYPE_CHECKING:
    from monitor.store.postgres.store import PostgresEventStore

INSERT_EVENTS = f"INSERT INTO events ({EVENT_COLUMNS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)"
MOVE_HEAD = "UPDATE log_head SET seq = $1, hash = $2, recorded_at = $3"


class PostgresRawRows:
    def __init__(self, store: PostgresEventStore) -> None:
        self._store = store

    async def _rows(self, sql: str, *params: Any) -> list[Any]:
        async with self._store.connection() as conn:
            return list(await conn.fetch(sql, *params))

    async def last(self) -> tuple[int, str]:
        rows = await self._rows("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1")
        return (int(rows[0]["seq"]), str(rows[0]["hash"])) if rows else (0, GENESIS_HASH)

    async def events(self, after: int, until: int, batch: int) -> AsyncIterator[list[RawEvent]]:
        while after < until:
            rows = await self._rows(
                f"SELECT {EVENT_COLUMNS} FROM events WHERE seq > $1 AND seq <= $2 "
                "ORDER BY seq LIMIT $3",
                after,
                until,
                batch,
            )
            if not rows:
                return
            yield [RawEvent.from_row(row.values()) for row in rows]
            after = int(rows[-1]["seq"])

    async def event_hash(self, seq: int) -> str | None:
        rows = await self._rows("SELECT hash FROM events WHERE seq = $1", seq)
        return str(rows[0]["hash"]) if rows else None

    async def write_events(self, batch: Sequence[RawEvent]) -> None:
        if not batch:
            return
        async with self._store.connection() as conn, conn.transaction():
            head = await conn.fetchrow("SELECT seq FROM log_head FOR UPDATE")
            check_continues(int(head["seq"]) if head else 0, batch[0].seq)
            await conn.executemany(INSERT_EVENTS, [e.values() for e in batch])
            last = batch[-1].event
            await conn.execute(MOVE_HEAD, last.seq, last.hash, last.recorded_at)

    async def blob_names(self, batch: int) -> AsyncIterator[list[str]]:
        last = ""
        while True:
            rows = await self._rows(
                "SELECT sha256 FROM blobs WHERE sha256 > $1 ORDER BY sha256 LIMIT $2", last, batch
            )
            if not rows:
                return
            yield [str(r["sha256"]) for r in rows]
            last = str(rows[-1]["sha256"])

    async def missing_blobs(self, names: Sequence[str]) -> list[str]:
        rows = await self._rows(
            "SELECT sha256 FROM blobs WHERE sha256 = ANY($1::text[])", list(names)
        )
        present = {r["sha256"] for r in rows}
        return [n for n in names if n not in present]

    async def read_blobs(self, names: Sequence[str]) -> list[EncodedBlob]:
        rows = await self._rows(
            "SELECT sha256, size, codec, content FROM blobs WHERE sha256 = ANY($1::text[]) "
            "ORDER BY sha256",
            list(names),
        )
        return [EncodedBlob(r["sha256"], r["size"], r["codec"], bytes(r["content"])) for r in rows]

    async def write_blobs(self, blobs: Sequence[EncodedBlob]) -> None:
        async with self._store.connection() as conn:
            await conn.executemany(
                "INSERT INTO blobs (sha256, size, codec, content) VALUES ($1, $2, $3, $4) "
                "ON CONFLICT (sha256) DO NOTHING",
                [(b.sha256, b.size, b.codec, b.content) for b in blobs],
            )

    async def cursors(self) -> dict[str, int]:
        return {r["name"]: int(r["seq"]) for r in await self._rows("SELECT name, seq FROM cursors")}

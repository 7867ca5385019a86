"""Schema evolution: events stored with an older schema are upgraded on read, never rewritten."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from monitor import events
from monitor.audit.verify import verify_store
from monitor.events import FetchFailed, NewEvent, decode, upcast
from monitor.store import SqliteEventStore

OLD_DATA = {"url": "https://example.org/", "kind": "timeout", "reason": "no answer in 30s"}


def fetch_failed_v0_to_v1(data: dict[str, Any]) -> dict[str, Any]:
    """Schema 0 called the error kind ``kind`` and the message ``reason``."""
    data["error"] = data.pop("kind")
    data["message"] = data.pop("reason")
    return data


async def test_an_old_schema_event_is_upcast_on_read_and_still_verifies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(events.UPCASTERS, ("FetchFailed", 0), fetch_failed_v0_to_v1)
    path = tmp_path / "monitor.db"
    store = await SqliteEventStore.open(path)
    try:
        await store.append(
            [
                NewEvent(event_id="old", stream="src", type="FetchFailed", schema=0, data=OLD_DATA),
                NewEvent(
                    event_id="new",
                    stream="src",
                    type="FetchFailed",
                    schema=FetchFailed.schema,
                    data=FetchFailed(
                        url="u", error="http", message="HTTP 503", status=503
                    ).to_data(),
                ),
            ]
        )
    finally:
        await store.close()

    store = await SqliteEventStore.open(path, create=False)
    try:
        old, new = await store.read()
        report = await verify_store(store)
    finally:
        await store.close()
    # Stored exactly as written: schema 0, old field names.
    assert (old.schema, old.data) == (0, OLD_DATA)
    # Read as the current event class.
    assert decode(old) == FetchFailed(
        url="https://example.org/", error="timeout", message="no answer in 30s"
    )
    assert decode(new) == FetchFailed(url="u", error="http", message="HTTP 503", status=503)
    assert upcast("FetchFailed", 0, old.data) == (1, fetch_failed_v0_to_v1(dict(OLD_DATA)))
    assert old.data == OLD_DATA  # upcasting copies; the stored record is untouched
    # The hash covers the stored bytes, so the old event verifies as it always did.
    assert report.ok, report.findings
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT schema, data FROM events WHERE seq = 1").fetchone() == (
            0,
            '{"kind":"timeout","reason":"no answer in 30s","url":"https://example.org/"}',
        )
    finally:
        conn.close()


def test_without_its_upcaster_an_old_event_cannot_be_read_as_the_new_class() -> None:
    stored = events.seal(
        NewEvent(event_id="old", stream="src", type="FetchFailed", schema=0, data=OLD_DATA),
        seq=1,
        version=1,
        recorded_at="2026-03-01T00:00:00.000000Z",
        prev_hash=events.GENESIS_HASH,
    )
    assert ("FetchFailed", 0) not in events.UPCASTERS
    with pytest.raises(KeyError):
        decode(stored)

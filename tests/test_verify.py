"""verify: an untouched log passes; every kind of tampering is named by the seq it hit."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import zstandard
from hypothesis import given
from hypothesis import strategies as st

from monitor.audit.findings import Finding, VerifyReport
from monitor.audit.verify import ChainVerifier, blob_refs, verify_store
from monitor.events import (
    GENESIS_HASH,
    NewEvent,
    StoredEvent,
    canonical_bytes,
    chain_hash,
    seal,
)
from monitor.store import SqliteEventStore, open_store

EVENTS = 8


async def build_log(path: Path) -> list[StoredEvent]:
    """Eight captures alternating between two sources, each naming a raw and a text blob."""
    store = await SqliteEventStore.open(path)
    stored: list[StoredEvent] = []
    try:
        for i in range(1, EVENTS + 1):
            raw_sha = await store.put_blob(f"<html><p>Report {i}</p></html>".encode())
            text_sha = await store.put_blob(f"Report {i}".encode())
            data: dict[str, Any] = {
                "capture": {"raw_sha256": raw_sha, "text_sha256": text_sha, "status": 200},
                "title": f"Report number {i}",
            }
            if i == 7:
                shot = await store.put_blob(b"\x89PNG screenshot")
                data["attachments"] = [{"screenshot_sha256": shot}]
            stream = "meta" if i % 2 else "google"
            event = NewEvent(event_id=f"e{i}", stream=stream, type="Captured", schema=1, data=data)
            stored += await store.append([event])
    finally:
        await store.close()
    return stored


@pytest.fixture
async def log(tmp_path: Path) -> tuple[Path, list[StoredEvent]]:
    path = tmp_path / "monitor.db"
    return path, await build_log(path)


@contextlib.contextmanager
def tampering(path: Path) -> Iterator[sqlite3.Connection]:
    """sqlite3 on the file with the append-only triggers dropped, as an attacker would."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        for trigger in (
            "events_no_update",
            "events_no_delete",
            "blobs_no_update",
            "blobs_no_delete",
        ):
            db.execute(f"DROP TRIGGER {trigger}")
        yield db
    finally:
        db.close()


async def verify_file(path: Path, **options: Any) -> VerifyReport:
    store = await SqliteEventStore.open(path, create=False)
    try:
        return await verify_store(store, **options)
    finally:
        await store.close()


def seqs(report: VerifyReport) -> list[int | None]:
    return [f.seq for f in report.findings]


# --------------------------------------------------------------------------- whole store


async def test_an_untouched_log_verifies(log: tuple[Path, list[StoredEvent]]) -> None:
    path, events = log
    report = await verify_file(path, batch=3)
    assert report.ok, report.findings
    assert report.first is None
    assert (report.events, report.blobs) == (EVENTS, 2 * EVENTS + 1)
    assert report.head_hash == events[-1].hash


async def test_an_empty_log_verifies() -> None:
    async with open_store("memory://") as store:
        report = await verify_store(store)
    assert report.ok
    assert (report.events, report.blobs, report.head_hash) == (0, 0, GENESIS_HASH)


async def test_one_changed_byte_of_data_names_that_seq(
    log: tuple[Path, list[StoredEvent]],
) -> None:
    path, _ = log
    with tampering(path) as db:
        db.execute("UPDATE events SET data = replace(data, 'number 6', 'number 9') WHERE seq = 6")
    report = await verify_file(path)
    assert report.findings == [
        Finding(6, "content", "seq 6: stored hash does not match its content (event edited)")
    ]


async def test_a_byte_that_breaks_the_json_is_named_and_the_rest_still_checked(
    log: tuple[Path, list[StoredEvent]],
) -> None:
    path, events = log
    with tampering(path) as db:
        db.execute("UPDATE events SET data = '[' || substr(data, 2) WHERE seq = 4")
    report = await verify_file(path, batch=3)
    assert seqs(report) == [4]
    assert report.findings[0].kind == "unreadable"
    assert "seq 4" in report.findings[0].message
    assert report.events == EVENTS
    assert report.head_hash == events[-1].hash


async def test_invalid_utf8_in_data_is_named(log: tuple[Path, list[StoredEvent]]) -> None:
    path, _ = log
    with tampering(path) as db:
        db.execute("UPDATE events SET data = CAST(x'7bff7d' AS TEXT) WHERE seq = 2")
    report = await verify_file(path)
    assert seqs(report) == [2]
    assert report.findings[0].kind == "unreadable"


async def test_a_deleted_row_names_the_missing_seq(log: tuple[Path, list[StoredEvent]]) -> None:
    path, _ = log
    with tampering(path) as db:
        db.execute("DELETE FROM events WHERE seq = 5")
    report = await verify_file(path)
    # The version jump this causes in stream "meta" is explained by the gap, not repeated.
    assert report.findings == [Finding(5, "gap", "seq 5 is missing (deleted?)")]


async def test_deleted_rows_at_the_start_are_named(log: tuple[Path, list[StoredEvent]]) -> None:
    path, _ = log
    with tampering(path) as db:
        db.execute("DELETE FROM events WHERE seq <= 2")
    report = await verify_file(path)
    assert report.findings[0] == Finding(1, "gap", "seq 1 to 2 are missing (deleted?)")


async def test_two_rows_swapped_under_their_seqs_are_named(
    log: tuple[Path, list[StoredEvent]],
) -> None:
    path, _ = log
    columns = "event_id, stream, version, type, schema, recorded_at, data, prev_hash, hash"
    with tampering(path) as db:
        row3 = db.execute(f"SELECT {columns} FROM events WHERE seq = 3").fetchone()
        row4 = db.execute(f"SELECT {columns} FROM events WHERE seq = 4").fetchone()
        assignments = ", ".join(f"{c} = ?" for c in columns.split(", "))
        db.execute("UPDATE events SET event_id = 'tmp', version = -1 WHERE seq = 3")
        db.execute(f"UPDATE events SET {assignments} WHERE seq = 4", row3)
        db.execute(f"UPDATE events SET {assignments} WHERE seq = 3", row4)
    report = await verify_file(path)
    assert report.first == Finding(
        3,
        "link",
        "seq 3: prev_hash does not match the hash of seq 2 (events reordered or inserted?)",
    )
    assert set(seqs(report)) <= {3, 4, 5}


async def test_an_edit_with_a_recomputed_hash_breaks_the_next_link(
    log: tuple[Path, list[StoredEvent]],
) -> None:
    path, events = log
    forged = replace(events[5], data={**events[5].data, "title": "nothing to see"})
    with tampering(path) as db:
        db.execute(
            "UPDATE events SET data = ?, hash = ? WHERE seq = 6",
            (canonical_bytes(forged.data).decode(), forged.expected_hash()),
        )
    report = await verify_file(path)
    assert report.findings == [
        Finding(
            7,
            "link",
            "seq 7: prev_hash does not match the hash of seq 6 (events reordered or inserted?)",
        )
    ]


async def test_a_deleted_blob_is_reported_with_the_event_naming_it(
    log: tuple[Path, list[StoredEvent]],
) -> None:
    path, events = log
    text_sha = events[2].data["capture"]["text_sha256"]
    with tampering(path) as db:
        db.execute("DELETE FROM blobs WHERE sha256 = ?", (text_sha,))
    report = await verify_file(path)
    assert report.findings == [
        Finding(
            3, "blob_missing", f"seq 3: blob {text_sha} named by capture.text_sha256 is missing"
        )
    ]
    assert not (await verify_file(path, check_blobs=False)).findings


async def test_a_blob_named_deep_inside_a_list_is_checked(
    log: tuple[Path, list[StoredEvent]],
) -> None:
    path, events = log
    shot = events[6].data["attachments"][0]["screenshot_sha256"]
    with tampering(path) as db:
        db.execute("DELETE FROM blobs WHERE sha256 = ?", (shot,))
    report = await verify_file(path)
    assert seqs(report) == [7]
    assert "attachments[0].screenshot_sha256" in report.findings[0].message


async def test_a_flipped_byte_in_a_blob_is_reported(log: tuple[Path, list[StoredEvent]]) -> None:
    path, events = log
    raw_sha = events[1].data["capture"]["raw_sha256"]
    with tampering(path) as db:
        (content,) = db.execute("SELECT content FROM blobs WHERE sha256 = ?", (raw_sha,)).fetchone()
        flipped = bytearray(content)
        flipped[-5] ^= 0x01
        db.execute("UPDATE blobs SET content = ? WHERE sha256 = ?", (bytes(flipped), raw_sha))
    report = await verify_file(path)
    assert seqs(report) == [2]
    assert report.findings[0].kind == "blob_corrupt"
    assert raw_sha in report.findings[0].message


async def test_a_blob_replaced_by_other_valid_content_is_reported(
    log: tuple[Path, list[StoredEvent]],
) -> None:
    path, events = log
    text_sha = events[0].data["capture"]["text_sha256"]
    other = zstandard.ZstdCompressor(level=3).compress(b"Report X")  # same size as "Report 1"
    with tampering(path) as db:
        db.execute("UPDATE blobs SET content = ? WHERE sha256 = ?", (other, text_sha))
    report = await verify_file(path)
    assert seqs(report) == [1]
    assert f"blob {text_sha} is corrupted: its content hashes to" in report.findings[0].message


# --------------------------------------------------------------------------- pure verifier


def make_chain(streams: list[str]) -> list[StoredEvent]:
    """A valid chain built with the same sealing the stores use, no store involved."""
    chain: list[StoredEvent] = []
    versions: dict[str, int] = {}
    prev = GENESIS_HASH
    for seq, stream in enumerate(streams, start=1):
        versions[stream] = versions.get(stream, 0) + 1
        new = NewEvent(event_id=f"id-{seq}", stream=stream, type="Noted", schema=1, data={"n": seq})
        ev = seal(
            new,
            seq=seq,
            version=versions[stream],
            recorded_at="2025-03-01T12:00:00.000000Z",
            prev_hash=prev,
        )
        chain.append(ev)
        prev = ev.hash
    return chain


def run(events: list[StoredEvent]) -> list[Finding]:
    verifier = ChainVerifier()
    found = [f for ev in events for f in verifier.feed(ev)]
    return found + verifier.finish()


def test_an_exported_jsonl_round_trip_verifies_without_a_database() -> None:
    lines = [json.dumps(ev.to_json()) for ev in make_chain(["a", "b", "a", "c", "a"])]
    assert run([StoredEvent.from_json(json.loads(line)) for line in lines]) == []


def test_a_duplicated_line_is_reported_once() -> None:
    chain = make_chain(["a", "b", "a", "b"])
    findings = run([*chain[:3], chain[2], chain[3]])
    assert [(f.seq, f.kind) for f in findings] == [(3, "order")]


def test_a_badly_damaged_log_lists_the_first_break_and_counts_the_rest() -> None:
    chain = [replace(ev, data={"n": -1}) for ev in make_chain(["a"] * 30)]
    findings = run(chain)
    assert findings[0] == Finding(
        1, "content", "seq 1: stored hash does not match its content (event edited)"
    )
    assert len(findings) == 6
    assert findings[-1].kind == "suppressed"
    assert findings[-1].message.startswith("25 further chain problem(s) not listed")


def test_a_genesis_link_that_was_altered_is_named() -> None:
    first = make_chain(["a"])[0]
    forged = replace(first, prev_hash="1" * 64)
    forged = replace(forged, hash=chain_hash(forged.prev_hash, forged.body()))
    assert [(f.seq, f.kind) for f in run([forged])] == [(1, "link")]


def test_a_malformed_hash_field_is_a_finding_not_a_crash() -> None:
    first = replace(make_chain(["a"])[0], prev_hash="not hex")
    assert [(f.seq, f.kind) for f in run([first])] == [(1, "link"), (1, "malformed")]


def test_version_jumps_not_explained_by_a_gap_are_reported() -> None:
    chain = make_chain(["a", "a", "a"])
    skipped = replace(chain[2], version=5)
    skipped = replace(skipped, hash=chain_hash(skipped.prev_hash, skipped.body()))
    findings = run([*chain[:2], skipped])
    assert findings == [
        Finding(3, "version", "seq 3: stream 'a' has version 5 after version 2 (expected 3)")
    ]


FIELDS = ["event_id", "stream", "version", "type", "schema", "recorded_at", "data", "prev_hash"]


def mutate(ev: StoredEvent, name: str) -> StoredEvent:
    changed: dict[str, Any] = {
        "event_id": ev.event_id + "x",
        "stream": ev.stream + "x",
        "version": ev.version + 1,
        "type": ev.type + "x",
        "schema": ev.schema + 1,
        "recorded_at": ev.recorded_at.replace("12:00", "12:01"),
        "data": {**ev.data, "n": -ev.seq},
        "prev_hash": "f" * 64,
        "hash": "e" * 64,
    }
    return replace(ev, **{name: changed[name]})


@given(
    streams=st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=12),
    position=st.integers(min_value=0),
    name=st.sampled_from([*FIELDS, "hash"]),
)
def test_any_single_field_change_is_first_reported_at_its_seq(
    streams: list[str], position: int, name: str
) -> None:
    chain = make_chain(streams)
    index = position % len(chain)
    chain[index] = mutate(chain[index], name)
    findings = run(chain)
    assert findings, f"changing {name} of seq {index + 1} went unnoticed"
    assert findings[0].seq == index + 1


@pytest.mark.parametrize(
    ("data", "refs"),
    [
        ({"capture": {"raw_sha256": "a" * 64, "text_sha256": "b" * 64}}, ["capture.raw_sha256",
                                                                           "capture.text_sha256"]),
        ({"text_sha256": "c" * 64, "previous": "d" * 64}, ["text_sha256"]),
        ({"list": [{"sha256": "e" * 64}, "f" * 64]}, ["list[0].sha256"]),
        ({"raw_sha256": "short", "text_sha256": None, "x_sha256": "A" * 64}, []),
    ],
)  # fmt: skip
def test_blob_refs_finds_every_named_blob(data: dict[str, Any], refs: list[str]) -> None:
    assert [where for where, _ in blob_refs(data)] == refs

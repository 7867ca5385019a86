"""Tampering with the SQLite file directly makes ``monitor verify`` exit 1 naming the place.

Each test drops the append-only triggers and edits the database with ``sqlite3``, as
someone with the file would, then runs the real CLI in the directory that holds the
database, the signing key and the checkpoint journal.
"""

from __future__ import annotations

import base64
import contextlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.events import chain_hash, envelope_body

TRIGGERS = ("events_no_update", "events_no_delete", "blobs_no_update", "blobs_no_delete")


@contextlib.contextmanager
def tampering(db: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        for trigger in TRIGGERS:
            conn.execute(f"DROP TRIGGER {trigger}")
        yield conn
    finally:
        conn.close()


def rehash_from(conn: sqlite3.Connection, start: int) -> None:
    """Recompute hash and prev_hash from ``start`` on: a forger hiding an edit in the chain."""
    rows = conn.execute(
        "SELECT seq, event_id, stream, version, type, schema, recorded_at, data FROM events "
        "WHERE seq >= ? ORDER BY seq",
        (start,),
    ).fetchall()
    (prev,) = conn.execute("SELECT hash FROM events WHERE seq = ?", (start - 1,)).fetchone()
    for seq, event_id, stream, version, type_, schema, recorded_at, data in rows:
        body = envelope_body(
            seq=seq,
            event_id=event_id,
            stream=stream,
            version=version,
            type_=type_,
            schema=schema,
            recorded_at=recorded_at,
            data=json.loads(data),
        )
        digest = chain_hash(prev, body)
        conn.execute("UPDATE events SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, digest, seq))
        prev = digest


def seqs_of(db: Path, type_: str, stream: str | None = None) -> list[int]:
    conn = sqlite3.connect(db)
    try:
        sql = "SELECT seq FROM events WHERE type = ?" + (" AND stream = ?" if stream else "")
        params = (type_, stream) if stream else (type_,)
        return [row[0] for row in conn.execute(sql + " ORDER BY seq", params)]
    finally:
        conn.close()


def verify(capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    capsys.readouterr()
    code = main(["verify"])
    return code, capsys.readouterr().out.splitlines()


@pytest.fixture
def db(logdir: Path) -> Path:
    return logdir / "monitor.db"


def test_an_untouched_log_passes_with_every_checkpoint(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = verify(capsys)
    assert code == 0, out
    assert out[0].startswith("ok: ") and "chain intact" in out[0]
    assert out[1] == "ok: 4 signed checkpoints match the log"


def test_an_edited_event_is_named(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seq = seqs_of(db, "ChangeDetected", "src-4")[2]
    with tampering(db) as conn:
        conn.execute(
            "UPDATE events SET data = replace(data, 'government', 'official') WHERE seq = ?",
            (seq,),
        )
    code, out = verify(capsys)
    assert code == 1
    assert out[0] == (
        f"FAILED content: seq {seq}: seq {seq}: stored hash does not match its content "
        "(event edited)"
    )


def test_an_edit_hidden_by_rehashing_the_chain_is_caught_by_the_checkpoints(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seq = seqs_of(db, "ChangeDetected", "src-2")[1]
    checkpoints = seqs_of(db, "CheckpointSigned")
    with tampering(db) as conn:
        conn.execute(
            "UPDATE events SET data = replace(data, 'government', 'official') WHERE seq = ?",
            (seq,),
        )
        rehash_from(conn, seq)
    code, out = verify(capsys)
    assert code == 1
    text = "\n".join(out)
    assert "chain" not in text and "content" not in text  # the chain itself checks out
    covering = [c for c in checkpoints if c > seq]
    for checkpoint in covering:
        assert f"the log differs from checkpoint at seq {checkpoint}" in text
    first = covering[0]
    assert out[0] == (
        f"FAILED checkpoint_root: seq {first - 1}: the log differs from checkpoint at seq "
        f"{first}: seq {first - 1} is not the event it signed (Merkle root of the first "
        f"{first - 1} events does not match)"
    )


def test_a_deleted_event_is_named(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seq = seqs_of(db, "ContentConfirmed")[40]
    with tampering(db) as conn:
        conn.execute("DELETE FROM events WHERE seq = ?", (seq,))
    code, out = verify(capsys)
    assert code == 1
    assert out[0] == f"FAILED gap: seq {seq}: seq {seq} is missing (deleted?)"


def test_an_inserted_event_is_named(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seq = seqs_of(db, "ChangeDetected", "src-6")[1]
    with tampering(db) as conn:
        # Make room (negate first so the primary key never collides), then forge an event
        # that links correctly to its predecessor.
        conn.execute("UPDATE events SET seq = -seq WHERE seq >= ?", (seq,))
        conn.execute("UPDATE events SET seq = -seq + 1 WHERE seq < 0")
        (prev,) = conn.execute("SELECT hash FROM events WHERE seq = ?", (seq - 1,)).fetchone()
        (recorded_at,) = conn.execute(
            "SELECT recorded_at FROM events WHERE seq = ?", (seq - 1,)
        ).fetchone()
        data = {"reason": "backdated"}
        body = envelope_body(
            seq=seq,
            event_id="forged",
            stream="forged",
            version=1,
            type_="SourceRemoved",
            schema=1,
            recorded_at=recorded_at,
            data=data,
        )
        conn.execute(
            "INSERT INTO events VALUES (?, 'forged', 'forged', 1, 'SourceRemoved', 1, ?, ?, ?, ?)",
            (seq, recorded_at, json.dumps(data), prev, chain_hash(prev, body)),
        )
    code, out = verify(capsys)
    assert code == 1
    assert out[0] == (
        f"FAILED link: seq {seq + 1}: seq {seq + 1}: prev_hash does not match the hash of "
        f"seq {seq} (events reordered or inserted?)"
    )


def test_reordered_events_are_named(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seq = seqs_of(db, "ChangeDetected", "src-7")[1]
    with tampering(db) as conn:
        conn.execute("UPDATE events SET seq = -1 WHERE seq = ?", (seq,))
        conn.execute("UPDATE events SET seq = ? WHERE seq = ?", (seq, seq + 1))
        conn.execute("UPDATE events SET seq = ? WHERE seq = -1", (seq + 1,))
    code, out = verify(capsys)
    assert code == 1
    assert out[0].startswith(f"FAILED link: seq {seq}: ")
    assert "reordered" in out[0]


def test_a_truncated_tail_after_a_checkpoint_is_named(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    *_, previous, last = seqs_of(db, "CheckpointSigned")
    keep = previous + 5
    with tampering(db) as conn:
        conn.execute("DELETE FROM events WHERE seq > ?", (keep,))
    code, out = verify(capsys)
    assert code == 1
    # Only the journal, outside the database, still knows what the log held.
    assert out == [
        f"FAILED truncated: seq {keep + 1}: log truncated after checkpoint at seq {last}: "
        f"it signed {last - 1} events, the log now ends at seq {keep}"
    ]


def capture_blob(db: Path, seq: int) -> str:
    conn = sqlite3.connect(db)
    try:
        (data,) = conn.execute("SELECT data FROM events WHERE seq = ?", (seq,)).fetchone()
    finally:
        conn.close()
    return str(json.loads(data)["capture"]["raw_sha256"])


def test_a_missing_blob_is_named(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seq = seqs_of(db, "ChangeDetected", "src-0")[1]
    blob = capture_blob(db, seq)
    with tampering(db) as conn:
        conn.execute("DELETE FROM blobs WHERE sha256 = ?", (blob,))
    code, out = verify(capsys)
    assert code == 1
    assert out == [
        f"FAILED blob_missing: seq {seq}: seq {seq}: blob {blob} named by "
        "capture.raw_sha256 is missing"
    ]


def test_a_corrupted_blob_is_named(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seq = seqs_of(db, "ChangeDetected", "src-5")[2]
    blob = capture_blob(db, seq)
    with tampering(db) as conn:
        (content,) = conn.execute("SELECT content FROM blobs WHERE sha256 = ?", (blob,)).fetchone()
        middle = len(content) // 2
        flipped = content[:middle] + bytes([content[middle] ^ 0x20]) + content[middle + 1 :]
        conn.execute("UPDATE blobs SET content = ? WHERE sha256 = ?", (flipped, blob))
    code, out = verify(capsys)
    assert code == 1
    assert len(out) == 1
    assert out[0].startswith(f"FAILED blob_corrupt: seq {seq}: seq {seq}: capture.raw_sha256: ")
    assert f"blob {blob} is corrupted" in out[0]


def test_a_forged_checkpoint_signature_is_named(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seq = seqs_of(db, "CheckpointSigned")[1]
    with tampering(db) as conn:
        (data,) = conn.execute("SELECT data FROM events WHERE seq = ?", (seq,)).fetchone()
        forged = json.loads(data)
        forged["signature"] = base64.b64encode(bytes(range(64))).decode()
        conn.execute(
            "UPDATE events SET data = ? WHERE seq = ?",
            (json.dumps(forged, sort_keys=True, separators=(",", ":")), seq),
        )
        rehash_from(conn, seq)  # the chain is made consistent again: only the signature tells
    code, out = verify(capsys)
    assert code == 1
    assert out[:2] == [
        f"FAILED checkpoint_journal: seq {seq}: seq {seq}: checkpoint differs from the "
        "checkpoint journal's copy",
        f"FAILED checkpoint_signature: seq {seq}: checkpoint at seq {seq}: signature does not "
        "verify (forged or altered checkpoint)",
    ]
    # Rehashing changed every later event's hash, which the later checkpoints signed.
    later = [c for c in seqs_of(db, "CheckpointSigned") if c > seq]
    assert [line.split(" is not")[0] for line in out[2:]] == [
        f"FAILED checkpoint_root: seq {c - 1}: the log differs from checkpoint at seq {c}: "
        f"seq {c - 1}"
        for c in later
    ]


def test_checkpoints_need_a_public_key_to_count(
    logdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    published = logdir / "published.pem"
    published.write_bytes((logdir / "monitor.pub.pem").read_bytes())
    (logdir / "monitor.key").unlink()
    (logdir / "monitor.pub.pem").unlink()
    code, out = verify(capsys)
    assert code == 1
    assert out == [
        "FAILED checkpoint_key: 4 checkpoint(s) cannot be checked: no public key "
        "(keep the signing key at [monitor].key_path or pass --public-key)"
    ]
    assert main(["verify", "--public-key", str(published)]) == 0
    assert "4 signed checkpoints match the log" in capsys.readouterr().out

"""A log written by an older version still verifies, replays, exports and lists the same.

``tests/fixtures/stored_log/`` holds a SQLite log (``log.db``) and its data directory
(``data/``: the Ed25519 key and the checkpoint journal) written by commit 7b28216, before
issue #14's typed-reading refactor, by ``tests/fixtures/make_stored_log.py``: local pages
on 127.0.0.1 checked with ``monitor check`` (registrations, baselines, changes with rule
matches, a pending and then confirmed change, figures published and restated, stories,
a suspect capture, a move, failures, a recovery, a page gone), the notifier (sent and
failed alerts), ``monitor review`` (a review and a note), configuration edits (an
update, a removal) and ``monitor checkpoint``. The same script recorded, with that
version, what ``verify``, ``replay``, ``log`` and ``export`` printed and wrote
(``expected/``); only the moment of the export (and the WARC's random warcinfo id) is
normalised. See the script's docstring to make the fixture again.

Stored bytes are never rewritten, so every later version must give the same results.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from monitor.events import EVENT_TYPES, StoredEvent, canonical_bytes, decode
from tests.fixtures.make_stored_log import DATA_DIR, DATABASE, EXPECTED, outputs

FIXTURE = Path(__file__).parent / "fixtures" / "stored_log"


@pytest.fixture
def old_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the fixture as the working directory (commands may write to the log)."""
    shutil.copy(FIXTURE / DATABASE, tmp_path / DATABASE)
    shutil.copytree(FIXTURE / DATA_DIR, tmp_path / DATA_DIR)
    (tmp_path / DATA_DIR / "monitor.key").chmod(0o600)  # git keeps no modes
    monkeypatch.chdir(tmp_path)
    for name in ("MONITOR_CONFIG", "MONITOR_DB", "MONITOR_USER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MONITOR_DATA_DIR", str(tmp_path / DATA_DIR))
    return tmp_path


def stored_rows(database: Path) -> list[tuple[StoredEvent, bytes]]:
    """Each event as stored, with the exact bytes of its ``data`` column."""
    with sqlite3.connect(database) as db:
        db.row_factory = sqlite3.Row
        rows = db.execute("SELECT * FROM events ORDER BY seq").fetchall()
    return [
        (
            StoredEvent.from_json({**dict(row), "data": json.loads(row["data"])}),
            row["data"].encode(),
        )
        for row in rows
    ]


def test_the_old_log_gives_the_recorded_outputs(old_log: Path) -> None:
    # Bytes, not read_text: the WARC's lines end in CRLF.
    expected = {p.name: p.read_bytes().decode("utf-8") for p in (FIXTURE / EXPECTED).iterdir()}

    found = outputs(old_log)

    assert sorted(found) == sorted(expected)
    for name, text in expected.items():
        assert found[name] == text, f"{name} differs from what the old version printed"


def test_every_stored_event_decodes_and_still_hashes_the_same(old_log: Path) -> None:
    rows = stored_rows(old_log / DATABASE)

    assert len(rows) == 54
    assert {stored.type for stored, _ in rows} >= {
        "SourceRegistered",
        "BaselineCaptured",
        "ChangeDetected",
        "ChangePending",
        "ContentSuspect",
        "FetchFailed",
        "SourceRecovered",
        "SourceMoved",
        "SourceGone",
        "SourceUpdated",
        "SourceRemoved",
        "FiguresPublished",
        "FiguresRestated",
        "StoryDetected",
        "NotificationSent",
        "NotificationFailed",
        "ChangeReviewed",
        "ChangeAnnotated",
        "CheckpointSigned",
    }
    for stored, data in rows:
        assert stored.expected_hash() == stored.hash, stored.seq
        event = decode(stored)
        assert isinstance(event, EVENT_TYPES[stored.type])
        # Encoding the decoded event gives back the stored data, byte for byte.
        assert canonical_bytes(event.to_data()) == data, stored.seq

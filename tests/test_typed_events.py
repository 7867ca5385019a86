"""Readers get typed events: stored records decode to frozen classes, older shapes read as
their declared defaults, unknown types pass by, and encoding keeps the stored bytes.

The stored bytes of today's format come from the stored-log fixture
(``tests/fixtures/stored_log/``, written by an older version); the older shape is a
``ChangeDetected`` as the first version wrote it (commit 9cb25ba: a capture without
``renderer``, ``words_sha256``, ``title`` or ``chrome``; a change without ``silent``,
``first_seen`` or ``region``).
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from pathlib import Path

import pytest

from monitor.commands.log import brief
from monitor.core.projections import SourceState, apply
from monitor.events import (
    ALERT_EVENTS,
    ARCHIVED_CAPTURES,
    CAPTURE_EVENTS,
    EVENT_TYPES,
    FIGURES_EVENTS,
    GENESIS_HASH,
    GOOD_CAPTURES,
    NOTIFICATION_EVENTS,
    REVIEW_EVENTS,
    SETTINGS_EVENTS,
    STAMP_EVENTS,
    STORY_EVENTS,
    Capture,
    ChangeDetected,
    FetchFailed,
    NewEvent,
    StoredEvent,
    Unrecognized,
    canonical_bytes,
    capture_of,
    names,
    seal,
)

FIXTURE_DB = Path(__file__).parent / "fixtures" / "stored_log" / "log.db"

# A change as commit 9cb25ba stored it: every key its capture and its data then had.
FIRST_VERSION_CHANGE = canonical_bytes(
    {
        "capture": {
            "requested_url": "https://example.org/gov",
            "final_url": "https://example.org/gov",
            "redirects": [],
            "status": 200,
            "headers": {"content-type": "text/html", "etag": '"v2"'},
            "fetched_at": "2026-02-01T08:00:00.000000Z",
            "elapsed_ms": 41,
            "raw_sha256": "c" * 64,
            "text_sha256": "b" * 64,
            "bytes": 812,
            "text_chars": 120,
            "extractor": "extract-1",
            "extraction_key": "k1",
            "media_type": "text/html",
            "format": "html",
        },
        "previous": "a" * 64,
        "previous_seen_until": "2026-02-01T07:00:00.000000Z",
        "diff": {"summary": "1 paragraph changed"},
        "classification": "substantive",
        "rules": [],
        "severity": "low",
    }
).decode()


def stored(type_: str, data_json: str, *, seq: int = 2, schema: int = 1) -> StoredEvent:
    new = NewEvent(
        event_id=f"id-{seq}", stream="gov", type=type_, schema=schema, data=json.loads(data_json)
    )
    return seal(
        new, seq=seq, version=2, recorded_at="2026-02-01T08:00:01.000000Z", prev_hash=GENESIS_HASH
    )


def fixture_rows() -> list[tuple[StoredEvent, bytes]]:
    with sqlite3.connect(FIXTURE_DB) as db:
        db.row_factory = sqlite3.Row
        rows = db.execute("SELECT * FROM events ORDER BY seq").fetchall()
    return [
        (StoredEvent.from_json({**dict(r), "data": json.loads(r["data"])}), r["data"].encode())
        for r in rows
    ]


def test_a_capture_reads_every_key_of_todays_stored_captures() -> None:
    captures = [
        (event.capture, raw)
        for stored_event, raw in fixture_rows()
        if isinstance(event := stored_event.event, CAPTURE_EVENTS)
    ]
    assert len(captures) >= 10
    for capture, raw in captures:
        data = json.loads(raw)["capture"]
        assert capture.to_data() == data
        assert capture.text_sha256 == data["text_sha256"]
        assert capture.raw_sha256 == data["raw_sha256"]
        assert capture.size == data["bytes"]
        assert capture.status == data["status"]
        assert capture.fetched_at == data["fetched_at"]
        assert capture.extraction_key == data["extraction_key"]
        assert capture.renderer == data["renderer"]
        assert dict(capture.headers) == data["headers"]
        assert capture.final_url == data["final_url"]
        assert capture.media_type == data.get("media_type", "")
        assert capture.words_sha256 == data.get("words_sha256")


def test_a_first_version_change_reads_the_defaults_of_what_it_lacks() -> None:
    old = stored("ChangeDetected", FIRST_VERSION_CHANGE)
    change = old.event

    assert isinstance(change, ChangeDetected)
    # Fields added later read as their declared "absent" values.
    assert (change.silent, change.first_seen, change.region, change.region_streak) == (
        False,
        None,
        None,
        None,
    )
    assert change.capture.renderer == "http"  # before the browser, every capture was HTTP
    assert change.capture.words_sha256 is None
    assert (change.capture.title, change.capture.chrome, change.capture.server) == ("", (), None)
    # The fold, the log line and the alert path read it without knowing its age.
    state = apply(SourceState(source_id="gov"), old)
    assert state.last_good is not None
    assert (state.last_good.words_sha256, state.last_good.etag) == ("", '"v2"')
    assert brief(old) == "substantive: 1 paragraph changed"
    # Encoding it again gives the stored bytes: nothing absent is written back.
    assert canonical_bytes(change.to_data()) == FIRST_VERSION_CHANGE.encode()
    assert old.expected_hash() == old.hash


def test_every_stored_event_of_the_fixture_encodes_back_to_its_bytes() -> None:
    for stored_event, raw in fixture_rows():
        assert canonical_bytes(stored_event.event.to_data()) == raw, stored_event.seq


def test_an_event_type_of_a_later_version_decodes_as_unrecognized_and_passes_by() -> None:
    later = stored("PageTranslated", '{"language":"fr","text_sha256":"' + "d" * 64 + '"}')

    event = later.event
    assert event == Unrecognized(name="PageTranslated", data=later.data)
    assert capture_of(event) is None
    state = apply(SourceState(source_id="gov", changes=3), later)
    assert (state.changes, state.version) == (3, 2)  # its version counts, nothing else
    assert brief(later) == ""


def test_a_key_a_later_version_added_is_left_out_when_decoding() -> None:
    later = stored(
        "FetchFailed", '{"error":"http","message":"HTTP 503","retry_hint":"soon","url":"u"}'
    )
    assert later.event == FetchFailed(url="u", error="http", message="HTTP 503")


def test_a_stored_record_is_decoded_once() -> None:
    record = stored("ChangeDetected", FIRST_VERSION_CHANGE)
    assert record.event is record.event


def test_missing_required_fields_are_an_error_not_a_guess() -> None:
    broken = stored("ChangeDetected", '{"capture":{},"previous":"x"}')
    with pytest.raises(TypeError):
        _ = broken.event


@pytest.mark.parametrize(
    "group",
    [
        GOOD_CAPTURES,
        ARCHIVED_CAPTURES,
        CAPTURE_EVENTS,
        SETTINGS_EVENTS,
        FIGURES_EVENTS,
        REVIEW_EVENTS,
        NOTIFICATION_EVENTS,
        STAMP_EVENTS,
        ALERT_EVENTS,
        STORY_EVENTS,
    ],
)
def test_groups_are_registered_classes_and_name_their_stored_types(group: tuple[type, ...]) -> None:
    assert all(EVENT_TYPES[cls.type] is cls for cls in group)
    assert names(group) == tuple(cls.type for cls in group)
    assert len(set(group)) == len(group)


def test_the_capture_groups_nest() -> None:
    assert set(GOOD_CAPTURES) < set(ARCHIVED_CAPTURES) < set(CAPTURE_EVENTS)
    assert all("capture" in {f.name for f in dataclasses.fields(cls)} for cls in CAPTURE_EVENTS)
    assert capture_of(ChangeDetected.from_data(json.loads(FIRST_VERSION_CHANGE))) == Capture(
        json.loads(FIRST_VERSION_CHANGE)["capture"]
    )

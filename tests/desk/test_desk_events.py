"""The desk's events: frozen, keyword-only, round-trip through the stored form, and
upgraded on read by an upcaster like every other event (the folds read upcast data)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from monitor import events
from monitor.desk.stories import fold_stories
from monitor.desk.triage import fold_triage
from monitor.events import (
    ChangeAnnotated,
    ChangeReviewed,
    Event,
    NewEvent,
    SourceGone,
    SourceRecovered,
    StoryDetected,
    decode,
    seal,
)

SAMPLES: list[Event] = [
    ChangeReviewed(change_seq=7, status="noise", by="Ana", note="a banner"),
    ChangeAnnotated(change_seq=7, note="asked the company", by="Bo"),
    StoryDetected(
        story_id="r:added:7",
        rule_id="r",
        side="added",
        members=[{"seq": 7, "source_id": "a", "company": "A", "at": "t", "sentence": "s"}],
        headline="2 companies now say: “s”",
        severity="high",
        tags=["hk"],
        trigger_seq=9,
    ),
    SourceGone(url="https://e.org/r", reason="http_410", checks=3, status=410, since="t"),
]


def stored(stream: str, event: Event, seq: int = 1, data: dict[str, Any] | None = None) -> Any:
    new = NewEvent.of(stream, event)
    if data is not None:
        new = dataclasses.replace(new, data=data, schema=0)
    return seal(
        new, seq=seq, version=seq, recorded_at="2026-01-01T00:00:00.000000Z", prev_hash="0" * 64
    )


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).__name__)
def test_each_event_round_trips_and_is_frozen(event: Event) -> None:
    assert decode(stored("$x", event)) == event
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.type = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        type(event)(*dataclasses.astuple(event))  # keyword-only


def test_recoveries_from_plain_failures_keep_their_stored_shape() -> None:
    assert SourceRecovered(failures=3, failing_since="t").to_data() == {
        "failures": 3,
        "failing_since": "t",
    }
    assert SourceRecovered(failures=0, failing_since="", gone_since="t").to_data()["gone_since"]


def test_an_older_review_schema_is_upgraded_on_read(monkeypatch: pytest.MonkeyPatch) -> None:
    def v0_to_v1(data: dict[str, Any]) -> dict[str, Any]:
        data["change_seq"] = data.pop("seq")
        data["by"] = data.pop("reviewer")
        return data

    monkeypatch.setitem(events.UPCASTERS, ("ChangeReviewed", 0), v0_to_v1)
    old = stored(
        "$reviews",
        SAMPLES[0],
        data={"seq": 7, "status": "important", "reviewer": "Ana", "note": ""},
    )
    assert decode(old) == ChangeReviewed(change_seq=7, status="important", by="Ana")
    status = fold_triage([old]).status(7)
    assert status is not None and (status.by, status.status) == ("Ana", "important")


def test_an_older_story_schema_is_upgraded_on_read(monkeypatch: pytest.MonkeyPatch) -> None:
    def v0_to_v1(data: dict[str, Any]) -> dict[str, Any]:
        data["story_id"] = data.pop("id")
        return data

    monkeypatch.setitem(events.UPCASTERS, ("StoryDetected", 0), v0_to_v1)
    data = SAMPLES[2].to_data()
    data["id"] = data.pop("story_id")
    book = fold_stories([stored("$stories", SAMPLES[2], data=data)])
    assert list(book.stories) == ["r:added:7"]

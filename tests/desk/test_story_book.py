"""The story decision, pure: companies, sides, windows, growth, and deciding twice."""

from __future__ import annotations

from typing import Any

from monitor.config.settings import StoriesSettings
from monitor.desk.stories import StoryBook
from monitor.events import (
    Capture,
    ChangeDetected,
    Event,
    NewEvent,
    SourceRegistered,
    StoredEvent,
    seal,
)

DAY = 24 * 3600


class Log:
    """A log in memory, sealed one event at a time, folded into a StoryBook."""

    def __init__(self, **settings: Any) -> None:
        self.book = StoryBook(settings=StoriesSettings(**settings))
        self.seq = 0
        self.prev = "0" * 64

    def add(self, stream: str, event: Event) -> StoredEvent:
        self.seq += 1
        stored = seal(
            NewEvent.of(stream, event),
            seq=self.seq,
            version=self.seq,
            recorded_at=f"2026-01-01T00:00:{self.seq:02d}.000000Z",
            prev_hash=self.prev,
        )
        self.prev = stored.hash
        self.book.apply(stored)
        return stored

    def source(self, source_id: str, company: str) -> None:
        self.add(source_id, SourceRegistered(settings={"company": company, "tags": ["t"]}))

    def change(self, source_id: str, day: int, side: str = "added", rule: str = "r") -> list[Any]:
        capture = Capture.of(
            {"fetched_at": f"2020-07-{day:02d}T00:00:00.000000Z", "text_sha256": "x"}
        )
        stored = self.add(
            source_id,
            ChangeDetected(
                capture=capture,
                previous="y",
                previous_seen_until="",
                diff={},
                classification="substantive",
                rules=[
                    {"rule_id": rule, "side": side, "severity": "high", "sentences": [source_id]}
                ],
                severity="high",
            ),
        )
        decided = self.book.decide(stored.seq)
        for event in decided:
            self.book.note_story(self.add("$stories", event))
        return [[m["company"] for m in e.members] for e in decided]


def test_two_companies_make_a_story_and_a_third_joins_it() -> None:
    log = Log()
    for sid, company in (("a", "A"), ("a2", "A"), ("b", "B"), ("c", "C")):
        log.source(sid, company)
    assert log.change("a", 1) == []
    assert log.change("a2", 2) == []  # the same company again is not a second company
    assert log.change("b", 3) == [["A", "B"]]
    assert log.change("c", 5) == [["A", "B", "C"]]
    assert log.change("b", 6) == []  # already a member
    (story,) = log.book.stories.values()
    assert story.story_id == "r:added:" + str(story.members[0]["seq"])


def test_sides_rules_and_windows_keep_stories_apart() -> None:
    log = Log(window=3 * DAY, min_companies=2)
    for sid in ("a", "b", "c", "d"):
        log.source(sid, sid.upper())
    assert log.change("a", 1, side="removed") == []
    assert log.change("b", 2, side="added") == []  # other side
    assert log.change("c", 2, side="removed", rule="other") == []  # other rule
    assert log.change("d", 9, side="removed") == []  # beyond the window of "a"
    assert log.change("c", 10, side="removed") == [["D", "C"]]
    (story,) = log.book.stories.values()
    assert story.headline.startswith("2 companies no longer say")


def test_deciding_a_change_again_records_nothing() -> None:
    log = Log()
    log.source("a", "A")
    log.source("b", "B")
    log.change("a", 1)
    assert log.change("b", 2) == [["A", "B"]]
    assert log.book.decide(log.seq - 1) == []  # the change that made the story


def test_past_ten_companies_a_story_is_recorded_each_time_it_doubles() -> None:
    log = Log()
    companies = [f"C{i:02d}" for i in range(25)]
    for company in companies:
        log.source(company.lower(), company)
    sizes = []
    for day, company in enumerate(companies, start=1):
        for members in log.change(company.lower(), min(day, 14)):
            sizes.append(len(members))
    # Every join up to ten companies, then the record at twenty lists the ten that
    # joined meanwhile too; 21-25 wait for forty.
    assert sizes == [2, 3, 4, 5, 6, 7, 8, 9, 10, 20]
    (story,) = log.book.stories.values()
    assert [m["company"] for m in story.members] == companies[:20]
    assert story.headline.startswith("20 companies now say")

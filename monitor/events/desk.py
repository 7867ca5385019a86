"""Events of the analyst's desk: figures of reports, reviews and notes, stories."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from monitor.events.base import Event, without
from monitor.events.capture import JsonObject


@dataclass(frozen=True, kw_only=True)
class FiguresPublished(Event):
    """A report's table holds rows for a period it did not hold before (``rows`` of them).

    ``change_seq`` is the seq of the capture (its ``ChangeDetected``) that showed them.
    The first capture of a source is its baseline: its periods are not "published".
    """

    type: ClassVar[str] = "FiguresPublished"
    change_seq: int
    period: str
    rows: int


@dataclass(frozen=True, kw_only=True)
class FiguresRestated(Event):
    """A figure of an already published row (``key``, ``period``) changed from ``old`` to ``new``.

    A row added to a period that was already published is recorded the same way, with
    ``old`` empty (not reported before). ``change_seq``: the capture that showed it.
    """

    type: ClassVar[str] = "FiguresRestated"
    change_seq: int
    key: list[str]
    period: str
    column: str
    old: str
    new: str


@dataclass(frozen=True, kw_only=True)
class FiguresWithdrawn(Event):
    """A published row (``key``, ``period``) is no longer in the report; ``values`` it had."""

    type: ClassVar[str] = "FiguresWithdrawn"
    change_seq: int
    key: list[str]
    period: str
    values: dict[str, str]


@dataclass(frozen=True, kw_only=True)
class ChangeReviewed(Event):
    """A named person judged the change at ``change_seq``: important, routine or noise.

    Stream ``$reviews``. The latest review of a change is its status; earlier ones
    stay in the log as its history. ``note`` says why, in the reviewer's words.
    """

    type: ClassVar[str] = "ChangeReviewed"
    change_seq: int
    status: str  # "important" | "routine" | "noise"
    by: str
    note: str = ""


@dataclass(frozen=True, kw_only=True)
class ChangeAnnotated(Event):
    """A named person attached a note to the change at ``change_seq`` (stream ``$reviews``)."""

    type: ClassVar[str] = "ChangeAnnotated"
    change_seq: int
    note: str
    by: str


@dataclass(frozen=True, kw_only=True)
class StoryDetected(Event):
    """The same rule matched the same side of changes at several companies within a window.

    Stream ``$stories``. ``members`` lists the changes in the order they happened
    (``{seq, source_id, company, at, sentence}``, one per company). A story that
    grows is recorded again under the same ``story_id`` with the longer list; the
    latest record of a story is the story.
    """

    type: ClassVar[str] = "StoryDetected"
    story_id: str
    rule_id: str
    side: str  # "added" | "removed"
    members: list[JsonObject]
    headline: str
    severity: str = "medium"
    tags: list[str] = field(default_factory=list)  # union of the members' source tags
    trigger_seq: int | None = None  # the change that made this record
    # Recorded while catching up on old changes (a first run on an existing log, a long
    # stop): a fact of the log, not news, so it is not alerted. Absent when False.
    catch_up: bool = False

    def to_data(self) -> JsonObject:
        return without(super().to_data(), "catch_up", absent=False)

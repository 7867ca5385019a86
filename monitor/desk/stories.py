"""Pure: the same move at several companies — stories, folded from the log and decided.

A *story* groups changes where the same rule matched the same side (added or
removed text) at ``min_companies`` or more companies within ``window`` seconds,
timed by when each capture was fetched (not when it was recorded, so a log
replayed from dated captures groups the same way). One member per company: the
first of its changes that matched.

``StoryBook.apply`` folds ``SourceRegistered`` / ``SourceUpdated`` (companies and
tags), ``ChangeDetected`` (candidates) and ``StoryDetected`` (recorded stories).
``StoryBook.decide(seq)`` returns the ``StoryDetected`` events a change calls for:

* an open story of the same rule and side whose first member is within the
  window of this change gains the change when its company is new to the story:
  the story is recorded again, same ``story_id``, one member more — up to
  ``EVERY_JOIN_UP_TO`` companies; past that, when it has doubled since its last
  record, with every company that joined meanwhile (``records_again``);
* otherwise, when the changes of that rule and side within the window before
  this one (this one included) come from enough companies, a new story starts
  (``story_id`` = rule, side and the first member's seq: deterministic);
* a change that already triggered a story (``trigger_seq``) calls for nothing,
  so deciding twice records once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from monitor.config.settings import SEVERITY_ORDER, StoriesSettings
from monitor.events import (
    STORY_EVENTS,
    ChangeDetected,
    SourceRegistered,
    SourceUpdated,
    StoredEvent,
    StoryDetected,
    names,
    parse_time,
)

STORY_TYPES = names(STORY_EVENTS)  # for store queries
SENTENCE_CHARS = 160
EVERY_JOIN_UP_TO = 10  # companies: a story is recorded again at each join up to this size


@dataclass(frozen=True, kw_only=True)
class Member:
    """One change of a story: who, when, and the sentence the rule matched."""

    seq: int
    source_id: str
    company: str
    at: str  # the capture's fetched_at
    sentence: str
    severity: str

    def to_data(self) -> dict[str, Any]:
        """The member as ``StoryDetected`` stores it: the story records one severity, its own."""
        data = asdict(self)
        del data["severity"]
        return data


@dataclass(frozen=True, kw_only=True)
class StoryRecord:
    """The latest record of a story in the log."""

    seq: int  # of the latest StoryDetected
    recorded_at: str
    first_seq: int  # of the first StoryDetected of this story
    first_recorded_at: str
    story_id: str
    rule_id: str
    side: str
    members: tuple[Mapping[str, Any], ...]
    headline: str
    severity: str
    tags: tuple[str, ...]

    @property
    def companies(self) -> list[str]:
        return [str(m.get("company") or m.get("source_id") or "") for m in self.members]


@dataclass
class StoryBook:
    """Candidates and recorded stories; see the module docstring."""

    settings: StoriesSettings = field(default_factory=StoriesSettings)
    companies: dict[str, str] = field(default_factory=dict)
    tags: dict[str, tuple[str, ...]] = field(default_factory=dict)
    candidates: dict[tuple[str, str], list[Member]] = field(default_factory=dict)
    changes: dict[int, list[tuple[str, str]]] = field(default_factory=dict)  # seq -> (rule, side)
    stories: dict[str, StoryRecord] = field(default_factory=dict)
    open: dict[tuple[str, str], str] = field(default_factory=dict)  # (rule, side) -> story_id
    triggered: set[int] = field(default_factory=set)
    head_seq: int = 0
    times: dict[int, datetime] = field(default_factory=dict)  # a candidate's ``at``, parsed once

    def apply(self, event: StoredEvent) -> None:
        if event.seq <= self.head_seq:
            return
        self.head_seq = event.seq
        match event.event:
            case SourceRegistered(settings=settings) | SourceUpdated(settings=settings):
                self.companies[event.stream] = str(settings.get("company") or "")
                self.tags[event.stream] = tuple(str(t) for t in settings.get("tags") or ())
            case ChangeDetected() as change:
                self._candidate(event, change)
            case StoryDetected() as story:
                self._story(event, story)

    def _candidate(self, event: StoredEvent, change: ChangeDetected) -> None:
        if change.classification != "substantive":
            return
        at = change.capture.fetched_at or event.recorded_at
        keys: list[tuple[str, str]] = []
        for match in change.rules:
            key = (str(match.get("rule_id") or ""), str(match.get("side") or ""))
            if not key[0] or key[1] not in ("added", "removed") or key in keys:
                continue
            keys.append(key)
            sentences = [str(s) for s in match.get("sentences") or () if s]
            member = Member(
                seq=event.seq,
                source_id=event.stream,
                company=self.companies.get(event.stream, ""),
                at=at,
                sentence=_clip(sentences[0]) if sentences else "",
                severity=str(match.get("severity") or change.severity or "medium"),
            )
            self.candidates.setdefault(key, []).append(member)
        if keys:
            self.changes[event.seq] = keys

    def note_story(self, event: StoredEvent) -> None:
        """Take in a story this process just recorded, before the fold reaches it.

        Later changes of the same pass must see it; folding it again is harmless.
        """
        if isinstance(story := event.event, StoryDetected):
            self._story(event, story)

    def _story(self, event: StoredEvent, story: StoryDetected) -> None:
        story_id = story.story_id
        first = self.stories.get(story_id)
        record = StoryRecord(
            seq=event.seq,
            recorded_at=event.recorded_at,
            first_seq=first.first_seq if first else event.seq,
            first_recorded_at=first.first_recorded_at if first else event.recorded_at,
            story_id=story_id,
            rule_id=story.rule_id,
            side=story.side,
            members=tuple(dict(m) for m in story.members),
            headline=story.headline,
            severity=story.severity or "medium",
            tags=tuple(str(t) for t in story.tags),
        )
        self.stories[story_id] = record
        self.open[(record.rule_id, record.side)] = story_id
        if story.trigger_seq is not None:
            self.triggered.add(story.trigger_seq)

    def digest(self) -> str:
        """A stable hash of the recorded stories, to compare a replay with the live view."""
        rows = [
            [s.story_id, s.seq, s.first_seq, s.rule_id, s.side, [dict(m) for m in s.members]]
            for s in sorted(self.stories.values(), key=lambda r: r.story_id)
        ]
        blob = json.dumps(rows, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()

    # ----------------------------------------------------------------- deciding

    def decide(self, seq: int) -> list[StoryDetected]:
        """The story events the change at ``seq`` (already applied) calls for."""
        if seq in self.triggered:
            return []
        out: list[StoryDetected] = []
        for key in self.changes.get(seq, ()):
            # Searched from the end: the change being decided is the latest one folded.
            member = next(m for m in reversed(self.candidates[key]) if m.seq == seq)
            event = self._decide_one(key, member)
            if event is not None:
                out.append(event)
        return out

    def _decide_one(self, key: tuple[str, str], member: Member) -> StoryDetected | None:
        window = self.settings.window
        at = self._time(member)
        story_id = self.open.get(key)
        story = self.stories.get(story_id) if story_id is not None else None
        if story is not None and story.members:
            first_at = parse_time(str(story.members[0].get("at")))
            if 0 <= (at - first_at).total_seconds() <= window:
                known = {_company_key(m.get("company"), m.get("source_id")) for m in story.members}
                if _company_key(member.company, member.source_id) in known:
                    return None
                joined = [member]
                if len(story.members) >= EVERY_JOIN_UP_TO:
                    joined = self._joined(key, story, known, first_at)
                    if not records_again(len(story.members), len(story.members) + len(joined)):
                        return None
                members = [*story.members, *(m.to_data() for m in joined)]
                return self._event(story.story_id, key, members, member.seq)
        chosen: dict[str, Member] = {}
        for candidate in sorted(self.candidates[key], key=lambda m: (m.at, m.seq)):
            delta = (at - self._time(candidate)).total_seconds()
            if not 0 <= delta <= window:
                continue
            chosen.setdefault(_company_key(candidate.company, candidate.source_id), candidate)
        if len(chosen) < self.settings.min_companies:
            return None
        if _company_key(member.company, member.source_id) not in chosen:
            return None
        ordered = sorted(chosen.values(), key=lambda m: (m.at, m.seq))
        story_id = f"{key[0]}:{key[1]}:{ordered[0].seq}"
        return self._event(story_id, key, [m.to_data() for m in ordered], member.seq)

    def _joined(
        self, key: tuple[str, str], story: StoryRecord, known: set[str], first_at: datetime
    ) -> list[Member]:
        """The companies' first changes that joined ``story`` since it was last recorded.

        A story past ``EVERY_JOIN_UP_TO`` is recorded when it has doubled, so the
        companies that joined in between are the candidates within its window whose
        company it does not list; the candidates older than its earliest member were
        all weighed when it started. Depends on the log alone, as a replay must.
        """
        earliest = min(int(m.get("seq") or 0) for m in story.members)
        joined: dict[str, Member] = {}
        for candidate in reversed(self.candidates[key]):
            if candidate.seq <= earliest:
                break
            company = _company_key(candidate.company, candidate.source_id)
            if company in known:
                continue
            delta = (self._time(candidate) - first_at).total_seconds()
            first = joined.get(company)
            if 0 <= delta <= self.settings.window and (
                first is None or (candidate.at, candidate.seq) <= (first.at, first.seq)
            ):
                joined[company] = candidate  # a company's first change, as a story starts
        return sorted(joined.values(), key=lambda m: (m.at, m.seq))

    def _time(self, member: Member) -> datetime:
        found = self.times.get(member.seq)
        if found is None:
            found = self.times[member.seq] = parse_time(member.at)
        return found

    def _event(
        self, story_id: str, key: tuple[str, str], members: list[Mapping[str, Any]], trigger: int
    ) -> StoryDetected:
        chosen = {int(x["seq"]) for x in members}  # once: a story may have many members
        severities = [m.severity for m in self.candidates.get(key, ()) if m.seq in chosen]
        severity = max(severities or ["medium"], key=lambda s: SEVERITY_ORDER.get(s, 0))
        tags = sorted({t for m in members for t in self.tags.get(str(m["source_id"]), ())})
        return StoryDetected(
            story_id=story_id,
            rule_id=key[0],
            side=key[1],
            members=[dict(m) for m in members],
            headline=headline(key[0], key[1], members),
            severity=severity,
            tags=tags,
            trigger_seq=trigger,
        )


def records_again(recorded: int, now: int) -> bool:
    """Whether a story recorded with ``recorded`` members is recorded again at ``now``.

    At each join while it is small; past ``EVERY_JOIN_UP_TO`` companies, each time it
    has doubled. A record lists every member, so recording each join of a story that
    grows to n companies writes n²/2 members and sends n alerts: a rule that matches
    a change made across a whole site of sources without ``company`` (each its own
    company) would write hundreds of megabytes. Doubling keeps it to about 2n members
    and a handful of alerts, and every change still has its own alert.
    """
    return now <= EVERY_JOIN_UP_TO or now >= 2 * recorded


def _company_key(company: object, source_id: object) -> str:
    return str(company or "").casefold() or f"source:{source_id}"


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SENTENCE_CHARS else text[: SENTENCE_CHARS - 1] + "…"


def headline(rule_id: str, side: str, members: Iterable[Mapping[str, Any]]) -> str:
    """ "3 companies now say: “…”" — what the alert and the story page lead with."""
    listed = list(members)
    sentence = next((str(m.get("sentence")) for m in listed if m.get("sentence")), "")
    verb = "now say" if side == "added" else "no longer say"
    said = f"“{sentence}”" if sentence else f"what rule {rule_id} looks for"
    return f"{len(listed)} companies {verb}: {said} (rule {rule_id}, {side} text)"


def fold_stories(
    events: Iterable[StoredEvent], settings: StoriesSettings | None = None
) -> StoryBook:
    book = StoryBook(settings=settings or StoriesSettings())
    for event in events:
        book.apply(event)
    return book

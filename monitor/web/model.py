"""The web view's read model: what the pages, feeds and API show, folded from the log.

Pure: ``ReadModel.apply(event)`` takes one stored event and updates in-memory
indexes; nothing here reads the store, the clock or the network. The web shell
(``monitor.web.context.LogFollower``) feeds it every event once at start-up and then
only the events after ``head_seq``, so a daemon writing to the same database in
another process shows up on the next request. The values it holds are in
``monitor.web.records`` (timeline lines: ``monitor.web.timeline``), the ``/metrics``
totals in ``monitor.web.counters``.

Invariants:

* events are applied in ``seq`` order, each exactly once (``apply`` ignores a
  seq at or below ``head_seq``), so the model equals a fold of the log prefix
  ``1..head_seq``;
* source detection state comes from ``monitor.core.projections.apply`` — the same
  fold the pipeline and ``monitor replay`` use — never from a second copy of
  those rules;
* only small summaries are held per event; full event data (diffs, captures)
  is read from the store by ``seq`` when a page needs it, so memory grows with
  the number of changes, not with their size;
* an event this version cannot read is logged and skipped, never fatal: one odd
  line in the log must not take the whole view down.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from monitor.config.settings import QUIET_CLASSES, SEVERITY_ORDER
from monitor.core.projections import SourceState, apply
from monitor.desk.stories import StoryBook
from monitor.desk.summaries import change_summary
from monitor.desk.triage import TriageBook
from monitor.discover import discover_id_of
from monitor.discover.state import DiscoveryState
from monitor.discover.state import apply as apply_discovery
from monitor.events import (
    ALERT_EVENTS,
    CAPTURE_EVENTS,
    FETCH_DEFERRED,
    GOOD_CAPTURES,
    NOTIFICATION_EVENTS,
    REVIEW_EVENTS,
    STAMP_EVENTS,
    STORY_EVENTS,
    BaselineCaptured,
    ChangeDetected,
    ChangePending,
    CheckpointTimestamped,
    ContentConfirmed,
    ContentSuspect,
    Event,
    FetchFailed,
    NotificationFailed,
    NotificationSent,
    StoredEvent,
    StoryDetected,
    ThirdPartyCaptured,
    ThirdPartyCaptureFailed,
    TimestampFailed,
)
from monitor.web.counters import Counters
from monitor.web.records import (
    STATUSES,
    ChangeRecord,
    GoodCapture,
    NotificationRecord,
    SourceView,
    TimelineEntry,
)
from monitor.web.timeline import timeline_entry

log = logging.getLogger(__name__)

# Check outcomes as far as the log records them: unchanged checks leave no event
# except a periodic ContentConfirmed, so "unchanged" counts confirmations.
CHECK_OUTCOMES: dict[type[Event], str] = {
    BaselineCaptured: "baseline",
    ContentConfirmed: "unchanged",
    ContentSuspect: "suspect",
    FetchFailed: "failed",
    ChangePending: "pending",  # a new text waiting for `confirm` sightings
}
SEARCH_CHARS = 20_000  # per change: the summary, sentences and changed blocks searched by ?q=


AUDIT_OUTCOMES: dict[type[Event], str] = {
    CheckpointTimestamped: "stamped",
    TimestampFailed: "failed",
    ThirdPartyCaptured: "captured",
    ThirdPartyCaptureFailed: "failed",
}


@dataclass(frozen=True, kw_only=True)
class Filters:
    """What a dashboard, change list or API query narrows to; empty strings mean "any"."""

    company: str = ""
    tag: str = ""
    rule: str = ""
    severity: str = ""  # at least this severity
    status: str = ""
    source: str = ""
    classification: str = ""
    q: str = ""

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> Filters:
        """Filters from query parameters; ValueError names a parameter with a bad value."""
        values = {name: query.get(name, "").strip() for name in _FILTER_NAMES}
        if values["severity"] and values["severity"] not in SEVERITY_ORDER:
            raise ValueError(
                f"severity must be one of {', '.join(SEVERITY_ORDER)}, not {values['severity']!r}"
            )
        if values["status"] and values["status"] not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}")
        return cls(**values)

    @property
    def active(self) -> bool:
        return any(getattr(self, name) for name in _FILTER_NAMES)

    @property
    def narrows_changes(self) -> bool:
        """Whether a source must have a matching change to be listed."""
        return bool(self.rule or self.severity or self.q or self.classification)

    def as_query(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in _FILTER_NAMES if getattr(self, name)}


_FILTER_NAMES = ("company", "tag", "rule", "severity", "status", "source", "classification", "q")


class ReadModel:
    """Indexes over the log for the web view; see the module docstring."""

    def __init__(self) -> None:
        self.head_seq = 0
        self.head_recorded_at: str | None = None
        self.last_check_at: str | None = None
        self.sources: dict[str, SourceView] = {}
        self.changes: dict[int, ChangeRecord] = {}  # insertion order is seq order
        self.notifications: dict[int, list[NotificationRecord]] = {}
        self.counters = Counters()
        self.text_blobs: set[str] = set()
        self.raw_blobs: set[str] = set()
        self.screenshot_blobs: set[str] = set()  # the only blobs /screenshots/ may serve
        self._notifiable: dict[int, str] = {}  # seq -> source of events alerts are about
        self.discoveries: dict[str, DiscoveryState] = {}  # [[discover]] id -> what it found
        self.triage = TriageBook()  # reviews and notes ($reviews), the same fold as replay
        self.stories = StoryBook()  # stories across companies ($stories), as replay folds them

    # ----------------------------------------------------------------- folding

    def apply_all(self, events: Iterable[StoredEvent]) -> None:
        for event in events:
            self.apply(event)

    def apply(self, event: StoredEvent) -> None:
        if event.seq <= self.head_seq:
            return
        self.head_seq = event.seq
        self.head_recorded_at = event.recorded_at
        self.counters.events[event.type] += 1
        try:
            self._apply(event, event.event)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            self.counters.unreadable += 1
            log.warning("web view skips seq %d (%s): %r", event.seq, event.type, exc)

    def _apply(self, stored: StoredEvent, event: Event) -> None:
        if isinstance(event, STORY_EVENTS):
            self.stories.apply(stored)
            if isinstance(event, StoryDetected):
                return
        if isinstance(event, REVIEW_EVENTS):
            self.triage.apply(stored)
            return
        if isinstance(event, NOTIFICATION_EVENTS):
            self._apply_notification(stored, event)
            if stored.stream.startswith("$"):
                return
        entry_id = discover_id_of(stored.stream)
        if entry_id is not None:
            found = self.discoveries.get(entry_id) or DiscoveryState(discover_id=entry_id)
            self.discoveries[entry_id] = apply_discovery(found, stored)
            return
        if stored.stream.startswith("$"):
            self._count_audit(event)
            return
        view = self.sources.get(stored.stream)
        if view is None:
            view = SourceView(source_id=stored.stream, state=SourceState(source_id=stored.stream))
            self.sources[stored.stream] = view
        view.state = apply(view.state, stored)
        if isinstance(event, NOTIFICATION_EVENTS):
            return  # already on the timeline of the source it is about
        if isinstance(event, ALERT_EVENTS):
            self._notifiable[stored.seq] = stored.stream
        self._count_check(stored, event, view)
        if isinstance(event, CAPTURE_EVENTS):
            self._note_capture(stored, event, view)
        if isinstance(event, ChangeDetected):
            self._apply_change(stored, event, view)
        view.timeline.append(timeline_entry(stored, event))

    def _count_audit(self, event: Event) -> None:
        outcome = AUDIT_OUTCOMES.get(type(event))
        if outcome is None:
            return
        if isinstance(event, STAMP_EVENTS):
            self.counters.timestamps[(outcome, event.tsa)] += 1
        elif isinstance(event, ThirdPartyCaptured | ThirdPartyCaptureFailed):
            self.counters.third_party[(outcome, event.archive)] += 1

    def _count_check(self, stored: StoredEvent, event: Event, view: SourceView) -> None:
        outcome = CHECK_OUTCOMES.get(type(event))
        deferred = isinstance(event, FetchFailed) and event.error == FETCH_DEFERRED
        if deferred:
            outcome = "deferred"  # the host asked for quiet: not asked, not a failed fetch
        if isinstance(event, ChangeDetected):
            kind = event.classification
            outcome = (
                "changed"
                if kind == "substantive"
                else ("quiet" if kind in QUIET_CLASSES else "reverted")
            )
        if outcome is None:
            return
        self.counters.checks[outcome] += 1
        if isinstance(event, FetchFailed) and not deferred:
            self.counters.fetch_failures[event.error or "unknown"] += 1
        when = event.fetched_at if isinstance(event, FetchFailed | ContentConfirmed) else ""
        if isinstance(event, CAPTURE_EVENTS):
            when = event.capture.fetched_at
            elapsed = event.capture.data.get("elapsed_ms")
            if isinstance(elapsed, int) and elapsed >= 0:
                self.counters.durations.observe(elapsed)
        checked = when or stored.recorded_at
        if view.last_check_at is None or checked > view.last_check_at:
            view.last_check_at = checked
        if self.last_check_at is None or checked > self.last_check_at:
            self.last_check_at = checked

    def _note_capture(
        self,
        stored: StoredEvent,
        event: BaselineCaptured | ChangeDetected | ContentSuspect | ChangePending,
        view: SourceView,
    ) -> None:
        capture = event.capture
        text_sha, raw_sha = capture.text_sha256, capture.raw_sha256
        shot_sha = capture.screenshot_sha256
        if text_sha:
            self.text_blobs.add(text_sha)
        if raw_sha:
            self.raw_blobs.add(raw_sha)
        if shot_sha:
            self.screenshot_blobs.add(shot_sha)
        if isinstance(event, GOOD_CAPTURES):
            view.captures.append(
                GoodCapture(
                    seq=stored.seq,
                    kind="change" if isinstance(event, ChangeDetected) else "baseline",
                    recorded_at=stored.recorded_at,
                    fetched_at=capture.fetched_at or stored.recorded_at,
                    text_sha256=text_sha,
                    raw_sha256=raw_sha,
                    screenshot_sha256=shot_sha,
                )
            )

    def _apply_change(self, stored: StoredEvent, change: ChangeDetected, view: SourceView) -> None:
        diff = change.diff
        summary = change_summary(change)
        rules = tuple(str(r.get("rule_id", "")) for r in change.rules)
        search = _search_text(summary, diff, change.rules)
        classification = change.classification or "substantive"
        severity = change.severity or "info"
        stats = diff.get("stats") or {}
        record = ChangeRecord(
            seq=stored.seq,
            event_id=stored.event_id,
            source_id=stored.stream,
            recorded_at=stored.recorded_at,
            fetched_at=change.capture.fetched_at or stored.recorded_at,
            classification=classification,
            severity=severity,
            rules=tuple(r for r in rules if r),
            summary=summary,
            stats={str(k): int(v) for k, v in stats.items() if isinstance(v, int)},
            text_sha256=change.capture.text_sha256,
            previous=change.previous,
            search_text=search,
            silent=change.silent,
        )
        self.changes[stored.seq] = record
        self.text_blobs.add(record.previous)
        view.change_seqs.append(stored.seq)
        self.counters.changes[classification] += 1
        self.counters.changes_by_severity[severity] += 1

    def _apply_notification(
        self, stored: StoredEvent, event: NotificationSent | NotificationFailed
    ) -> None:
        sent = isinstance(event, NotificationSent)
        channel = event.channel
        for_seq = event.for_seq
        record = NotificationRecord(
            seq=stored.seq,
            recorded_at=stored.recorded_at,
            sent=sent,
            channel=channel,
            attempt=event.attempt or 1,
            error=event.error if isinstance(event, NotificationFailed) else "",
            final=isinstance(event, NotificationFailed) and event.final,
        )
        self.notifications.setdefault(for_seq, []).append(record)
        self.counters.notifications[("sent" if sent else "failed", channel)] += 1
        about = self._notifiable.get(for_seq)
        view = self.sources.get(about) if about is not None else None
        if view is None:
            return
        if sent:
            headline = f"Notification sent to {channel}"
            detail = f"about event #{for_seq}, attempt {record.attempt}"
        else:
            headline = f"Notification to {channel} failed" + (" for good" if record.final else "")
            detail = f"about event #{for_seq}, attempt {record.attempt}: {record.error}"
        view.timeline.append(
            TimelineEntry(
                seq=stored.seq,
                type=stored.type,
                recorded_at=stored.recorded_at,
                headline=headline,
                detail=detail,
                change_seq=for_seq if for_seq in self.changes else None,
            )
        )

    # ----------------------------------------------------------------- queries

    def source(self, source_id: str) -> SourceView | None:
        return self.sources.get(source_id)

    def companies(self) -> list[str]:
        return sorted({v.company for v in self.sources.values() if v.company}, key=str.casefold)

    def tags(self) -> list[str]:
        return sorted({t for v in self.sources.values() for t in v.tags}, key=str.casefold)

    def rule_ids(self) -> list[str]:
        return sorted({r for c in self.changes.values() for r in c.rules})

    def change_matches(self, change: ChangeRecord, filters: Filters) -> bool:
        view = self.sources.get(change.source_id)
        if filters.source and change.source_id != filters.source:
            return False
        if view is not None and not _source_attrs_match(view, filters):
            return False
        if view is None and (filters.company or filters.tag or filters.status):
            return False
        if filters.rule and filters.rule not in change.rules:
            return False
        if filters.classification and change.classification != filters.classification:
            return False
        if filters.severity and SEVERITY_ORDER.get(change.severity, 0) < SEVERITY_ORDER.get(
            filters.severity, 0
        ):
            return False
        wanted = " ".join(filters.q.split()).casefold()
        return not (wanted and wanted not in change.search_text)

    def filter_changes(
        self,
        filters: Filters,
        *,
        before: int | None = None,
        limit: int | None = None,
        loud_only: bool = False,
    ) -> list[ChangeRecord]:
        """Matching changes, newest first, with ``seq < before``.

        ``loud_only``: leave out changes recorded silent (quiet classes: feeds).
        """
        found: list[ChangeRecord] = []
        for seq in reversed(self.changes):
            if before is not None and seq >= before:
                continue
            change = self.changes[seq]
            if loud_only and change.silent:
                continue
            if self.change_matches(change, filters):
                found.append(change)
                if limit is not None and len(found) >= limit:
                    break
        return found

    def filter_sources(self, filters: Filters) -> list[SourceView]:
        """Matching sources, by company then title."""
        found = []
        for view in self.sources.values():
            if filters.source and view.source_id != filters.source:
                continue
            if not _source_attrs_match(view, filters):
                continue
            if filters.narrows_changes and not any(
                self.change_matches(self.changes[seq], filters) for seq in view.change_seqs
            ):
                continue
            found.append(view)
        found.sort(key=lambda v: (v.company.casefold(), v.title.casefold(), v.source_id))
        return found

    def grouped(self, filters: Filters) -> list[tuple[str, list[SourceView]]]:
        """Matching sources grouped by company (sources without one come last)."""
        groups: dict[str, list[SourceView]] = {}
        for view in self.filter_sources(filters):
            groups.setdefault(view.company, []).append(view)
        named = sorted((c for c in groups if c), key=str.casefold)
        return [(c, groups[c]) for c in named] + ([("", groups[""])] if "" in groups else [])

    def status_counts(self) -> Counter[str]:
        return Counter(v.status for v in self.sources.values())


def _search_text(summary: str, diff: Mapping[str, Any], rules: list[Any]) -> str:
    """What ``?q=`` looks in: the summary, matched sentences, then the changed blocks."""
    parts = [summary]
    for rule in rules:
        parts += [str(s) for s in rule.get("sentences") or []]
    for change in diff.get("changes") or []:
        parts += [str(change.get(side) or "") for side in ("old", "new")]
    parts += [str(w) for w in (diff.get("added") or []) + (diff.get("removed") or [])]
    text = "\n".join(p for p in parts if p)
    return " ".join(text[:SEARCH_CHARS].split()).casefold()


def _source_attrs_match(view: SourceView, filters: Filters) -> bool:
    if filters.company and view.company.casefold() != filters.company.casefold():
        return False
    if filters.tag and filters.tag not in view.tags:
        return False
    return not (filters.status and view.status != filters.status)

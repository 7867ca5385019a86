"""The web view's read model: what the pages, feeds and API show, folded from the log.

Pure: ``ReadModel.apply(event)`` takes one stored event and updates in-memory
indexes; nothing here reads the store, the clock or the network. The web shell
(``monitor.web.context.LogFollower``) feeds it every event once at start-up and then
only the events after ``head_seq``, so a daemon writing to the same database in
another process shows up on the next request. The values it holds are in
``monitor.web.records``, the ``/metrics`` totals in ``monitor.web.counters``.

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
from monitor.desk.stories import STORY_TYPES, StoryBook
from monitor.desk.summaries import change_summary
from monitor.desk.triage import REVIEW_TYPES, TriageBook
from monitor.discover import discover_id_of
from monitor.discover.state import DiscoveryState
from monitor.discover.state import apply as apply_discovery
from monitor.events import FIGURES_EVENTS, StoredEvent, upcast
from monitor.figures.history import describe_fact
from monitor.web.counters import Counters
from monitor.web.records import (
    STATUSES,
    ChangeRecord,
    GoodCapture,
    NotificationRecord,
    SourceView,
    TimelineEntry,
)

log = logging.getLogger(__name__)

# Check outcomes as far as the log records them: unchanged checks leave no event
# except a periodic ContentConfirmed, so "unchanged" counts confirmations.
CHECK_OUTCOMES: dict[str, str] = {
    "BaselineCaptured": "baseline",
    "ContentConfirmed": "unchanged",
    "ContentSuspect": "suspect",
    "FetchFailed": "failed",
    "ChangePending": "pending",  # a new text waiting for `confirm` sightings
}
CAPTURE_TYPES = ("BaselineCaptured", "ChangeDetected")
NOTIFIABLE_TYPES = (
    "ChangeDetected",
    "ContentSuspect",
    "FetchFailed",
    "SourceRecovered",
    "SourceGone",
)
NOTIFICATION_TYPES = ("NotificationSent", "NotificationFailed")
SEARCH_CHARS = 20_000  # per change: the summary, sentences and changed blocks searched by ?q=


AUDIT_OUTCOMES = {
    "CheckpointTimestamped": "stamped",
    "TimestampFailed": "failed",
    "ThirdPartyCaptured": "captured",
    "ThirdPartyCaptureFailed": "failed",
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
            _, data = upcast(event.type, event.schema, event.data)
            self._apply(event, data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            self.counters.unreadable += 1
            log.warning("web view skips seq %d (%s): %r", event.seq, event.type, exc)

    def _apply(self, event: StoredEvent, data: Mapping[str, Any]) -> None:
        if event.type in STORY_TYPES:
            self.stories.apply(event)
            if event.type == "StoryDetected":
                return
        if event.type in REVIEW_TYPES:
            self.triage.apply(event)
            return
        if event.type in NOTIFICATION_TYPES:
            self._apply_notification(event, data)
            if event.stream.startswith("$"):
                return
        entry_id = discover_id_of(event.stream)
        if entry_id is not None:
            found = self.discoveries.get(entry_id) or DiscoveryState(discover_id=entry_id)
            self.discoveries[entry_id] = apply_discovery(found, event)
            return
        if event.stream.startswith("$"):
            self._count_audit(event.type, data)
            return
        view = self.sources.get(event.stream)
        if view is None:
            view = SourceView(source_id=event.stream, state=SourceState(source_id=event.stream))
            self.sources[event.stream] = view
        view.state = apply(view.state, event)
        if event.type in NOTIFICATION_TYPES:
            return  # already on the timeline of the source it is about
        if event.type in NOTIFIABLE_TYPES:
            self._notifiable[event.seq] = event.stream
        self._count_check(event, data, view)
        capture = data.get("capture")
        if isinstance(capture, Mapping):
            self._note_capture(event, capture, view)
        if event.type == "ChangeDetected":
            self._apply_change(event, data, view)
        view.timeline.append(_timeline_entry(event, data))

    def _count_audit(self, kind: str, data: Mapping[str, Any]) -> None:
        outcome = AUDIT_OUTCOMES.get(kind)
        if outcome is None:
            return
        if kind in ("CheckpointTimestamped", "TimestampFailed"):
            self.counters.timestamps[(outcome, str(data.get("tsa", "")))] += 1
        else:
            self.counters.third_party[(outcome, str(data.get("archive", "")))] += 1

    def _count_check(self, event: StoredEvent, data: Mapping[str, Any], view: SourceView) -> None:
        outcome = CHECK_OUTCOMES.get(event.type)
        deferred = event.type == "FetchFailed" and data.get("error") == "deferred"
        if deferred:
            outcome = "deferred"  # the host asked for quiet: not asked, not a failed fetch
        if event.type == "ChangeDetected":
            kind = data.get("classification")
            outcome = (
                "changed"
                if kind == "substantive"
                else ("quiet" if kind in QUIET_CLASSES else "reverted")
            )
        if outcome is None:
            return
        self.counters.checks[outcome] += 1
        if event.type == "FetchFailed" and not deferred:
            self.counters.fetch_failures[str(data.get("error") or "unknown")] += 1
        capture = data.get("capture")
        when = data.get("fetched_at")
        if isinstance(capture, Mapping):
            when = capture.get("fetched_at")
            elapsed = capture.get("elapsed_ms")
            if isinstance(elapsed, int) and elapsed >= 0:
                self.counters.durations.observe(elapsed)
        checked = str(when) if when else event.recorded_at
        if view.last_check_at is None or checked > view.last_check_at:
            view.last_check_at = checked
        if self.last_check_at is None or checked > self.last_check_at:
            self.last_check_at = checked

    def _note_capture(
        self, event: StoredEvent, capture: Mapping[str, Any], view: SourceView
    ) -> None:
        text_sha = str(capture.get("text_sha256") or "")
        raw_sha = str(capture.get("raw_sha256") or "")
        shot_sha = str(capture.get("screenshot_sha256") or "")
        if text_sha:
            self.text_blobs.add(text_sha)
        if raw_sha:
            self.raw_blobs.add(raw_sha)
        if shot_sha:
            self.screenshot_blobs.add(shot_sha)
        if event.type in CAPTURE_TYPES:
            view.captures.append(
                GoodCapture(
                    seq=event.seq,
                    kind="change" if event.type == "ChangeDetected" else "baseline",
                    recorded_at=event.recorded_at,
                    fetched_at=str(capture.get("fetched_at") or event.recorded_at),
                    text_sha256=text_sha,
                    raw_sha256=raw_sha,
                    screenshot_sha256=shot_sha,
                )
            )

    def _apply_change(self, event: StoredEvent, data: Mapping[str, Any], view: SourceView) -> None:
        diff = data.get("diff") or {}
        capture = data["capture"]
        summary = change_summary(data)
        rules = tuple(str(r.get("rule_id", "")) for r in data.get("rules") or [])
        search = _search_text(summary, diff, data.get("rules") or [])
        classification = str(data.get("classification") or "substantive")
        severity = str(data.get("severity") or "info")
        stats = diff.get("stats") or {}
        record = ChangeRecord(
            seq=event.seq,
            event_id=event.event_id,
            source_id=event.stream,
            recorded_at=event.recorded_at,
            fetched_at=str(capture.get("fetched_at") or event.recorded_at),
            classification=classification,
            severity=severity,
            rules=tuple(r for r in rules if r),
            summary=summary,
            stats={str(k): int(v) for k, v in stats.items() if isinstance(v, int)},
            text_sha256=str(capture.get("text_sha256") or ""),
            previous=str(data.get("previous") or ""),
            search_text=search,
            silent=bool(data.get("silent")),
        )
        self.changes[event.seq] = record
        self.text_blobs.add(record.previous)
        view.change_seqs.append(event.seq)
        self.counters.changes[classification] += 1
        self.counters.changes_by_severity[severity] += 1

    def _apply_notification(self, event: StoredEvent, data: Mapping[str, Any]) -> None:
        sent = event.type == "NotificationSent"
        channel = str(data.get("channel") or "")
        for_seq = int(data["for_seq"])
        record = NotificationRecord(
            seq=event.seq,
            recorded_at=event.recorded_at,
            sent=sent,
            channel=channel,
            attempt=int(data.get("attempt") or 1),
            error=str(data.get("error") or ""),
            final=bool(data.get("final")),
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
                seq=event.seq,
                type=event.type,
                recorded_at=event.recorded_at,
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


def _timeline_entry(event: StoredEvent, data: Mapping[str, Any]) -> TimelineEntry:
    """A one-line, human description of a source event."""
    kind = event.type
    headline, detail, severity, change_seq = kind, "", None, None
    if kind == "SourceRegistered":
        headline, detail = "Registered", str(data["settings"].get("url", ""))
    elif kind == "SourceUpdated":
        headline = "Settings changed"
        detail = ", ".join(str(k) for k in data.get("changed") or [])
    elif kind == "SourceRemoved":
        headline, detail = "Removed", str(data.get("reason") or "")
    elif kind == "BaselineCaptured":
        capture = data["capture"]
        headline = "Baseline captured"
        detail = f"{capture.get('text_chars', 0)} characters, HTTP {capture.get('status', '?')}"
    elif kind == "ChangeDetected":
        classification = str(data.get("classification") or "")
        headline = "Reverted change" if classification == "reverted" else "Change"
        if classification in QUIET_CLASSES:
            headline = f"Change ({classification}{', not alerted' if data.get('silent') else ''})"
        detail = change_summary(data)
        severity, change_seq = str(data.get("severity") or "info"), event.seq
    elif kind == "ContentConfirmed":
        headline = "Unchanged"
        detail = f"confirmed after {data.get('checks_since_last_event', 1)} checks"
    elif kind == "ContentSuspect":
        headline = f"Suspect capture: {data.get('reason', '')}"
        detail = str(data.get("detail") or "")
    elif kind == "FetchFailed" and data.get("error") == "deferred":
        headline = "Deferred: the host asked for quiet"
        detail = str(data.get("message", ""))
    elif kind == "FetchFailed":
        status = data.get("status")
        headline = f"Fetch failed: {data.get('error', '')}" + (
            f" (HTTP {status})" if status else ""
        )
        detail = (
            f"{data.get('message', '')} — failure {data.get('consecutive_failures', 1)} in a row"
        )
    elif kind == "VolatilityLearned":
        headline = "Learned a volatile block"
        detail = f"changed on {data.get('changes', '?')} checks in a row: {data.get('example', '')}"
    elif kind == "VolatilityUnlearned":
        headline = "Unlearned a volatile block"
        detail = f"unchanged on {data.get('quiet_checks', '?')} checks"
    elif kind == "SourceRecovered" and data.get("gone_since"):
        headline = "Back"
        detail = f"the page had been gone since {data['gone_since']}"
    elif kind == "SourceRecovered":
        headline = "Recovered"
        detail = f"after {data.get('failures', 0)} failures since {data.get('failing_since', '')}"
    elif kind == "SourceMoved":
        how = "permanent redirect" if data.get("how") == "redirect" else "canonical link"
        headline = f"Moved ({how})"
        detail = f"{data.get('from_url', '')} → {data.get('to_url', '')}"
        severity = "low"
    elif kind in FIGURES_EVENTS:
        headline, detail = describe_fact(kind, dict(data))
        change_seq = int(data["change_seq"])
    elif kind == "SourceGone":
        reason = str(data.get("reason") or "")
        headline = "Gone: " + (
            f"redirects to {data.get('final_url')}" if reason == "redirected" else reason
        )
        detail = f"on {data.get('checks', 0)} checks in a row since {data.get('since') or '?'}"
        severity = "high"
    return TimelineEntry(
        seq=event.seq,
        type=kind,
        recorded_at=event.recorded_at,
        headline=headline,
        detail=detail,
        severity=severity,
        change_seq=change_seq,
    )

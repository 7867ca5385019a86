"""What one check did, in one line: for ``monitor check``'s output and the daemon's log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from monitor.core.classify import Failed, NotModified, Outcome
from monitor.events import (
    FETCH_DEFERRED,
    BaselineCaptured,
    ChangeDetected,
    ChangePending,
    ContentSuspect,
    Event,
    FiguresPublished,
    FiguresRestated,
    FiguresWithdrawn,
    SourceMoved,
    SourceRecovered,
    StoredEvent,
)


@dataclass(frozen=True, kw_only=True)
class CheckReport:
    """What one check did, for the one-line CLI output and the daemon's log."""

    source_id: str
    # baseline | changed | reverted | volatile | dated | chrome | pending | unchanged | suspect
    # | failed | deferred
    outcome: str
    detail: str
    events: tuple[StoredEvent, ...] = ()

    def line(self) -> str:
        return f"{self.source_id:<32} {self.outcome:<10} {self.detail}"


def _figures_note(events: Sequence[Event]) -> str:
    """`` [figures: 1 published, 1 restated]`` when the check recorded figures facts."""
    counts = [
        f"{n} {word}"
        for kind, word in (
            (FiguresPublished, "published"),
            (FiguresRestated, "restated"),
            (FiguresWithdrawn, "withdrawn"),
        )
        if (n := sum(isinstance(e, kind) for e in events))
    ]
    return f" [figures: {', '.join(counts)}]" if counts else ""


def _capture_outcome(event: Event, typed: Sequence[Event]) -> tuple[str, str] | None:
    """(outcome, detail) of a check that recorded ``event`` about its capture, or None."""
    match event:
        case ChangeDetected() as change:
            summary = change.diff.get("summary", "")
            # A rule can match on both sides (on = "any"): name it once.
            rules = ", ".join(dict.fromkeys(r["rule_id"] for r in change.rules))
            detail = summary + (f" [rules: {rules}]" if rules else "") + _figures_note(typed)
            kind = change.classification
            return ("changed" if kind == "substantive" else kind), detail
        case ContentSuspect(reason=reason, detail=why):
            return "suspect", f"{reason}: {why}"
        case ChangePending(seen=seen, needed=needed):
            return "pending", f"new text seen {seen} of {needed} times needed to confirm it"
        case BaselineCaptured(capture=capture):
            return "baseline", f"{capture.text_chars} characters, HTTP {capture.status}"
    return None


def report_of(source_id: str, outcome: Outcome, stored: Sequence[StoredEvent]) -> CheckReport:
    events = tuple(stored)
    typed = [e.event for e in events]
    if isinstance(outcome, Failed) and outcome.error == FETCH_DEFERRED:
        return CheckReport(
            source_id=source_id, outcome="deferred", detail=outcome.message, events=events
        )
    if isinstance(outcome, Failed):
        return CheckReport(
            source_id=source_id,
            outcome="failed",
            detail=f"{outcome.error}: {outcome.message}",
            events=events,
        )
    for event in typed:
        said = _capture_outcome(event, typed)
        if said is not None:
            return CheckReport(source_id=source_id, outcome=said[0], detail=said[1], events=events)
    recovered = " (recovered)" if any(isinstance(e, SourceRecovered) for e in typed) else ""
    moved = next((e for e in typed if isinstance(e, SourceMoved)), None)
    if moved is not None:
        because = f"HTTP {moved.status}" if moved.how == "redirect" else "canonical link"
        return CheckReport(
            source_id=source_id,
            outcome="moved",
            detail=f"to {moved.to_url} ({because}){recovered}",
            events=events,
        )
    detail = "304 not modified" if isinstance(outcome, NotModified) else "no text change"
    return CheckReport(
        source_id=source_id, outcome="unchanged", detail=detail + recovered, events=events
    )

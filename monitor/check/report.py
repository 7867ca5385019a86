"""What one check did, in one line: for ``monitor check``'s output and the daemon's log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from monitor.core.classify import Failed, NotModified, Outcome
from monitor.events import FETCH_DEFERRED, ChangeDetected, ContentSuspect, StoredEvent


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


def _figures_note(types: Sequence[str]) -> str:
    """`` [figures: 1 published, 1 restated]`` when the check recorded figures facts."""
    counts = [
        f"{types.count(kind)} {word}"
        for kind, word in (
            ("FiguresPublished", "published"),
            ("FiguresRestated", "restated"),
            ("FiguresWithdrawn", "withdrawn"),
        )
        if kind in types
    ]
    return f" [figures: {', '.join(counts)}]" if counts else ""


def report_of(source_id: str, outcome: Outcome, stored: Sequence[StoredEvent]) -> CheckReport:
    events = tuple(stored)
    types = [e.type for e in events]
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
    for event in events:
        if event.type == ChangeDetected.type:
            kind = event.data["classification"]
            summary = event.data["diff"].get("summary", "")
            # A rule can match on both sides (on = "any"): name it once.
            rules = ", ".join(dict.fromkeys(r["rule_id"] for r in event.data.get("rules", [])))
            detail = summary + (f" [rules: {rules}]" if rules else "") + _figures_note(types)
            return CheckReport(
                source_id=source_id,
                outcome="changed" if kind == "substantive" else kind,
                detail=detail,
                events=events,
            )
        if event.type == ContentSuspect.type:
            return CheckReport(
                source_id=source_id,
                outcome="suspect",
                detail=f"{event.data['reason']}: {event.data['detail']}",
                events=events,
            )
        if event.type == "ChangePending":
            return CheckReport(
                source_id=source_id,
                outcome="pending",
                detail=f"new text seen {event.data['seen']} of {event.data['needed']} times "
                "needed to confirm it",
                events=events,
            )
        if event.type == "BaselineCaptured":
            capture = event.data["capture"]
            return CheckReport(
                source_id=source_id,
                outcome="baseline",
                detail=f"{capture['text_chars']} characters, HTTP {capture['status']}",
                events=events,
            )
    recovered = " (recovered)" if "SourceRecovered" in types else ""
    moved = next((e for e in events if e.type == "SourceMoved"), None)
    if moved is not None:
        how = moved.data["how"]
        because = f"HTTP {moved.data.get('status')}" if how == "redirect" else "canonical link"
        return CheckReport(
            source_id=source_id,
            outcome="moved",
            detail=f"to {moved.data['to_url']} ({because}){recovered}",
            events=events,
        )
    detail = "304 not modified" if isinstance(outcome, NotModified) else "no text change"
    return CheckReport(
        source_id=source_id, outcome="unchanged", detail=detail + recovered, events=events
    )

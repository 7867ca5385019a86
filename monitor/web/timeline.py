"""A source event as one line of the source's timeline on its page and in the API."""

from __future__ import annotations

from monitor import events
from monitor.config.settings import QUIET_CLASSES
from monitor.desk.summaries import change_summary
from monitor.events import FETCH_DEFERRED, Event, StoredEvent
from monitor.figures.history import describe_fact
from monitor.web.records import TimelineEntry


def timeline_entry(stored: StoredEvent, event: Event) -> TimelineEntry:
    """A one-line, human description of a source event."""
    headline, detail, severity, change_seq = stored.type, "", None, None
    match event:
        case events.SourceRegistered(settings=settings):
            headline, detail = "Registered", str(settings.get("url", ""))
        case events.SourceUpdated(changed=changed):
            headline, detail = "Settings changed", ", ".join(str(k) for k in changed)
        case events.SourceRemoved(reason=reason):
            headline, detail = "Removed", reason
        case events.BaselineCaptured(capture=capture):
            headline = "Baseline captured"
            status = capture.data.get("status", "?")
            detail = f"{capture.text_chars} characters, HTTP {status}"
        case events.ChangeDetected() as change:
            classification = change.classification
            headline = "Reverted change" if classification == "reverted" else "Change"
            if classification in QUIET_CLASSES:
                quiet = ", not alerted" if change.silent else ""
                headline = f"Change ({classification}{quiet})"
            detail = change_summary(change)
            severity, change_seq = change.severity or "info", stored.seq
        case events.ContentConfirmed(checks_since_last_event=checks):
            headline, detail = "Unchanged", f"confirmed after {checks} checks"
        case events.ContentSuspect(reason=reason, detail=why):
            headline, detail = f"Suspect capture: {reason}", why
        case events.FetchFailed(error=error, message=message) if error == FETCH_DEFERRED:
            headline, detail = "Deferred: the host asked for quiet", message
        case events.FetchFailed() as failed:
            status_note = f" (HTTP {failed.status})" if failed.status else ""
            headline = f"Fetch failed: {failed.error}{status_note}"
            detail = f"{failed.message} — failure {failed.consecutive_failures} in a row"
        case events.VolatilityLearned(changes=changes, example=example):
            headline = "Learned a volatile block"
            detail = f"changed on {changes} checks in a row: {example}"
        case events.VolatilityUnlearned(quiet_checks=quiet_checks):
            headline = "Unlearned a volatile block"
            detail = f"unchanged on {quiet_checks} checks"
        case events.SourceRecovered(gone_since=gone_since) if gone_since:
            headline, detail = "Back", f"the page had been gone since {gone_since}"
        case events.SourceRecovered(failures=failures, failing_since=failing_since):
            headline = "Recovered"
            detail = f"after {failures} failures since {failing_since}"
        case events.SourceMoved() as moved:
            how = "permanent redirect" if moved.how == "redirect" else "canonical link"
            headline, detail = f"Moved ({how})", f"{moved.from_url} → {moved.to_url}"
            severity = "low"
        case (
            events.FiguresPublished() | events.FiguresRestated() | events.FiguresWithdrawn() as fact
        ):
            headline, detail = describe_fact(fact)
            change_seq = fact.change_seq
        case events.SourceGone() as gone:
            headline = "Gone: " + (
                f"redirects to {gone.final_url}" if gone.reason == "redirected" else gone.reason
            )
            detail = f"on {gone.checks} checks in a row since {gone.since or '?'}"
            severity = "high"
    return TimelineEntry(
        seq=stored.seq,
        type=stored.type,
        recorded_at=stored.recorded_at,
        headline=headline,
        detail=detail,
        severity=severity,
        change_seq=change_seq,
    )

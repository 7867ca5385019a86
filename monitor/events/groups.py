"""Groups of event classes that readers ask for together, each defined once.

Readers match on class (``isinstance(event, GOOD_CAPTURES)``: the tuples are written
out, not annotated, so the type checker narrows to their classes); a store query by
type takes ``names(group)``.
"""

from __future__ import annotations

from monitor.events import audit, checks, delivery, desk, sources
from monitor.events.base import Event
from monitor.events.capture import Capture

EventGroup = tuple[type[Event], ...]

# Captures whose text became the source's reference (the last good capture).
GOOD_CAPTURES = (checks.BaselineCaptured, checks.ChangeDetected)
# Captures kept as evidence of what the page was (export's WARC, evidence bundles):
# the good ones and the suspect ones; a pending capture is not yet a fact of the page.
# (In the order `monitor evidence` names them.)
ARCHIVED_CAPTURES = (checks.ChangeDetected, checks.BaselineCaptured, checks.ContentSuspect)
# Every event that carries a ``Capture``.
CAPTURE_EVENTS = (
    checks.BaselineCaptured,
    checks.ChangeDetected,
    checks.ContentSuspect,
    checks.ChangePending,
)
# A source's settings as configured (its registration and each update).
SETTINGS_EVENTS = (sources.SourceRegistered, sources.SourceUpdated)
# A source's place in the configuration: all that reconciling the config reads of it.
CONFIGURATION_EVENTS = (sources.SourceRegistered, sources.SourceUpdated, sources.SourceRemoved)
# A figures source's facts after a capture (``monitor.figures``).
FIGURES_EVENTS = (desk.FiguresPublished, desk.FiguresRestated, desk.FiguresWithdrawn)
# What people recorded about a change (stream ``$reviews``).
REVIEW_EVENTS = (desk.ChangeReviewed, desk.ChangeAnnotated)
# The outcome of one alert to one channel (stream ``$notifier``).
NOTIFICATION_EVENTS = (delivery.NotificationSent, delivery.NotificationFailed)
# The outcome of asking a time-stamping authority (stream ``$timestamps``).
STAMP_EVENTS = (audit.CheckpointTimestamped, audit.TimestampFailed)
# Events the notifier alerts about (channels choose among them with ``events``).
ALERT_EVENTS = (
    checks.ChangeDetected,
    checks.ContentSuspect,
    checks.FetchFailed,
    checks.SourceRecovered,
    sources.SourceMoved,
    sources.SourceDiscovered,
    desk.StoryDetected,
    sources.SourceGone,
)
# What the story book folds: sources' companies and tags, changes, stories.
STORY_EVENTS = (
    sources.SourceRegistered,
    sources.SourceUpdated,
    checks.ChangeDetected,
    desk.StoryDetected,
)


def names(group: EventGroup) -> tuple[str, ...]:
    """The stored type names of ``group``, for a store query by type."""
    return tuple(cls.type for cls in group)


def capture_of(event: Event) -> Capture | None:
    """The capture an event carries (``CAPTURE_EVENTS``), else None."""
    return event.capture if isinstance(event, CAPTURE_EVENTS) else None

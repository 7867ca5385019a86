"""Events: what the monitor learns, as frozen classes, and how they are stored and read.

Pure: no I/O. One module per job; import from here (every name is re-exported):

- ``envelope``: the stored record (``NewEvent``, ``StoredEvent``), canonical JSON, the
  hash chain, the time format, deterministic ids;
- ``base``: ``Event``, the base class, and its encoding to stored ``data``;
- ``capture``: ``Capture``, what one fetch saw (the ``capture`` of capture events);
- ``sources``, ``checks``, ``delivery``, ``audit``, ``desk``: the event classes;
- ``groups``: event classes readers ask for together (``GOOD_CAPTURES``, …);
- ``codec``: the type registry, upcasters and ``decode`` (``StoredEvent.event``).

Readers take ``stored.event`` and match on class, never on type-name strings.
"""

from __future__ import annotations

from monitor.events.audit import (
    CheckpointSigned,
    CheckpointTimestamped,
    TimestampFailed,
)
from monitor.events.base import (
    Event,
    Unrecognized,
)
from monitor.events.capture import (
    Capture,
    JsonObject,
)
from monitor.events.checks import (
    FETCH_DEFERRED,
    BaselineCaptured,
    ChangeDetected,
    ChangePending,
    ContentConfirmed,
    ContentSuspect,
    FetchFailed,
    SourceRecovered,
    VolatilityLearned,
    VolatilityUnlearned,
)
from monitor.events.codec import (
    EVENT_TYPES,
    UPCASTERS,
    Upcaster,
    decode,
    upcast,
)
from monitor.events.delivery import (
    NotificationFailed,
    NotificationSent,
    ThirdPartyCaptured,
    ThirdPartyCaptureFailed,
)
from monitor.events.desk import (
    ChangeAnnotated,
    ChangeReviewed,
    FiguresPublished,
    FiguresRestated,
    FiguresWithdrawn,
    StoryDetected,
)
from monitor.events.envelope import (
    EVENT_NAMESPACE,
    GENESIS_HASH,
    REVIEWS_STREAM,
    STORIES_STREAM,
    SYSTEM_STREAM,
    NewEvent,
    StoredEvent,
    canonical_bytes,
    chain_hash,
    deterministic_event_id,
    envelope_body,
    format_time,
    parse_time,
    seal,
)
from monitor.events.groups import (
    ALERT_EVENTS,
    ARCHIVED_CAPTURES,
    CAPTURE_EVENTS,
    CONFIGURATION_EVENTS,
    FIGURES_EVENTS,
    GOOD_CAPTURES,
    NOTIFICATION_EVENTS,
    REVIEW_EVENTS,
    SETTINGS_EVENTS,
    STAMP_EVENTS,
    STORY_EVENTS,
    EventGroup,
    capture_of,
    names,
)
from monitor.events.sources import (
    DiscoveryBaselined,
    DiscoveryReviewed,
    SourceDiscovered,
    SourceGone,
    SourceMoved,
    SourceRegistered,
    SourceRemoved,
    SourceUnlisted,
    SourceUpdated,
)

__all__ = [
    "ALERT_EVENTS",
    "ARCHIVED_CAPTURES",
    "CAPTURE_EVENTS",
    "CONFIGURATION_EVENTS",
    "EVENT_NAMESPACE",
    "EVENT_TYPES",
    "FETCH_DEFERRED",
    "FIGURES_EVENTS",
    "GENESIS_HASH",
    "GOOD_CAPTURES",
    "NOTIFICATION_EVENTS",
    "REVIEWS_STREAM",
    "REVIEW_EVENTS",
    "SETTINGS_EVENTS",
    "STAMP_EVENTS",
    "STORIES_STREAM",
    "STORY_EVENTS",
    "SYSTEM_STREAM",
    "UPCASTERS",
    "BaselineCaptured",
    "Capture",
    "ChangeAnnotated",
    "ChangeDetected",
    "ChangePending",
    "ChangeReviewed",
    "CheckpointSigned",
    "CheckpointTimestamped",
    "ContentConfirmed",
    "ContentSuspect",
    "DiscoveryBaselined",
    "DiscoveryReviewed",
    "Event",
    "EventGroup",
    "FetchFailed",
    "FiguresPublished",
    "FiguresRestated",
    "FiguresWithdrawn",
    "JsonObject",
    "NewEvent",
    "NotificationFailed",
    "NotificationSent",
    "SourceDiscovered",
    "SourceGone",
    "SourceMoved",
    "SourceRecovered",
    "SourceRegistered",
    "SourceRemoved",
    "SourceUnlisted",
    "SourceUpdated",
    "StoredEvent",
    "StoryDetected",
    "ThirdPartyCaptureFailed",
    "ThirdPartyCaptured",
    "TimestampFailed",
    "Unrecognized",
    "Upcaster",
    "VolatilityLearned",
    "VolatilityUnlearned",
    "canonical_bytes",
    "capture_of",
    "chain_hash",
    "decode",
    "deterministic_event_id",
    "envelope_body",
    "format_time",
    "names",
    "parse_time",
    "seal",
    "upcast",
]

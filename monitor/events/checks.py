"""Events a check records: captures, changes, confirmations, failures, learned noise."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from monitor.events.base import Event, without
from monitor.events.capture import Capture, JsonObject


@dataclass(frozen=True, kw_only=True)
class BaselineCaptured(Event):
    """The first good capture of a source: the text every later change is compared with."""

    type: ClassVar[str] = "BaselineCaptured"
    capture: Capture
    blocks: int = 0


@dataclass(frozen=True, kw_only=True)
class ChangeDetected(Event):
    """The normalized text differs from the last good capture."""

    type: ClassVar[str] = "ChangeDetected"
    capture: Capture
    previous: str  # text_sha256 of the last good capture
    previous_seen_until: str  # last time the old text was seen
    diff: JsonObject  # patch, stats, added, removed, summary
    # "substantive" | "reverted", or a quiet class (monitor.noise): "volatile" (only
    # volatile tokens, or a learned volatile block, changed), "dated" (only absolute
    # dates), "chrome" (only the page's navigation, header, footer, asides)
    classification: str
    rules: list[JsonObject] = field(default_factory=list)
    severity: str = "info"
    # When the new text was first seen, for a source with ``confirm`` > 1 (the change is
    # recorded only once confirmed). Absent from the data when None, so changes recorded
    # without confirmation keep the shape (and hashes) they always had.
    first_seen: str | None = None
    # True: recorded, not alerted (a quiet class no rule matched and the source did not
    # ask for). Absent from the data when False, like ``first_seen``.
    silent: bool = False
    # The small region the change was confined to (``monitor.noise.learned``) and the
    # number of consecutive checks that changed only it; absent when there is none.
    region: str | None = None
    region_streak: int | None = None

    def to_data(self) -> JsonObject:
        data = without(super().to_data(), "first_seen", "region", "region_streak")
        return without(data, "silent", absent=False)


@dataclass(frozen=True, kw_only=True)
class ChangePending(Event):
    """A new text was seen, but the source wants it seen on ``needed`` consecutive checks.

    ``seen`` counts the consecutive checks that found this text so far (1 … needed - 1).
    It is no alert: a ``ChangeDetected`` follows once ``seen`` reaches ``needed``; a check
    that finds the old text again cancels it (the fold clears the pending text).
    """

    type: ClassVar[str] = "ChangePending"
    capture: Capture
    text_sha256: str
    seen: int
    needed: int


@dataclass(frozen=True, kw_only=True)
class VolatilityLearned(Event):
    """A block of the source changed on ``changes`` consecutive checks and nothing else did.

    Later changes confined to the same region (the lines between ``before`` and
    ``after``) are classified ``volatile``. ``example`` is its latest text.
    """

    type: ClassVar[str] = "VolatilityLearned"
    region: str
    before: str
    after: str
    example: str
    changes: int


@dataclass(frozen=True, kw_only=True)
class VolatilityUnlearned(Event):
    """A learned volatile region was unchanged on ``quiet_checks`` checks: noise no more."""

    type: ClassVar[str] = "VolatilityUnlearned"
    region: str
    quiet_checks: int


@dataclass(frozen=True, kw_only=True)
class ContentConfirmed(Event):
    """The text was unchanged; recorded at most once per ``confirm_every``."""

    type: ClassVar[str] = "ContentConfirmed"
    text_sha256: str
    fetched_at: str
    checks_since_last_event: int


@dataclass(frozen=True, kw_only=True)
class ContentSuspect(Event):
    """The capture looks wrong (error page, login wall, empty selection, collapse)."""

    type: ClassVar[str] = "ContentSuspect"
    capture: Capture
    reason: str
    detail: str = ""


@dataclass(frozen=True, kw_only=True)
class FetchFailed(Event):
    """A check could not fetch the page.

    ``error = "deferred"`` (``FETCH_DEFERRED``): not a failure of the page — its host
    had asked for quiet (``Retry-After``) until ``paused_until``, so no request was
    sent. It does not count towards ``consecutive_failures`` and is never alerted.
    """

    type: ClassVar[str] = "FetchFailed"
    url: str
    error: str  # short stable kind: connect, timeout, http, too_large, tls, redirect, ...
    message: str
    status: int | None = None
    attempt: int = 1
    consecutive_failures: int = 1
    fetched_at: str = ""
    # Only on deferred checks; absent from the data when None, so every other failure
    # keeps the shape (and hashes) it always had.
    paused_until: str | None = None

    def to_data(self) -> JsonObject:
        return without(super().to_data(), "paused_until")


FETCH_DEFERRED = "deferred"  # FetchFailed.error of a check its host's pause deferred


@dataclass(frozen=True, kw_only=True)
class SourceRecovered(Event):
    """The first successful fetch after one or more failures."""

    type: ClassVar[str] = "SourceRecovered"
    failures: int
    failing_since: str
    # Set when the page had been recorded as gone (``SourceGone``): since when. Absent
    # from the data when None, so recoveries from plain failures keep their shape.
    gone_since: str | None = None

    def to_data(self) -> JsonObject:
        return without(super().to_data(), "gone_since")

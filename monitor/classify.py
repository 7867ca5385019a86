"""Decide what one check means: (state, outcome, now) → events. Pure.

The decision table, in order:

1. the fetch failed → ``FetchFailed`` (with the running count of failures);
2. the fetch succeeded after failures → ``SourceRecovered``, then go on;
3. the capture looks wrong (selector matched nothing, empty text, an error,
   login or bot-check page, or a text that collapsed to under a fifth of the
   last good one) → ``ContentSuspect``, once per distinct suspect text; the
   last good capture stays the reference, so the next good capture is compared
   with it and never with the error page;
4. no good capture yet, or the extraction settings changed since the last one
   → ``BaselineCaptured`` (a new reference, not a change of the page);
5. normalized text equal to the last good one (or HTTP 304) → nothing, except
   a ``ContentConfirmed`` once per ``confirm_every`` or when leaving a suspect
   state;
6. otherwise → ``ChangeDetected``: ``reverted`` when the text equals any earlier
   good capture (A→B→A flicker), else ``substantive``; with the diff, the matched
   rules and their sentences, and the severity.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from monitor.diff import diff_texts
from monitor.events import (
    BaselineCaptured,
    ChangeDetected,
    ContentConfirmed,
    ContentSuspect,
    Event,
    FetchFailed,
    JsonObject,
    SourceRecovered,
    format_time,
    parse_time,
)
from monitor.projections import SourceState
from monitor.rules import CompiledRule, highest_severity, match_rules
from monitor.settings import SourceSettings

COLLAPSE_RATIO = 0.2  # a text shrinking to under 20 % of the last good one is suspect
COLLAPSE_MIN_CHARS = 400  # ... when the last good text was at least this long
ERROR_PAGE_MAX_CHARS = 2000  # error/login/bot pages are short; long pages merely mention errors

_ERROR_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (reason, re.compile(pattern, re.IGNORECASE))
    for reason, pattern in (
        (
            "bot_challenge",
            r"verify (that )?you are (a )?human|are you a robot|captcha|checking your browser"
            r"|just a moment\.\.\.|attention required|unusual traffic"
            r"|access to this page has been denied",
        ),
        (
            "login_wall",
            r"(log|sign) ?in to (continue|view|see)|please (log|sign) ?in|you must be logged in"
            r"|session (has )?expired",
        ),
        (
            "error_page",
            r"something went wrong|page (was )?not found|page (isn.t|is not) available"
            r"|404 not found|\b404\b.*\bnot found\b|internal server error"
            r"|service (temporarily )?unavailable"
            r"|bad gateway|gateway time-?out|too many requests|access denied|forbidden"
            r"|temporarily unavailable|an error (has )?occurred|please try again later"
            r"|enable javascript|javascript is (disabled|required)|please enable cookies",
        ),
    )
)


@dataclass(frozen=True, kw_only=True)
class Captured:
    """A successful fetch, extracted. ``capture`` is the JSON stored in events."""

    capture: JsonObject
    text: str
    select_matched: bool = True
    body: bytes = b""  # the exact response body, stored as a blob when an event names it


@dataclass(frozen=True, kw_only=True)
class NotModified:
    """The server answered 304 to a conditional GET."""

    fetched_at: datetime


@dataclass(frozen=True, kw_only=True)
class Failed:
    """The fetch failed."""

    url: str
    error: str
    message: str
    status: int | None
    fetched_at: datetime
    attempt: int = 1


Outcome = Captured | NotModified | Failed


def suspect_reason(text: str, select_matched: bool, state: SourceState) -> tuple[str, str] | None:
    """Why a capture looks like something other than the page, or None."""
    if not select_matched:
        return "selector_matched_nothing", "the source's `select` matched no element"
    if not text.strip():
        return "empty", "the page has no visible text"
    if len(text) <= ERROR_PAGE_MAX_CHARS:
        for reason, pattern in _ERROR_PATTERNS:
            found = pattern.search(text)
            if found:
                return reason, f"the page says {found.group(0)!r}"
    last = state.last_good
    if (
        last is not None
        and last.text_chars >= COLLAPSE_MIN_CHARS
        and len(text) < last.text_chars * COLLAPSE_RATIO
    ):
        return "collapsed", f"the text shrank from {last.text_chars} to {len(text)} characters"
    return None


def decide(
    state: SourceState,
    outcome: Outcome,
    *,
    source: SourceSettings,
    rules: Sequence[CompiledRule],
    now: datetime,
    old_text: str | None = None,
    confirm_every: int = 24 * 3600,
    checks_since_event: int = 1,
) -> list[Event]:
    """The events one check produces. ``old_text`` is the last good text when it differs."""
    if isinstance(outcome, Failed):
        return [
            FetchFailed(
                url=outcome.url,
                error=outcome.error,
                message=outcome.message,
                status=outcome.status,
                attempt=outcome.attempt,
                consecutive_failures=state.consecutive_failures + 1,
                fetched_at=format_time(outcome.fetched_at),
            )
        ]
    events: list[Event] = []
    if state.consecutive_failures:
        events.append(
            SourceRecovered(
                failures=state.consecutive_failures,
                failing_since=state.failing_since or "",
            )
        )
    last = state.last_good
    if isinstance(outcome, NotModified):
        if last is not None:
            events += _confirmation(
                state, last.text_sha256, outcome.fetched_at, now, confirm_every, checks_since_event
            )
        return events

    capture = outcome.capture
    text_sha = capture["text_sha256"]
    same_extraction = last is not None and last.extraction_key == capture.get("extraction_key", "")
    if last is not None and same_extraction and text_sha == last.text_sha256:
        events += _confirmation(
            state,
            text_sha,
            parse_time(capture["fetched_at"]),
            now,
            confirm_every,
            checks_since_event,
        )
        return events

    suspect = suspect_reason(outcome.text, outcome.select_matched, state)
    if suspect is not None:
        if state.suspect_text != text_sha:
            events.append(ContentSuspect(capture=capture, reason=suspect[0], detail=suspect[1]))
        return events

    if last is None or not same_extraction:
        # A first capture, or the extraction itself changed (a new `select`, a new
        # extractor version): the text is a new reference, not a change of the page.
        events.append(BaselineCaptured(capture=capture, blocks=outcome.text.count("\n") + 1))
        return events

    if old_text is None:
        raise ValueError("the last good text is needed to describe a change")
    diff = diff_texts(old_text, outcome.text)
    classification = "reverted" if text_sha in state.known_texts else "substantive"
    matches = (
        match_rules(rules, diff, source_id=source.id, source_tags=source.tags)
        if classification == "substantive"
        else ()
    )
    severity = (
        highest_severity(matches)
        if matches
        else ("low" if classification == "substantive" else "info")
    )
    events.append(
        ChangeDetected(
            capture=capture,
            previous=last.text_sha256,
            previous_seen_until=last.seen_until,
            diff=diff.to_data(),
            classification=classification,
            rules=[m.to_data() for m in matches],
            severity=severity,
        )
    )
    return events


def _confirmation(
    state: SourceState,
    text_sha: str,
    fetched_at: datetime,
    now: datetime,
    confirm_every: int,
    checks: int,
) -> list[Event]:
    """A ``ContentConfirmed`` when one is due, else nothing (unchanged checks stay silent)."""
    due = state.suspect_text is not None or state.last_event_at is None
    if not due and state.last_event_at is not None:
        due = (now - parse_time(state.last_event_at)).total_seconds() >= confirm_every
    if not due:
        return []
    return [
        ContentConfirmed(
            text_sha256=text_sha,
            fetched_at=format_time(fetched_at),
            checks_since_last_event=checks,
        )
    ]

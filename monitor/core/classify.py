"""Decide what one check means: (state, outcome, now) → events. Pure.

The decision table, in order (the first row that applies decides):

====  ==========================================  ==========================================
row   when                                        events
====  ==========================================  ==========================================
1     the fetch failed                            ``FetchFailed`` (running count of failures);
                                                  the ``gone_after``-th 404/410 in a row adds
                                                  ``SourceGone``
2     it succeeded after failures, or a gone      ``SourceRecovered`` (with ``gone_since``
      page answers with its text again            when it was gone), then the rows below
3     HTTP 304, or the text equals the last good  nothing; ``ContentConfirmed`` once per
      one (same extraction settings)              ``confirm_every``, or at once when it ends
                                                  a suspect state or cancels a pending change
4     the capture looks wrong                     ``ContentSuspect`` once per distinct
      (``suspect_reason``, below)                 suspect text; the last good capture stays
                                                  the reference; a redirect to the site's
                                                  home or an error page still there on
                                                  ``gone_after`` checks adds ``SourceGone``.
                                                  A ``collapsed`` text still
                                                  served ``COLLAPSE_ACCEPT_AFTER`` after it
                                                  was first recorded is the page's new
                                                  text: the rows below report it
5     no good capture yet, or the extraction      ``BaselineCaptured`` (a new reference,
      settings changed since the last one         not a change of the page)
6     same words as the last good text; only      as row 3: layout is not text
      block kinds, breaks or typography differ
      (a heading became a paragraph, a paragraph
      split, “smart” quotes became straight)
7     a new text, the source has ``confirm = N``  ``ChangePending`` (seen k of N); the old
      and it was seen on fewer than N             text seen again cancels it (row 3)
      consecutive good checks
5b    the text changed but the last good text's   ``ContentSuspect`` (``previous_text_missing``)
      blob is gone from the store                 and ``BaselineCaptured``: a new reference
8     otherwise                                   ``ChangeDetected``: ``reverted`` when the
                                                  text (or its words) equals an earlier good
                                                  capture (A→B→A flicker), else
                                                  ``substantive``; with the diff, the
                                                  matched rules and their sentences, the
                                                  severity, and ``first_seen`` when it
                                                  waited for confirmation
====  ==========================================  ==========================================

Suspect captures and failed fetches neither count towards a pending confirmation
nor cancel it: they say nothing about the page's text. Link targets are not part
of the text unless the source sets ``watch_links`` (``monitor.extract.document``), so a
link-only change reaches row 3.

``suspect_reason`` (row 4) is ``monitor.core.suspect``; "same words" (row 6) is
``monitor.core.same_words``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from monitor.config.settings import SourceSettings
from monitor.core.headline import rule_led_summary
from monitor.core.projections import GONE_STATUSES, SourceState
from monitor.core.rules import CompiledRule, RuleMatch, highest_severity, match_rules
from monitor.core.same_words import words_digest, words_of
from monitor.core.suspect import collapse_persisted, lands_on_wall, redirect_wall, suspect_reason
from monitor.diff.textdiff import TextDiff, diff_texts
from monitor.events import (
    FETCH_DEFERRED,
    BaselineCaptured,
    Capture,
    ChangeDetected,
    ChangePending,
    ContentConfirmed,
    ContentSuspect,
    Event,
    FetchFailed,
    JsonObject,
    SourceGone,
    SourceRecovered,
    format_time,
    parse_time,
)
from monitor.noise.verdict import QUIET_SEVERITY, judge_change, unlearned

# suspect_reason, lands_on_wall, words_of and words_digest are asked of classify by
# its callers too: what a check means is decided here, whatever module holds the rule.
__all__ = [
    "Captured",
    "Failed",
    "NotModified",
    "Outcome",
    "decide",
    "lands_on_wall",
    "suspect_reason",
    "words_digest",
    "words_of",
]


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
    until: datetime | None = None  # a deferred check: the end of its host's pause


Outcome = Captured | NotModified | Failed


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
    old_text_missing: bool = False,
    figure_matches: Sequence[RuleMatch] = (),
    gone_after: int = 3,
) -> list[Event]:
    """The events one check produces. ``old_text`` is the last good text when it differs.

    ``old_text_missing``: the store lost that text's blob, so a change cannot be diffed.
    ``figure_matches``: figure rules the capture's table satisfies (``monitor.figures``);
    they count like text rule matches when the change is substantive.
    ``gone_after``: consecutive 404/410 answers (or redirects away) that make a page gone.
    """
    if isinstance(outcome, Failed):
        # A deferred check sent nothing: it says nothing about the page, so the count of
        # failures in a row (what alert_after_failures reads) stays where it was.
        counts = outcome.error != FETCH_DEFERRED
        failed: list[Event] = [
            FetchFailed(
                url=outcome.url,
                error=outcome.error,
                message=outcome.message,
                status=outcome.status,
                attempt=outcome.attempt,
                consecutive_failures=state.consecutive_failures + (1 if counts else 0),
                fetched_at=format_time(outcome.fetched_at),
                paused_until=None if outcome.until is None else format_time(outcome.until),
            )
        ]
        gone_checks = state.consecutive_gone + 1
        if (
            outcome.status in GONE_STATUSES
            and state.gone_since is None
            and gone_checks >= gone_after
        ):
            failed.append(
                SourceGone(
                    url=outcome.url,
                    reason=f"http_{outcome.status}",
                    checks=gone_checks,
                    status=outcome.status,
                    since=state.failing_since
                    if state.consecutive_gone == state.consecutive_failures and state.failing_since
                    else format_time(outcome.fetched_at),
                )
            )
        return failed
    events: list[Event] = []
    if state.consecutive_failures:
        events.append(
            SourceRecovered(
                failures=state.consecutive_failures,
                failing_since=state.failing_since or "",
                gone_since=state.gone_since,
            )
        )
    last = state.last_good
    if isinstance(outcome, NotModified):
        events += _back(state)
        if last is not None:
            events += _confirmation(
                state, last.text_sha256, outcome.fetched_at, now, confirm_every, checks_since_event
            )
        return events

    raw = outcome.capture
    capture = Capture.of(raw)
    text_sha = capture.text_sha256
    fetched_at = parse_time(capture.fetched_at)
    same_extraction = last is not None and last.extraction_key == capture.extraction_key
    if last is not None and same_extraction and text_sha == last.text_sha256:
        events += _back(state)
        events += _confirmation(state, text_sha, fetched_at, now, confirm_every, checks_since_event)
        if state.learned:
            events += unlearned(state, source, checks_since_event, None)
        return events

    suspect = suspect_reason(outcome.text, outcome.select_matched, state, raw)
    if suspect is not None and not collapse_persisted(suspect[0], state, text_sha, now):
        if state.suspect_text != text_sha:
            events.append(ContentSuspect(capture=capture, reason=suspect[0], detail=suspect[1]))
        events += _gone_by_redirect(state, raw, text_sha, gone_after, checks_since_event)
        return events
    events += _back(state)

    words = words_digest(outcome.text)
    capture = capture.with_(words_sha256=words)
    if last is None or not same_extraction:
        # A first capture, or the extraction itself changed (a new `select`, a new
        # extractor version): the text is a new reference, not a change of the page.
        events.append(BaselineCaptured(capture=capture, blocks=outcome.text.count("\n") + 1))
        return events

    if old_text is None:
        if not old_text_missing:
            raise ValueError("the last good text is needed to describe a change")
        # The text changed but the old one is gone from the store (`monitor verify`
        # names the blob). Say so — the alert is not lost — and make this capture the
        # new reference, so later changes are diffed again instead of failing each check.
        events.append(
            ContentSuspect(
                capture=capture,
                reason="previous_text_missing",
                detail=f"the text changed, but the last good text (blob {last.text_sha256}) "
                "is missing from the store, so the change cannot be shown; this capture "
                "is the new reference — run `monitor verify`",
            )
        )
        events.append(BaselineCaptured(capture=capture, blocks=outcome.text.count("\n") + 1))
        return events
    layout_only = (
        words == last.words_sha256
        if last.words_sha256
        else words_of(old_text) == words_of(outcome.text)
    )
    if layout_only:
        # Only the layout changed. The last good text stays the reference, so a later
        # change's diff also shows these layout edits (they happened since then).
        events += _confirmation(
            state, last.text_sha256, fetched_at, now, confirm_every, checks_since_event
        )
        if state.learned:
            events += unlearned(state, source, checks_since_event, None)
        return events

    needed = max(1, source.confirm)
    waiting = state.pending
    pending = waiting is not None and (
        waiting.text_sha256 == text_sha or waiting.words_sha256 == words
    )
    seen = waiting.seen + 1 if waiting is not None and pending else 1
    if seen < needed:
        events.append(
            ChangePending(capture=capture, text_sha256=text_sha, seen=seen, needed=needed)
        )
        return events
    first_seen = waiting.since if waiting is not None and pending and needed > 1 else None

    diff = diff_texts(old_text, outcome.text)
    known = text_sha in state.known_texts or words in state.known_words
    # Quiet classes first: a flicker of "Updated today" ↔ "Updated yesterday" is volatile.
    noise = judge_change(
        state,
        source,
        old_text,
        outcome.text,
        capture.chrome,
        checks_since_event,
        known=known,
    )
    classification = noise.classification or ("reverted" if known else "substantive")
    matches = (
        match_rules(rules, diff, source_id=source.id, source_tags=source.tags)
        + tuple(figure_matches)
        if classification != "reverted"
        else ()
    )
    quiet = noise.classification is not None
    if matches:
        severity = highest_severity(matches)
    elif quiet:
        severity = QUIET_SEVERITY[classification]
    else:
        severity = "low" if classification == "substantive" else "info"
    region = noise.region.key if noise.region is not None else None
    events.append(
        ChangeDetected(
            capture=capture,
            previous=last.text_sha256,
            previous_seen_until=last.seen_until,
            diff=_with_headline(diff, matches),
            classification=classification,
            rules=[m.to_data() for m in matches],
            severity=severity,
            first_seen=first_seen,
            # A rule that matches the changed text still alerts, whatever the class.
            silent=quiet and not matches and classification not in source.also_alert,
            region=region,
            region_streak=noise.streak,
        )
    )
    if noise.learned is not None:
        events.append(noise.learned)
    if state.learned:
        events += unlearned(state, source, checks_since_event, region)
    return events


def _with_headline(diff: TextDiff, matches: Sequence[RuleMatch]) -> JsonObject:
    """The diff's data; when a rule matched, its summary leads with what the rule saw."""
    data = diff.to_data()
    headline = rule_led_summary(diff, matches) if matches else None
    if headline:
        data["summary"] = headline
    return data


def _back(state: SourceState) -> list[Event]:
    """A page gone by redirecting away answers with a text again (failures have row 2)."""
    if state.gone_since is None or state.consecutive_failures:
        return []
    return [SourceRecovered(failures=0, failing_since="", gone_since=state.gone_since)]


def _gone_by_redirect(
    state: SourceState, capture: JsonObject, text_sha: str, gone_after: int, checks: int
) -> list[Event]:
    """``SourceGone`` when a redirect to the home or an error page has lasted ``gone_after``
    checks: the suspect capture itself, then the silent checks that found it again."""
    wall = redirect_wall(capture)
    if wall is None or wall[0] != "error_page" or state.gone_since is not None:
        return []
    seen = 1 + checks if state.suspect_text == text_sha else 1
    if seen < gone_after:
        return []
    since = state.suspect_since if state.suspect_text == text_sha else None
    return [
        SourceGone(
            url=str(capture.get("requested_url") or ""),
            reason="redirected",
            checks=seen,
            status=capture.get("status") if isinstance(capture.get("status"), int) else None,
            final_url=str(capture.get("final_url") or ""),
            since=since or str(capture.get("fetched_at") or ""),
        )
    ]


def _confirmation(
    state: SourceState,
    text_sha: str,
    fetched_at: datetime,
    now: datetime,
    confirm_every: int,
    checks: int,
) -> list[Event]:
    """A ``ContentConfirmed`` when one is due, else nothing (unchanged checks stay silent).

    Due at once when it ends a suspect state or cancels a pending change (the fold of
    ``ContentConfirmed`` clears both), so that state survives a restart.
    """
    due = state.suspect_text is not None or state.pending is not None or state.last_event_at is None
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

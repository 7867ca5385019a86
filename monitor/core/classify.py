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

``suspect_reason`` (row 4) flags, in order: a ``select`` that matched nothing; an
empty text; a text that is over a tenth undecodable bytes (``garbled``: binary data
or a wrong charset); a redirect to a login, consent, challenge or error page, or to
the site's home page (where removed pages land); a short text (at most
``ERROR_PAGE_MAX_CHARS``) that says it is a bot challenge, a login or consent wall,
or an error / not-found page; a title that says so on a text that shrank below half
of the last good one; and, against the last good text, a collapse (under
``COLLAPSE_RATIO`` of a text of at least ``COLLAPSE_MIN_CHARS``) or a tiny remnant
(under ``TINY_CHARS`` of a text of at least ``TINY_LAST_MIN_CHARS``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from monitor.config.settings import SourceSettings
from monitor.core.headline import rule_led_summary
from monitor.core.moves import off_site_move
from monitor.core.projections import GONE_STATUSES, SourceState
from monitor.core.rules import CompiledRule, RuleMatch, highest_severity, match_rules
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

COLLAPSE_RATIO = 0.2  # a text shrinking to under 20 % of the last good one is suspect
COLLAPSE_ACCEPT_AFTER = 3600  # ... until the same short text is still there an hour later
COLLAPSE_MIN_CHARS = 400  # ... when the last good text was at least this long
TINY_CHARS = 300  # a few lines left of a page ...
TINY_LAST_MIN_CHARS = 1000  # ... that had at least this much text
ERROR_PAGE_MAX_CHARS = 2000  # error/login/bot pages are short; long pages merely mention errors
TITLE_SHRINK_RATIO = 0.5  # an error-like title counts on a text under half the last good one
GARBLED_RATIO = 0.1  # over a tenth U+FFFD: binary data, or text in the wrong encoding ...
GARBLED_MIN_CHARS = 20  # ... and at least this many (a stray bad byte is not garbage)


def _patterns(*pairs: tuple[str, str]) -> tuple[tuple[str, re.Pattern[str]], ...]:
    return tuple((reason, re.compile(pattern, re.IGNORECASE)) for reason, pattern in pairs)


# Phrases that make up a short page's message. Checked only on short texts, where a
# policy page cannot plausibly consist of them; a long page may quote them freely.
_PAGE_PATTERNS = _patterns(
    (
        "bot_challenge",
        r"verify (that )?you are (a )?human|verifying you are human|are you a robot"
        r"|not a robot|captcha|checking your browser|checking if the site connection is secure"
        r"|just a moment\.\.\.|attention required|unusual traffic|pardon our interruption"
        r"|access to this page has been denied|request unsuccessful\. incapsula"
        r"|enter the characters you see|enable javascript and cookies to continue"
        r"|ddos protection by",
    ),
    (
        "login_wall",
        r"(log|sign) ?in to (continue|view|see|access)|please (log|sign) ?in"
        r"|you must (be )?(log|sign)(ged)? ?in|you need to (log|sign) ?in|log ?into \w+"
        r"|(log|sign) ?in or sign ?up|session (has )?expired",
    ),
    ("consent_wall", r"before you continue to \w+"),
    (
        "error_page",
        r"something went wrong|page (was )?not found|page (isn.t|is not) available"
        r"|page (can ?not|can.t|could not|couldn.t) be (found|displayed)"
        r"|(can.t|cannot|could not|couldn.t|unable to) find (the|this|that) page"
        r"|page you (were|are) (trying to reach|looking for|trying to access)"
        r"|page (you requested )?(does not|doesn.t) exist|(this|the) page (is )?no longer available"
        r"|(link|page) you followed may be broken|\b404\b.{0,40}\bnot found\b|error 404"
        r"|internal server error|service (temporarily )?unavailable|bad gateway"
        r"|gateway time-?out|too many requests|access denied|403 forbidden"
        r"|you don.t have permission to access"
        r"|temporarily unavailable|an error (has )?occurred|please try again later"
        # a stub left where a page moved: the page is elsewhere, this is not its text
        r"|\bredirecting to\b|you are being redirected|(this|the) page has (been )?moved"
        r"|try reloading (the|this) page|under maintenance|scheduled maintenance"
        r"|enable javascript|javascript is (disabled|required)|please enable cookies"
        # zh-Hant, zh-Hans, ja, fr, de, es, pt: "page not found", "an error occurred"
        r"|找不到(該|此|您要的|你要的)?(網頁|页面|頁面)|(網頁|页面|頁面)不存在|發生錯誤|发生错误"
        r"|請稍後再試|请稍后再试|ページが見つかりません|エラーが発生しました"
        r"|page introuvable|une erreur (s.est produite|est survenue)|seite nicht gefunden"
        r"|ein fehler ist aufgetreten|p[aá]gina no encontrada|se ha producido un error"
        r"|p[aá]gina n[aã]o encontrada",
    ),
)
# A page title naming an error, a wall or a challenge (anchored: a title is a label).
_TITLE_PATTERNS = _patterns(
    (
        "bot_challenge",
        r"^(just a moment|attention required|are you a robot|captcha|access denied"
        r"|pardon our interruption|robot check)",
    ),
    ("login_wall", r"^((log|sign) ?in|log ?into)\b|\b(log|sign) ?in or sign ?up\b"),
    ("consent_wall", r"^before you continue\b"),
    (
        "error_page",
        r"^(error|oops)\b|^(404|403|410|500|502|503)\b|page not found|not found$"
        r"|something went wrong|(isn.t|is not|temporarily) (available|unavailable)"
        r"|^(service )?unavailable|maintenance",
    ),
)
# Where sites send a visitor they will not show the page to.
_WALL_PATH = re.compile(
    r"/(log-?in|sign-?in|sign_in|signin|auth|authwall|authenticate|sso|checkpoint|captcha|challenge"
    r"|consent|cdn-cgi/challenge-platform|404|not-?found|error)(/|$|\.|\?)",
    re.IGNORECASE,
)
_WALL_HOST = re.compile(r"^(consent|accounts|login|signin|auth)\.", re.IGNORECASE)
# A site's home page, or a language's ("/", "/en", "/en-us/"): where a removed page lands.
_HOME_PATH = re.compile(r"/?([a-z]{2}([-_][a-z]{2})?/?)?", re.IGNORECASE)


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


def _redirect_wall(capture: JsonObject) -> tuple[str, str] | None:
    """A redirect that ended on a login, consent, challenge or error page, or a home page."""
    requested = str(capture.get("requested_url") or "")
    final = str(capture.get("final_url") or "")
    if not final or final == requested:
        return None
    try:
        before, after = urlsplit(requested), urlsplit(final)
    except ValueError:
        return None
    host = after.hostname or ""
    if _HOME_PATH.fullmatch(after.path) and not _HOME_PATH.fullmatch(before.path):
        return "error_page", f"the page redirected to the site's home page {final}"
    wall_host = _WALL_HOST.match(host) is not None and host != (before.hostname or "")
    path = after.path + ("?" + after.query if after.query else "")
    wall_path = _WALL_PATH.search(path) is not None and _WALL_PATH.search(before.path) is None
    if not (wall_host or wall_path):
        return None
    lowered = (host + after.path).lower()
    if "consent" in lowered:
        reason = "consent_wall"
    elif any(word in lowered for word in ("captcha", "challenge")):
        reason = "bot_challenge"
    elif any(word in lowered for word in ("404", "notfound", "not-found", "error")):
        reason = "error_page"
    else:
        reason = "login_wall"
    return reason, f"the page redirected to {final}"


def lands_on_wall(from_url: str, to_url: str) -> bool:
    """Whether ``from_url`` → ``to_url`` lands on a login, consent, error or home page."""
    return _redirect_wall({"requested_url": from_url, "final_url": to_url}) is not None


def _collapse_persisted(reason: str, state: SourceState, text_sha: str, now: datetime) -> bool:
    """A collapsed text still served unchanged ``COLLAPSE_ACCEPT_AFTER`` later is the page.

    A page really can shrink (a long policy replaced by one short statement — "we have
    resumed processing … requests" is exactly what users must not miss). Error, login
    and bot pages have their own reasons and are never accepted this way.
    """
    if reason != "collapsed" or state.suspect_text != text_sha or state.suspect_since is None:
        return False
    return (now - parse_time(state.suspect_since)).total_seconds() >= COLLAPSE_ACCEPT_AFTER


def suspect_reason(
    text: str,
    select_matched: bool,
    state: SourceState,
    capture: JsonObject | None = None,
) -> tuple[str, str] | None:
    """Why a capture looks like something other than the page, or None.

    ``capture`` (optional) supplies the title and the redirect chain.
    """
    if not select_matched:
        return "selector_matched_nothing", "the source's `select` matched no element"
    if not text.strip():
        return "empty", "the page has no visible text"
    garbled = text.count("\ufffd")
    if garbled >= GARBLED_MIN_CHARS and garbled > len(text) * GARBLED_RATIO:
        return "garbled", (
            f"{garbled * 100 // len(text)}% of the text is undecodable bytes "
            "(a binary file, or a page in another character encoding than it declares)"
        )
    if capture is not None:
        wall = _redirect_wall(capture) or off_site_move(capture)
        if wall is not None:
            return wall
    chars = len(text)
    if chars <= ERROR_PAGE_MAX_CHARS:
        for reason, pattern in _PAGE_PATTERNS:
            found = pattern.search(text)
            if found:
                return reason, f"the page says {found.group(0)!r}"
    last = state.last_good
    title = str((capture or {}).get("title") or "").strip()
    if title and (
        (last is None and chars <= ERROR_PAGE_MAX_CHARS)
        or (last is not None and chars < last.text_chars * TITLE_SHRINK_RATIO)
    ):
        for reason, pattern in _TITLE_PATTERNS:
            if pattern.search(title):
                return reason, f"the page title is {title[:120]!r}"
    if last is None:
        return None
    if last.text_chars >= COLLAPSE_MIN_CHARS and chars < last.text_chars * COLLAPSE_RATIO:
        return "collapsed", f"the text shrank from {last.text_chars} to {chars} characters"
    if last.text_chars >= TINY_LAST_MIN_CHARS and chars < TINY_CHARS:
        return "collapsed", f"only {chars} characters are left of {last.text_chars}"
    return None


# The block markers of a normalized text (``monitor.extract.blocks``): "#"… heading,
# "- " item, "> " quotation, "| … |" row, and the backslash that escapes a block's text.
_LINE_MARKER = re.compile(r"^(?:#{1,6} |- |> |\| )?\\?|(?<= )\|$", re.MULTILINE)


# Typography a CMS swaps at will ("smart quotes" on or off, hyphen or en dash): the
# stored text keeps what the page says, the comparison reads them as the same.
_TYPOGRAPHY = str.maketrans(
    {
        **dict.fromkeys("‘’‚‛′ʼ", "'"),
        **dict.fromkeys("“”„‟″«»", '"'),
        **dict.fromkeys("‐‑‒–—―−", "-"),
        "…": "...",
    }
)
# str.translate looks every character of a page up in that table (~5 ms for 40 KB of
# text); a regex finds the few typographic ones in C and only they are replaced.
_TYPOGRAPHIC = re.compile("[" + "".join(chr(c) for c in _TYPOGRAPHY) + "]")


def _plain_typography(match: re.Match[str]) -> str:
    return str(_TYPOGRAPHY[ord(match.group())])


def words_of(text: str) -> str:
    """A normalized text without its layout: its words and punctuation, one space apart.

    Block markers and the line breaks between blocks are layout: a heading that
    became a paragraph, a paragraph split in two, a list turned into paragraphs
    read the same. So are typographic variants of quotes, dashes and the ellipsis.
    """
    return " ".join(_TYPOGRAPHIC.sub(_plain_typography, _LINE_MARKER.sub("", text)).split())


def words_digest(text: str) -> str:
    """sha256 of ``words_of(text)``: equal for texts that differ in layout only."""
    return hashlib.sha256(words_of(text).encode("utf-8")).hexdigest()


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
    if suspect is not None and not _collapse_persisted(suspect[0], state, text_sha, now):
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
    wall = _redirect_wall(capture)
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

"""Whether a capture looks like something other than the page (row 4 of ``classify``).

``suspect_reason`` flags, in order: a ``select`` that matched nothing; an
empty text; a text that is over a tenth undecodable bytes (``garbled``: binary data
or a wrong charset); a redirect to a login, consent, challenge or error page, or to
the site's home page (where removed pages land); a short text (at most
``ERROR_PAGE_MAX_CHARS``) that says it is a bot challenge, a login or consent wall,
or an error / not-found page; a title that says so on a text that shrank below half
of the last good one; and, against the last good text, a collapse (under
``COLLAPSE_RATIO`` of a text of at least ``COLLAPSE_MIN_CHARS``) or a tiny remnant
(under ``TINY_CHARS`` of a text of at least ``TINY_LAST_MIN_CHARS``).

A collapsed text still served ``COLLAPSE_ACCEPT_AFTER`` after it was first recorded
is the page's new text (``collapse_persisted``). Pure.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import datetime
from urllib.parse import urlsplit

from monitor.core.moves import off_site_move
from monitor.core.projections import SourceState
from monitor.events import JsonObject, parse_time

COLLAPSE_RATIO = 0.2  # a text shrinking to under 20 % of the last good one is suspect
COLLAPSE_ACCEPT_AFTER = 3600  # ... until the same short text is still there an hour later
COLLAPSE_MIN_CHARS = 400  # ... when the last good text was at least this long
TINY_CHARS = 300  # a few lines left of a page ...
TINY_LAST_MIN_CHARS = 1000  # ... that had at least this much text
ERROR_PAGE_MAX_CHARS = 2000  # error/login/bot pages are short; long pages merely mention errors
TITLE_SHRINK_RATIO = 0.5  # an error-like title counts on a text under half the last good one
GARBLED_RATIO = 0.1  # over a tenth U+FFFD: binary data, or text in the wrong encoding ...
GARBLED_MIN_CHARS = 20  # ... and at least this many (a stray bad byte is not garbage)


def _patterns(*pairs: tuple[str, str]) -> Callable[[], tuple[tuple[str, re.Pattern[str]], ...]]:
    """The (reason, pattern) pairs, compiled at their first use (~3 ms for all): most
    processes never look at a short page."""
    return functools.cache(
        lambda: tuple((reason, re.compile(pattern, re.IGNORECASE)) for reason, pattern in pairs)
    )


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


def redirect_wall(capture: JsonObject) -> tuple[str, str] | None:
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
    return redirect_wall({"requested_url": from_url, "final_url": to_url}) is not None


def collapse_persisted(reason: str, state: SourceState, text_sha: str, now: datetime) -> bool:
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
        wall = redirect_wall(capture) or off_site_move(capture)
        if wall is not None:
            return wall
    chars = len(text)
    if chars <= ERROR_PAGE_MAX_CHARS:
        for reason, pattern in _PAGE_PATTERNS():
            found = pattern.search(text)
            if found:
                return reason, f"the page says {found.group(0)!r}"
    last = state.last_good
    title = str((capture or {}).get("title") or "").strip()
    if title and (
        (last is None and chars <= ERROR_PAGE_MAX_CHARS)
        or (last is not None and chars < last.text_chars * TITLE_SHRINK_RATIO)
    ):
        for reason, pattern in _TITLE_PATTERNS():
            if pattern.search(title):
                return reason, f"the page title is {title[:120]!r}"
    if last is None:
        return None
    if last.text_chars >= COLLAPSE_MIN_CHARS and chars < last.text_chars * COLLAPSE_RATIO:
        return "collapsed", f"the text shrank from {last.text_chars} to {chars} characters"
    if last.text_chars >= TINY_LAST_MIN_CHARS and chars < TINY_CHARS:
        return "collapsed", f"only {chars} characters are left of {last.text_chars}"
    return None

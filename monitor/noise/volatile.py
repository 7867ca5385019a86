"""What kind of token changed: volatile, dated, chrome, or real text. Pure.

A change is split into the lines it removed and the lines it added (multisets of
lines, in document order); with as many of each, each removed line is paired with
the added line in its place, and the differing part of each pair (with a few shared
words around it) is *masked*: every volatile token becomes one placeholder. When
every pair masks to the same text, every changed span was made only of volatile
tokens; a line added or removed whole never is:

- identifiers: UUIDs, hex runs of 8+ characters with a digit and a letter,
  base64-like runs of 16+ characters mixing cases and digits, runs of 10+ digits,
  cache-busting parameters (``?v=…``, ``&_=…``);
- relative times: "3 weeks ago", "Updated yesterday", "just now", "this week" … and
  the French ("il y a 3 jours", "hier"), German ("vor 2 Stunden", "gestern"),
  Spanish ("hace 3 días", "ayer") and Chinese ("3天前", "昨天", "刚刚") forms;
- clock times and timestamps: "10:42", "3:05 pm", "2025-06-03T10:42:00Z";
- counters: "1,234 views", "12 likes", "3 comments", "5.2K shares" (and their
  common French, German, Spanish and Chinese words).

``dated``: when only absolute dates differ once volatile tokens are masked
("Last updated: 3 June 2025" → "… 1 July 2025", "2025-06-03", "03/06/2025",
"3. Juni 2025", "2025年6月3日", "© 2025"). ``chrome``: when the document part of the
page (``monitor.noise.visibility``) did not change, or changed only volatile tokens.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from functools import cache
from typing import NamedTuple

VOLATILE, DATED, CHROME = "volatile", "dated", "chrome"
_CONTEXT_WORDS = 6  # shared words kept on each side of a difference when masking it
MAX_WINDOW = 4000  # a difference longer than this (characters) is never a token's
MAX_MASKED = 100_000  # characters masked for one change at most: beyond, it is text
MARK = "\x00"

_NUM = (
    r"(?:\d+|an?|one|two|three|a few|several|a couple of|un|une|deux|trois|quelques|ein|eine"
    r"|einem|einer|zwei|drei|una|dos|tres|unos|unas)"
)
_UNIT_EN = (
    r"(?:seconds?|secs?|minutes?|mins?|hours?|hrs?|days?|weeks?|wks?|months?|mos?|years?|yrs?"
    r"|[smhdwy])"
)
_UNIT_FR = r"(?:secondes?|minutes?|min|heures?|h|jours?|j|semaines?|mois|ans?|années?)"
_UNIT_DE = (
    r"(?:Sekunden?|Minuten?|Min\.?|Stunden?|Std\.?|Tag(?:en)?|Wochen?|Monat(?:en)?|Jahr(?:en)?)"
)
_UNIT_ES = r"(?:segundos?|minutos?|min|horas?|h|días?|dias?|semanas?|mes(?:es)?|años?)"
_QUALIFIER = (
    r"(?:(?:about|over|almost|nearly|under|less than|more than|just|environ|plus de|moins de"
    r"|etwa|über|mehr als|vor etwa|alrededor de|más de|menos de)\s+)?"
)

_RELATIVE = (
    # English
    rf"{_QUALIFIER}{_NUM}\s*{_UNIT_EN}\s+ago\b|\b(?:just now|moments? ago|a moment ago"
    r"|earlier today|today|yesterday|this (?:week|month|year)|last (?:week|month|year)"
    r"|over a (?:week|month|year) ago)\b"
    # French
    rf"|\bil y a\s+{_QUALIFIER}{_NUM}\s*{_UNIT_FR}\b|\b(?:à l'instant|à l’instant|aujourd'hui"
    r"|aujourd’hui|hier|avant-hier|cette (?:semaine|année)|ce mois-ci|la semaine dernière"
    r"|le mois dernier)\b"
    # German
    rf"|\bvor\s+{_QUALIFIER}{_NUM}\s*{_UNIT_DE}(?!\w)|\b(?:gerade eben|soeben|heute|gestern"
    r"|vorgestern|diese Woche|letzte Woche|diesen Monat|letzten Monat)\b"
    # Spanish
    rf"|\bhace\s+{_QUALIFIER}{_NUM}\s*{_UNIT_ES}(?!\w)|\b(?:ahora mismo|hoy|ayer|anteayer"
    r"|esta semana|la semana pasada|este mes|el mes pasado)\b"
    # Chinese (simplified and traditional)
    r"|\d+\s*(?:秒|分钟|分鐘|小时|小時|天|日|周|週|星期|个月|個月|月|年)前|刚刚|剛剛|昨天|今天|前天"
    r"|本周|本週|上周|上週"
)
_CLOCK = (
    r"\b\d{4}-\d{2}-\d{2}[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?"
    r"|\b\d{1,2}:\d{2}(?::\d{2})?(?:\s*[ap]\.?m\.?)?(?:\s*(?:UTC|GMT|CET|CEST|[A-Z][SD]T)\b)?"
    r"|\b\d{1,2}\s*[ap]\.?m\.?(?!\w)"
)
_COUNTER = (
    # Digits in groups (1,234 / 1 234 / 5.2K): never a run that could swallow "1 1 1 …".
    r"\b(?:\d{1,3}(?:[,.\u202f\u00a0 ]\d{3})+|\d+)(?:[.,]\d+)?[KkMm]?\+?\s?"
    r"(?:views?|likes?|comments?|shares?|replies|reply"
    r"|reads?|upvotes?|votes?|followers?|reactions?|retweets?|reposts?|downloads?|vues?"
    r"|j'aime|commentaires?|partages?|Aufrufe|Kommentare?|Likes|Ansichten"
    r"|visualizaciones|vistas|comentarios?|me gusta)\b"
    r"|\d+(?:[.,]\d+)?\s?[万千]?\s?(?:次观看|次觀看|次浏览|次瀏覽|条评论|條評論|个赞|個讚|阅读|閱讀)"
)
_IDENTIFIER = (
    r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
    r"|(?<![\w-])(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}(?![\w-])"
    r"|(?<![\w+/=-])(?=[\w+/=-]*\d)(?=[\w+/=-]*[a-z])(?=[\w+/=-]*[A-Z])[A-Za-z0-9+/_-]{16,}={0,2}"
    r"|\b\d{10,}\b"
    r"|[?&](?:v|ver|version|t|ts|_|cb|cachebust(?:er)?|rev|build|hash|nonce)=[\w.-]+"
)
# Identifiers are matched case-sensitively: their mix of cases is what tells them apart.
_VOLATILE = f"(?:{_IDENTIFIER})|(?i:{_RELATIVE})|(?i:{_CLOCK})|(?i:{_COUNTER})"

_MONTHS_EN = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November"
    r"|December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.?"
)
_MONTHS_OTHER = (
    r"(?:janvier|février|fevrier|mars|avril|mai|juin|juillet|août|aout|septembre|octobre"
    r"|novembre|décembre|decembre|Januar|Jänner|Februar|März|April|Mai|Juni|Juli|August"
    r"|September|Oktober|November|Dezember|enero|febrero|marzo|abril|mayo|junio|julio"
    r"|agosto|septiembre|setiembre|octubre|noviembre|diciembre)"
)
_DAY = r"\d{1,2}(?:st|nd|rd|th|er|\.)?"
_DATE = (
    # Numeric dates: a 4-digit year, or day/month/2-digit year with slashes only —
    # "Section 3.1.12" is a clause number, not a date.
    r"\b\d{4}-\d{1,2}-\d{1,2}\b|\b\d{1,2}([./-])\d{1,2}\1\d{4}\b|\b\d{1,2}/\d{1,2}/\d{2}\b"
    r"|\b\d{4}/\d{1,2}/\d{1,2}\b"
    rf"|(?:\b{_DAY}\s+(?:de\s+)?)?\b{_MONTHS_EN}(?:\s+{_DAY})?,?\s+(?:de\s+)?\d{{4}}\b"
    rf"|\b{_DAY}\s+(?:de\s+)?{_MONTHS_EN}\b|\b{_MONTHS_EN}\s+{_DAY}(?!\w)"
    rf"|(?:\b{_DAY}\s+(?:de\s+)?)?\b{_MONTHS_OTHER}(?:\s+(?:de\s+)?\d{{4}})\b"
    rf"|\b{_DAY}\s+(?:de\s+)?{_MONTHS_OTHER}\b"
    r"|\d{4}\s*年\s*\d{1,2}\s*月(?:\s*\d{1,2}\s*日)?|\d{1,2}\s*月\s*\d{1,2}\s*日"
    r"|(?:©|\(c\)|copyright)\s*(?:\d{4}\s*[-–]\s*)?\d{4}"
)
# English month names are matched case-sensitively ("May" the month, "may" the verb).
_DATE_I = (
    rf"\b\d{{4}}-\d{{1,2}}-\d{{1,2}}\b|(?:\b{_DAY}\s+(?:de\s+)?)?\b{_MONTHS_OTHER}"
    rf"(?:\s+(?:de\s+)?\d{{4}})\b|\b{_DAY}\s+(?:de\s+)?{_MONTHS_OTHER}\b"
)
# Placeholders joined by spaces, punctuation or a preposition are one span.
# (A line of nothing but placeholders still counts as a line: see _same_when_masked.)
_RUN = f"{MARK}(?:(?:[\\s,.;:·•|/()\\[\\]–—-]|\\b(?:at|on|à|le|um|am|a las|el)\\b)*{MARK})+"


class _Patterns(NamedTuple):
    volatile: re.Pattern[str]
    date: re.Pattern[str]
    date_i: re.Pattern[str]
    run: re.Pattern[str]


@cache
def _patterns() -> _Patterns:
    """The compiled patterns, on the first change looked at (not at every start-up:
    compiling them costs several milliseconds, and most runs see no change)."""
    return _Patterns(
        volatile=re.compile(_VOLATILE),
        date=re.compile(_DATE),
        date_i=re.compile(_DATE_I, re.IGNORECASE),
        run=re.compile(_RUN),
    )


def mask_volatile(line: str) -> str:
    """``line`` with every volatile token (and run of them) as one placeholder."""
    patterns = _patterns()
    masked = patterns.volatile.sub(MARK, line)
    return patterns.run.sub(MARK, masked) if MARK in masked else masked


def mask_dates(line: str) -> str:
    """``mask_volatile``, and absolute dates masked too."""
    patterns = _patterns()
    masked = patterns.volatile.sub(MARK, line)
    masked = patterns.date_i.sub(MARK, patterns.date.sub(MARK, masked))
    return patterns.run.sub(MARK, masked) if MARK in masked else masked


def changed_lines(old: Sequence[str], new: Sequence[str]) -> tuple[list[str], list[str]]:
    """The lines only ``old`` has and those only ``new`` has (multisets, in order)."""
    extra_old = Counter(old)
    extra_old.subtract(new)
    extra_new = Counter(new)
    extra_new.subtract(old)
    removed = []
    for line in old:
        if extra_old[line] > 0:
            extra_old[line] -= 1
            removed.append(line)
    added = []
    for line in new:
        if extra_new[line] > 0:
            extra_new[line] -= 1
            added.append(line)
    return removed, added


def _common_prefix(a: str, b: str) -> int:
    """Length of the common prefix (a binary search over slices, in C)."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def _common_suffix(a: str, b: str, limit: int) -> int:
    low, high = 0, limit
    while low < high:
        middle = (low + high + 1) // 2
        if a[len(a) - middle :] == b[len(b) - middle :]:
            low = middle
        else:
            high = middle - 1
    return low


def _windows(a: str, b: str) -> tuple[str, str] | None:
    """The differing parts of two lines, with whole words of shared context around them.

    The context is cut at spaces inside the shared prefix and suffix, so the same
    cut applies to both lines and no token is split. None: the difference is too
    long to be a token's.
    """
    prefix = _common_prefix(a, b)
    suffix = _common_suffix(a, b, min(len(a), len(b)) - prefix)
    start = prefix
    for _ in range(_CONTEXT_WORDS):
        space = a.rfind(" ", 0, start)
        start = max(space, 0)
        if space < 0:
            break
    tail = a[len(a) - suffix :]
    keep = 0
    for _ in range(_CONTEXT_WORDS):
        space = tail.find(" ", keep + 1)
        keep = len(tail) if space < 0 else space
        if space < 0:
            break
    left = a[start : len(a) - suffix + keep]
    right = b[start : len(b) - suffix + keep]
    if max(len(left), len(right)) > MAX_WINDOW:
        return None
    return left, right


def _same_when_masked(removed: list[str], added: list[str], mask: Callable[[str], str]) -> bool:
    """Whether each removed line equals the added line in its place once masked.

    Line for line: a block added or removed whole (a new report "July 2025", a
    "3 comments" line) is a change of the page, whatever it is made of. Only the
    differing part of each pair, with a few words around it, is masked: a long
    paragraph with one changed token costs a few words of matching, not the paragraph.
    """
    budget = MAX_MASKED
    for old, new in zip(removed, added, strict=True):
        windows = _windows(old, new)
        if windows is None:
            return False
        budget -= len(windows[0]) + len(windows[1])
        if budget < 0 or mask(windows[0]) != mask(windows[1]):
            return False
    return True


def token_class(old_lines: Sequence[str], new_lines: Sequence[str]) -> str | None:
    """``volatile`` or ``dated`` when the change is made only of such tokens, else None.

    A change that only reorders lines is never noise.
    """
    return _token_class(*changed_lines(old_lines, new_lines))


def _token_class(removed: list[str], added: list[str]) -> str | None:
    """``token_class`` of a change given as its removed and added lines."""
    if len(removed) != len(added) or not removed:
        return None  # blocks added or removed, or only reordered: never noise
    if _same_when_masked(removed, added, mask_volatile):
        return VOLATILE
    if _same_when_masked(removed, added, mask_dates):
        return DATED
    return None


def _document(lines: list[str], chrome: Sequence[Sequence[int]]) -> list[str]:
    if not chrome:
        return lines
    skip = bytearray(len(lines))
    for start, end in chrome:
        skip[start:end] = b"\x01" * max(0, min(end, len(lines)) - start)
    return [line for line, flag in zip(lines, skip, strict=True) if not flag]


def noise_class(
    old_text: str,
    new_text: str,
    old_chrome: Sequence[Sequence[int]] = (),
    new_chrome: Sequence[Sequence[int]] = (),
) -> str | None:
    """The quiet class of a change (``volatile``, ``chrome``, ``dated``), or None.

    ``*_chrome``: line ranges [start, end) of each text that are page chrome.
    """
    old_lines, new_lines = old_text.split("\n"), new_text.split("\n")
    changed = changed_lines(old_lines, new_lines)
    whole = _token_class(*changed)
    if whole == VOLATILE:
        return VOLATILE
    if not (old_chrome or new_chrome):
        return whole
    old_doc, new_doc = _document(old_lines, old_chrome), _document(new_lines, new_chrome)
    if old_doc == new_doc:
        return CHROME
    changed_inside = changed_lines(old_doc, new_doc)
    # Usually the same lines changed (none of them chrome): the same answer, unmasked again.
    inside = whole if changed_inside == changed else _token_class(*changed_inside)
    # The document changed only volatile tokens, and the chrome changed more than that.
    return CHROME if inside == VOLATILE else inside

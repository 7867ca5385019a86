"""Pure: reviews and annotations of changes, folded from the log; the noise suggestion.

``TriageBook.apply`` takes ``ChangeReviewed`` / ``ChangeAnnotated`` events (stream
``$reviews``) in seq order; the latest review of a change is its status, earlier
ones are its history. The web view folds the same events the same way as
``fold_triage`` over the whole log, so a replay equals the live view.

``suggest_ignore`` turns a change's recorded diff into the ``ignore`` line that
would have removed the changed words from both texts: equal context around each
changed run stays literal (escaped), the run itself becomes ``.*?``. Only runs
that read like dates, times, numbers or ids are generalized (a reworded sentence
gets no pattern: hiding it would hide the next real change too); a block added
or removed whole is matched by its opening words. The patterns are checked, on
the engine ``ignore`` runs on, against the old and new blocks before they are
offered: a pattern that would not make both sides equal is not suggested.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from monitor.events import REVIEW_EVENTS, ChangeReviewed, StoredEvent, names
from monitor.text.patterns import compile_user_regex

REVIEW_STATUSES = ("important", "routine", "noise")
REVIEW_TYPES = names(REVIEW_EVENTS)  # for store queries
CONTEXT_CHARS = 40  # literal context kept on each side of a changed run
MAX_PATTERNS = 5


@dataclass(frozen=True, kw_only=True)
class Review:
    """One review or note of a change, as recorded."""

    seq: int  # the review event's own seq
    change_seq: int
    by: str
    at: str  # recorded_at of the review event
    note: str = ""
    status: str | None = None  # None for a plain annotation


@dataclass
class TriageBook:
    """Every review and note, by the seq of the change they are about."""

    history: dict[int, list[Review]] = field(default_factory=dict)

    def apply(self, event: StoredEvent) -> None:
        judged = event.event
        if not isinstance(judged, REVIEW_EVENTS):
            return
        review = Review(
            seq=event.seq,
            change_seq=judged.change_seq,
            by=judged.by,
            at=event.recorded_at,
            note=judged.note,
            status=judged.status if isinstance(judged, ChangeReviewed) else None,
        )
        self.history.setdefault(review.change_seq, []).append(review)

    def status(self, change_seq: int) -> Review | None:
        """The latest review (with a status) of the change, or None when unreviewed."""
        for review in reversed(self.history.get(change_seq, ())):
            if review.status is not None:
                return review
        return None

    def reviewed(self) -> set[int]:
        return {seq for seq in self.history if self.status(seq) is not None}

    def digest(self) -> str:
        """A stable hash of every review and note, to compare a replay with the live view."""
        rows = [
            [r.seq, r.change_seq, r.by, r.at, r.note, r.status]
            for seq in sorted(self.history)
            for r in self.history[seq]
        ]
        return hashlib.sha256(json.dumps(rows, separators=(",", ":")).encode()).hexdigest()


def fold_triage(events: Iterable[StoredEvent]) -> TriageBook:
    book = TriageBook()
    for event in events:
        book.apply(event)
    return book


# --------------------------------------------------------------------------- noise


_MARKER = re.compile(r"^(?:#{1,6} |- |> |\| )")


def _strip_marker(text: str) -> str:
    return _MARKER.sub("", text)


def _context_before(text: str) -> str:
    """The last words of ``text`` (at most CONTEXT_CHARS), starting at a word boundary."""
    if len(text) <= CONTEXT_CHARS:
        return text
    tail = text[-CONTEXT_CHARS:]
    space = tail.find(" ")
    return tail[space + 1 :] if 0 <= space < len(tail) - 1 else tail


def _context_after(text: str) -> str:
    if len(text) <= CONTEXT_CHARS:
        return text
    head = text[:CONTEXT_CHARS]
    space = head.rfind(" ")
    return head[:space] if space > 0 else head


# What changes on a page without its policy changing: numbers, dates, times, ids.
_VOLATILE = re.compile(
    r"\d|\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b"
    r"|\b(mon|tue|wed|thu|fri|sat|sun)[a-z]*day\b|\b(am|pm|utc|gmt)\b|^[0-9a-f]{6,}$",
    re.IGNORECASE,
)


def _volatile(run: str) -> bool:
    """A changed run that reads like a date, a time, a number or an id."""
    return _VOLATILE.search(run.strip()) is not None


def _trim_volatile(context: str, *, end: bool) -> str:
    """Context without the date or number parts next to the changed run ("…, 2026"):
    they change next year too, so the run's pattern takes them in (spaces as well)."""
    words = context.split(" ")
    pick = -1 if end else 0
    while words and (_volatile(words[pick]) or not words[pick].strip(",.:;()-")):
        words.pop(pick)
    return " ".join(words)


def _escape(text: str) -> str:
    """``re.escape`` that leaves spaces alone: the line is read by people, in TOML."""
    return re.escape(text).replace("\\ ", " ")


def _block_pattern(change: Mapping[str, Any]) -> str | None:
    op = change.get("op")
    if op in ("added", "removed"):
        text = _strip_marker(str(change.get("new") if op == "added" else change.get("old") or ""))
        if not text.strip():
            return None
        return "^" + _escape(_context_after(text)) + (".*" if len(text) > CONTEXT_CHARS else "$")
    if op != "changed":
        return None
    segments = [(int(s[0]), str(s[1])) for s in change.get("inline") or () if s[1]]
    if not segments:
        return None
    if not all(_volatile(text) for op, text in segments if op != 0 and text.strip()):
        return None  # words changed, not a date or a counter: no pattern should hide that
    first = next(i for i, (o, _) in enumerate(segments) if o != 0)
    last = max(i for i, (o, _) in enumerate(segments) if o != 0)
    before = "".join(t for o, t in segments[:first] if o == 0)
    after = "".join(t for o, t in segments[last + 1 :] if o == 0)
    before = _trim_volatile(_context_before(_strip_marker(before)) if before else "", end=True)
    after = _trim_volatile(_context_after(after), end=False)
    pattern = _escape(before) + ".*?" + _escape(after) if after.strip() else None
    if pattern is None:
        pattern = _escape(before) + ".*" if before.strip() else None
    return pattern


def _applies(pattern: str, old: str | None, new: str | None) -> bool:
    """Removing ``pattern`` leaves the old and the new block equal (or both gone)."""
    try:
        compiled = compile_user_regex(pattern)  # the engine `ignore` runs on (RE2)
    except ValueError:
        return False

    def cleaned(text: str | None) -> str:
        return " ".join(compiled.sub("", _strip_marker(text or "")).split())

    return cleaned(old) == cleaned(new)


def suggest_ignore(diff: Mapping[str, Any]) -> list[str]:
    """``ignore`` regexes that would have removed this change from both texts (may be [])."""
    patterns: list[str] = []
    for change in diff.get("changes") or ():
        pattern = _block_pattern(change)
        if pattern is None or pattern in patterns:
            continue
        if not _applies(pattern, change.get("old"), change.get("new")):
            return []  # one block we cannot describe: a partial line would mislead
        patterns.append(pattern)
        if len(patterns) > MAX_PATTERNS:
            return []
    return patterns


def toml_list(patterns: Sequence[str]) -> str:
    """``patterns`` as a TOML array (literal strings where possible)."""
    items = []
    for pattern in patterns:
        if "'" in pattern or "\n" in pattern:
            items.append(json.dumps(pattern, ensure_ascii=False))
        else:
            items.append(f"'{pattern}'")
    return "[" + ", ".join(items) + "]"


def ignore_line(diff: Mapping[str, Any]) -> str | None:
    """The ``ignore = [...]`` line to add to the source, or None when none fits."""
    patterns = suggest_ignore(diff)
    return f"ignore = {toml_list(patterns)}" if patterns else None

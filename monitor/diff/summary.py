"""One deterministic line for humans that says what a diff changed (under 200 characters)."""

from __future__ import annotations

import re
from collections import Counter
from typing import TYPE_CHECKING

from monitor.diff.words import DELETE, EQUAL, INSERT, PATTERNS, collapse, word_count

if TYPE_CHECKING:
    from monitor.diff.textdiff import BlockChange

_RUN_CHARS = 60  # longest quoted run in a summary


def quote(text: str, limit: int = _RUN_CHARS) -> str:
    return "'" + clip(text, limit) + "'"


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


_MARKER_RUN = re.compile(r"#{1,6}|[-*+>|]")
_LEADING_MARKER = re.compile(r"^(?:#{1,6}|[-*+>|]) ")


def substitution(changes: tuple[BlockChange, ...]) -> str:
    """The most telling word edit inside changed blocks: 'old' → 'new', else +/− a run.

    A block marker gained or lost at the start of a line (a paragraph that became a
    list item: "- ") is layout, never the telling edit; a run with words beats one of
    punctuation only.
    """
    best: tuple[int, int, str] | None = None  # (fits, words, text); earliest wins ties
    single = ""
    single_words = False
    for change in changes:
        if change.op != "changed":
            continue
        segments = [(op, collapse(t) if op != EQUAL else t) for op, t in change.inline]
        for k, (op, text) in enumerate(segments):
            if k == 0 and _MARKER_RUN.fullmatch(text):
                continue
            if op == DELETE and k + 1 < len(segments) and segments[k + 1][0] == INSERT:
                before, after = text, segments[k + 1][1]
                if k == 0:  # at the start of the line: markers are not words
                    before, after = _LEADING_MARKER.sub("", before), _LEADING_MARKER.sub("", after)
                if not before or not after:
                    continue
                fits = int(len(before) <= _RUN_CHARS and len(after) <= _RUN_CHARS)
                words = word_count(before) + word_count(after)
                if best is None or (fits, words) > best[:2]:
                    best = (fits, words, f"{quote(before)} → {quote(after)}")
            elif text and op != EQUAL and not single_words:
                if k == 1 and segments[0][0] == -op and _MARKER_RUN.fullmatch(segments[0][1]):
                    continue  # the other half of a marker swap ("# " → "- ")
                neighbours = {segments[i][0] for i in (k - 1, k + 1) if 0 <= i < len(segments)}
                if -op not in neighbours or (k == 1 and _MARKER_RUN.fullmatch(segments[0][1])):
                    has_words = PATTERNS.word.search(text) is not None
                    if not single or has_words:
                        single = f"{'added' if op == INSERT else 'removed'} {quote(text)}"
                        single_words = has_words
    return best[2] if best is not None else single


def summarize(changes: tuple[BlockChange, ...], kinds: tuple[str, ...]) -> str:
    """One deterministic line for humans, under 200 characters."""
    if not changes:
        return "whitespace changed only"
    counts = Counter(c.op for c in changes)
    ops = [op for op in ("changed", "added", "removed", "moved") if counts[op]]
    noun = kinds[0] if len(set(kinds)) == 1 else "block"
    first = counts[ops[0]]
    head = f"{first} {noun}{'' if first == 1 else 's'} {ops[0]}"
    sections = list(dict.fromkeys(c.path for c in changes))
    if len(sections) > 1:
        head += f" in {len(sections)} sections"
    elif sections[0]:
        head += f" under {quote(sections[0][-1])}"
    head += "".join(f", {counts[op]} {op}" for op in ops[1:])
    detail = substitution(changes)
    line = f"{head}; {detail}" if detail else head
    if len(line) >= 200:
        line = head if len(head) < 200 else clip(head, 199)
    return line

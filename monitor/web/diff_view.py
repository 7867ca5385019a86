"""Pure: a change's recorded diff → the blocks the change page draws.

Input is ``ChangeDetected.data["diff"]["changes"]`` (``monitor.diff.textdiff.TextDiff.to_data``):
one entry per added, removed, changed or moved block with word-level ``inline``
segments ``[op, text]`` (op -1 removed, 0 kept, 1 added). When the recorded diff
was shortened (``truncated``), the caller diffs the two text blobs again with
``monitor.diff.textdiff.diff_texts`` and passes the result through the same function, so
both paths draw identically.

Every string here is page-derived and untrusted: this module only splits it into
pieces; escaping is the template's job (Jinja2 autoescape), never done twice and
never skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from monitor.diff.textdiff import diff_texts

REMOVED, KEPT, ADDED = -1, 0, 1
MAX_BLOCKS = 400  # more than this is unreadable in a browser; the text blobs hold the rest


@dataclass(frozen=True, slots=True)
class Piece:
    """A run of text with one diff op; ``mark`` is True for a matched rule term."""

    op: int
    text: str
    mark: bool = False


@dataclass(frozen=True, slots=True)
class DiffBlock:
    """One changed block, ready for the inline and the side-by-side view."""

    op: str  # "added" | "removed" | "changed" | "moved"
    path: tuple[str, ...]
    inline: tuple[Piece, ...]  # removed and added pieces interleaved, in reading order
    old: tuple[Piece, ...]  # the block before: kept and removed pieces
    new: tuple[Piece, ...]  # the block after: kept and added pieces
    matched: bool = False  # the block holds a sentence a rule matched


@dataclass(frozen=True, slots=True)
class RuleView:
    """A matched rule as the change page lists it."""

    rule_id: str
    severity: str
    side: str  # "added" | "removed": the side of the diff the rule matched
    terms: tuple[str, ...]
    sentences: tuple[tuple[Piece, ...], ...]


def _segments(change: Mapping[str, Any]) -> list[tuple[int, str]]:
    raw = change.get("inline") or []
    segments = [(int(op), str(text)) for op, text in raw if text]
    if segments:
        return segments
    # A block with no word-level refinement: all of it went one way.
    op, old, new = change.get("op"), change.get("old"), change.get("new")
    if op == "added" and new:
        return [(ADDED, str(new))]
    if op == "removed" and old:
        return [(REMOVED, str(old))]
    if op == "moved" and new:
        return [(KEPT, str(new))]
    out = []
    if old:
        out.append((REMOVED, str(old)))
    if new:
        out.append((ADDED, str(new)))
    return out


def term_pattern(terms: Iterable[str]) -> re.Pattern[str] | None:
    """A case-insensitive pattern for the rule terms (longest first), or None."""
    unique = sorted({t for t in terms if t.strip()}, key=lambda t: (-len(t), t))
    if not unique:
        return None
    return re.compile("|".join(re.escape(t) for t in unique), re.IGNORECASE)


def mark(pieces: Iterable[Piece], pattern: re.Pattern[str] | None) -> tuple[Piece, ...]:
    """Split ``pieces`` so every match of ``pattern`` is a piece of its own with mark=True."""
    if pattern is None:
        return tuple(pieces)
    out: list[Piece] = []
    for piece in pieces:
        start = 0
        for found in pattern.finditer(piece.text):
            if found.start() == found.end():
                continue
            if found.start() > start:
                out.append(Piece(piece.op, piece.text[start : found.start()]))
            out.append(Piece(piece.op, found.group(0), True))
            start = found.end()
        if start < len(piece.text):
            out.append(Piece(piece.op, piece.text[start:]))
    return tuple(out)


def _squash(text: str) -> str:
    return " ".join(text.split()).casefold()


def blocks(
    changes: Sequence[Mapping[str, Any]],
    *,
    terms: Iterable[str] = (),
    sentences: Iterable[str] = (),
    limit: int = MAX_BLOCKS,
) -> list[DiffBlock]:
    """The drawable blocks of a recorded diff, rule terms marked, at most ``limit``."""
    pattern = term_pattern(terms)
    wanted = [s for s in (_squash(s) for s in sentences) if s]
    out = []
    for change in changes[:limit]:
        segments = _segments(change)
        pieces = [Piece(op, text) for op, text in segments]
        old = [p for p in pieces if p.op != ADDED]
        new = [p for p in pieces if p.op != REMOVED]
        old_text = _squash("".join(p.text for p in old))
        new_text = _squash("".join(p.text for p in new))
        out.append(
            DiffBlock(
                op=str(change.get("op") or "changed"),
                path=tuple(str(p) for p in change.get("path") or ()),
                inline=mark(pieces, pattern),
                old=mark(old, pattern),
                new=mark(new, pattern),
                matched=any(s in old_text or s in new_text for s in wanted),
            )
        )
    return out


def recomputed_changes(old_text: str, new_text: str) -> list[dict[str, Any]]:
    """The full block list of a diff whose recorded form was shortened."""
    return [c.to_data() for c in diff_texts(old_text, new_text).changes]


def rule_views(rules: Sequence[Mapping[str, Any]]) -> list[RuleView]:
    """The matched rules of a change with their sentences, terms marked."""
    views = []
    for rule in rules:
        terms = tuple(_strings(rule, "terms"))
        pattern = term_pattern(terms)
        sentences = tuple(mark([Piece(KEPT, s)], pattern) for s in _strings(rule, "sentences"))
        views.append(
            RuleView(
                rule_id=str(rule.get("rule_id") or rule.get("id") or ""),
                severity=str(rule.get("severity") or ""),
                side=str(rule.get("side") or ""),
                terms=terms,
                sentences=sentences,
            )
        )
    return views


def all_terms(views: Iterable[RuleView]) -> list[str]:
    return [t for v in views for t in v.terms]


def all_sentences(views: Iterable[RuleView]) -> list[str]:
    return ["".join(p.text for p in sentence) for v in views for sentence in v.sentences]


def _strings(rule: Mapping[str, Any], key: str) -> list[str]:
    """The non-empty strings listed under ``key`` (``RuleMatch.to_data`` lists)."""
    value = rule.get(key)
    if not isinstance(value, list):
        return []
    return [v for v in value if isinstance(v, str) and v]

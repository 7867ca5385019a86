"""Blocks of one source that change on every check: learned from the log. Pure.

A change's *region* is what lies between the longest common prefix and suffix of
the old and new lines: everything else is unchanged. A region is named by the
lines around it (``before``/``after``), so the same block changing again has the
same key whatever its text. When ``learn_volatile_after`` (N) consecutive checks
each changed only the same small region (at most ``MAX_REGION_LINES`` lines on
either side) and nothing else, and no token rule explained those changes, the
region is learned (``VolatilityLearned``): a later change confined to it is
``volatile``. It is unlearned (``VolatilityUnlearned``) after
``unlearn_volatile_after`` (M) checks in which it did not change; and forgotten
without an event when the source's settings change or a new baseline is taken
(the fold of ``SourceUpdated``/``BaselineCaptured``), since its lines may no
longer mean the same.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

MAX_REGION_LINES = 3  # a learned region is a block or two, never a section
_CONTEXT_CHARS = 200  # of each anchor line kept in the event, for the auditor


@dataclass(frozen=True, slots=True)
class Region:
    """The changed lines of one change, named by the unchanged lines around them."""

    key: str
    before: str  # the unchanged line just above ("" at the top of the page)
    after: str  # the unchanged line just below ("" at the end)
    old: tuple[str, ...]
    new: tuple[str, ...]


def region_key(before: str, after: str) -> str:
    return hashlib.sha256(f"{before}\n\x1f\n{after}".encode()).hexdigest()[:16]


def change_region(old_lines: Sequence[str], new_lines: Sequence[str]) -> Region | None:
    """The one small region a change is confined to, or None (too big, or no change)."""
    limit = min(len(old_lines), len(new_lines))
    head = 0
    while head < limit and old_lines[head] == new_lines[head]:
        head += 1
    tail = 0
    while (
        tail < limit - head
        and old_lines[len(old_lines) - 1 - tail] == new_lines[len(new_lines) - 1 - tail]
    ):
        tail += 1
    old = tuple(old_lines[head : len(old_lines) - tail])
    new = tuple(new_lines[head : len(new_lines) - tail])
    if not (old or new) or len(old) > MAX_REGION_LINES or len(new) > MAX_REGION_LINES:
        return None
    before = old_lines[head - 1] if head else ""
    after = old_lines[len(old_lines) - tail] if tail else ""
    return Region(key=region_key(before, after), before=before, after=after, old=old, new=new)


def clip(text: str) -> str:
    return text if len(text) <= _CONTEXT_CHARS else text[: _CONTEXT_CHARS - 1] + "…"

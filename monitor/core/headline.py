"""A change's one-line summary led by what a matched rule saw. Pure.

Without a rule match a change's summary is ``monitor.diff.textdiff``'s choice (the most
telling edit anywhere). When a rule matched, the reader wants *that* edit first:
a page whose "Last updated" date changed and whose Hong Kong paragraph went from
"paused" to "resumed" should read ``'paused' → 'resumed' under 'Hong Kong'; 1
other block changed``, not ``'1 June' → '8 July'``. So the headline quotes the
edit inside the block the most severe match (the first, on a tie) was found in,
names its section (the heading above it), and counts the other edits. A match
over figures leads with its first sentence ("Google · Hong Kong · User Data
Requests 2011 (1st half): 123 (2010 (2nd half): 90, +37 %)").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from monitor.config.settings import SEVERITY_ORDER
from monitor.core.rules import RuleMatch
from monitor.diff.summary import quote, substitution
from monitor.diff.textdiff import BlockChange, TextDiff

MAX_CHARS = 200
_OPS = ("changed", "added", "removed", "moved")


def _lead(matches: Sequence[RuleMatch]) -> RuleMatch | None:
    best: RuleMatch | None = None
    for match in matches:
        if best is None or SEVERITY_ORDER[match.severity] > SEVERITY_ORDER[best.severity]:
            best = match
    return best


def _block_of(diff: TextDiff, match: RuleMatch) -> BlockChange | None:
    """The changed block on the match's side that holds its first sentence."""
    ops = ("changed", "added") if match.side == "added" else ("changed", "removed")
    candidates = [c for c in diff.changes if c.op in ops]
    for sentence in match.sentences:
        probe = sentence.rstrip("…")
        for change in candidates:
            text = change.new if match.side == "added" else change.old
            if text and probe and probe in text:
                return change
    return candidates[0] if len(candidates) == 1 else None


def _edit(change: BlockChange) -> str:
    if change.op == "changed":
        return substitution((change,)) or f"changed {quote(change.new or '')}"
    if change.op == "added":
        return f"added {quote(change.new or '')}"
    return f"removed {quote(change.old or '')}"


def _counts(changes: Sequence[BlockChange], *, other: bool) -> str:
    """``1 other block changed``, ``3 blocks: 2 added, 1 changed``."""
    counts = Counter(c.op for c in changes)
    ops = [op for op in _OPS if counts[op]]
    if not ops:
        return ""
    total = sum(counts.values())
    noun = ("other " if other else "") + ("block" if total == 1 else "blocks")
    if len(ops) == 1:
        return f"{total} {noun} {ops[0]}"
    return f"{total} {noun}: {', '.join(f'{counts[op]} {op}' for op in ops)}"


def _fit(head: str, tail: str) -> str:
    line = f"{head}; {tail}" if tail else head
    if len(line) < MAX_CHARS:
        return line
    return head if len(head) < MAX_CHARS else head[: MAX_CHARS - 2] + "…"


def rule_led_summary(diff: TextDiff, matches: Sequence[RuleMatch]) -> str | None:
    """The headline of a change the rules matched, or None to keep the diff's own summary."""
    lead = _lead(matches)
    if lead is None or not diff.changes:
        return None
    if lead.side == "figures":
        if not lead.sentences:
            return None
        return _fit(lead.sentences[0], _counts(diff.changes, other=False))
    change = _block_of(diff, lead)
    if change is None:
        return None
    head = _edit(change)
    if change.path:
        head += f" under {quote(change.path[-1])}"
    others = [c for c in diff.changes if c is not change]
    return _fit(head, _counts(others, other=True))

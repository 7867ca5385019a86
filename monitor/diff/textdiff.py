"""Pure: two normalized texts → a deterministic, exact diff with blocks, words, stats and a patch.

A normalized text is one block per line (see ``monitor.extract.document``). The diff works in
three steps, because diff-match-patch in pure-Python character mode collapses into
one whole-page replacement once a page has ~100 KB of scattered edits:

1. lines: lines unique to both sides anchor a patience-style split (their longest
   increasing run), and diff-match-patch diffs the small gaps between anchors;
2. each run of deleted lines is aligned with the adjacent run of inserted lines by
   word similarity; aligned pairs are refined word by word (Han, Kana and Hangul
   characters count as words, so a one-character change in Chinese is exact);
3. a deleted line equal (up to whitespace) to an inserted line elsewhere is *moved*.

Invariants:

- ``apply_patch(old, diff_texts(old, new).patch) == new`` for every pair of texts;
- the same inputs always give the same result (``Diff_Timeout = 0``, no hash order);
- nothing here does I/O; ``to_data`` is JSON-safe (integers only, lists, no floats).
"""

from __future__ import annotations

import json
import re
from bisect import bisect_left
from collections import Counter, deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from diff_match_patch import diff_match_patch, patch_obj

__all__ = ["CJK_CHARS", "WORD", "BlockChange", "TextDiff", "apply_patch", "diff_texts"]

DELETE, EQUAL, INSERT = -1, 0, 1

_DMP = diff_match_patch()
_DMP.Diff_Timeout = 0  # no deadline: a diff must never depend on how busy the machine is

# Han, Kana, Hangul (and their compatibility blocks): written without spaces, so every
# character is a word of its own.
CJK_CHARS = (
    "\u1100-\u11ff\u2e80-\u2fdf\u3040-\u30ff\u3100-\u312f\u3130-\u318f\u31a0-\u31ff"
    "\u3400-\u4dbf\u4e00-\u9fff\ua960-\ua97f\uac00-\ud7ff\uf900-\ufaff\uff66-\uff9f"
    "\U00020000-\U0003134f"
)
_WORD_PATTERN = rf"[{CJK_CHARS}]|[^\W{CJK_CHARS}]+(?:[^\s\w][^\W{CJK_CHARS}]+)*"
# A word keeps inner punctuation ("1,234", "don't"); trailing punctuation is its own token.
_TOKEN = re.compile(rf"{_WORD_PATTERN}|\s+|\S")
WORD = re.compile(_WORD_PATTERN)  # a word: one CJK character, or a run of other word characters
_HAS_CJK = re.compile(f"[{CJK_CHARS}]")
_HEADING = re.compile(r"(#{1,6}) (.*)")
_PAGE_MARKER = re.compile(r"--- page \d+ ---")

# Above this many cells (old × new items) a gap is split on unique anchors instead of
# handed to diff-match-patch's O((n+m)·d) bisection.
_SMALL_GAP = 40_000
# Cells of the similarity table computed when aligning one run of changed lines.
_ALIGN_CELLS = 4096
_PAIR_THRESHOLD = 400  # per mille word-set similarity for two lines to be "the same block"
# diff-match-patch's fuzzy matcher gives up beyond Match_Distance; context only needs
# to be unique within that reach.
_CONTEXT_WINDOW = 1000 + 32
_RUN_CHARS = 60  # longest quoted run in a summary


@dataclass(frozen=True, slots=True)
class BlockChange:
    """One block (line) that was added, removed, changed or moved."""

    op: str  # "added" | "removed" | "changed" | "moved"
    old: str | None
    new: str | None
    path: tuple[str, ...]  # heading texts above the block, outermost first
    words_removed: tuple[str, ...]
    words_added: tuple[str, ...]
    inline: tuple[tuple[int, str], ...]  # (-1|0|1, text) word-level segments, old → new

    def to_data(self) -> dict[str, Any]:
        return {
            "op": self.op,
            "old": self.old,
            "new": self.new,
            "path": list(self.path),
            "words_removed": list(self.words_removed),
            "words_added": list(self.words_added),
            "inline": [[op, text] for op, text in self.inline],
        }


@dataclass(frozen=True, slots=True)
class TextDiff:
    """The difference between two normalized texts."""

    changes: tuple[BlockChange, ...]
    patch: str  # diff-match-patch patch_toText; turns old into new exactly
    stats: dict[str, int]
    summary: str

    def to_data(self, *, max_chars: int = 20000) -> dict[str, Any]:
        """JSON-safe form; above ``max_chars`` the lists shrink, the patch never does."""
        added = [run for c in self.changes for run in c.words_added]
        removed = [run for c in self.changes for run in c.words_removed]
        data: dict[str, Any] = {
            "patch": self.patch,
            "stats": dict(self.stats),
            "summary": self.summary,
            "changes": [c.to_data() for c in self.changes],
            "added": added,
            "removed": removed,
        }
        if _json_len(data) <= max_chars:
            return data
        # The patch is the evidence that turns old into new; everything else is a view
        # of it and may be shortened.
        data.update(changes=[], added=[], removed=[], truncated=True)
        budget = max_chars - _json_len(data)
        changes = [_clip_change(c.to_data()) for c in self.changes]
        added_runs = [_clip(run, 200) for run in added]
        removed_runs = [_clip(run, 200) for run in removed]
        n_added, used_added = _fit(added_runs, budget // 4)
        n_removed, used_removed = _fit(removed_runs, budget // 4)
        n_changes, used_changes = _fit(changes, budget - used_added - used_removed)
        left = budget - used_added - used_removed - used_changes
        more, used = _fit(added_runs[n_added:], left)
        n_added += more
        more, _ = _fit(removed_runs[n_removed:], left - used)
        n_removed += more
        data.update(changes=changes[:n_changes], added=added_runs[:n_added])
        data["removed"] = removed_runs[:n_removed]
        return data


def diff_texts(old: str, new: str) -> TextDiff:
    """The block, word and character differences that turn ``old`` into ``new``."""
    if old == new:
        stats = dict.fromkeys(_STAT_KEYS, 0)
        stats.update(old_chars=len(old), new_chars=len(new))
        return TextDiff(changes=(), patch="", stats=stats, summary="no changes")
    builder = _Builder(old, new)
    builder.run()
    patch = _patch_text(_make_patches(old, new, builder.diffs))
    stats = builder.stats()
    return TextDiff(
        changes=builder.changes,
        patch=patch,
        stats=stats,
        summary=_summarize(builder.changes, builder.kinds),
    )


def apply_patch(old: str, patch: str) -> str:
    """``old`` with ``patch`` applied strictly: every hunk must match exactly where it says.

    Unlike diff-match-patch's fuzzy ``patch_apply`` this never guesses, so a patch
    applied to the wrong text fails loudly instead of producing a plausible text.
    """
    try:
        patches = _DMP.patch_fromText(patch)
    except ValueError as exc:
        raise ValueError(f"not a diff-match-patch patch: {exc}") from None
    # The patched text is ``"".join(out) + carry + old[pos:]``; hunk positions are in
    # that rolling text (each hunk sees the previous ones applied).
    out: list[str] = []
    out_len = 0
    carry = ""
    pos = 0
    for number, p in enumerate(patches, start=1):
        start = p.start2
        before = "".join(text for op, text in p.diffs if op != INSERT)
        after = "".join(text for op, text in p.diffs if op != DELETE)
        while out_len > start:  # this hunk's context reaches back into text already output
            piece = out.pop()
            out_len -= len(piece)
            carry = piece + carry
        if out_len < start:
            need = start - out_len
            if need <= len(carry):
                out.append(carry[:need])
                carry = carry[need:]
            else:
                rest = need - len(carry)
                if pos + rest > len(old):
                    raise ValueError(f"hunk {number} starts beyond the end of the text")
                out.append(carry + old[pos : pos + rest])
                carry = ""
                pos += rest
            out_len = start
        taken = carry[: len(before)]
        rest = len(before) - len(taken)
        if taken + old[pos : pos + rest] != before:
            raise ValueError(f"hunk {number} does not match the text at offset {start}")
        carry = carry[len(taken) :]
        pos += rest
        out.append(after)
        out_len += len(after)
    return "".join(out) + carry + old[pos:]


# ---------------------------------------------------------------------------- blocks


_STAT_KEYS = (
    "blocks_added",
    "blocks_removed",
    "blocks_changed",
    "blocks_moved",
    "words_added",
    "words_removed",
    "chars_added",
    "chars_removed",
    "old_chars",
    "new_chars",
)


class _Lines:
    """A text as its lines; every line but maybe the last ends with "\\n"."""

    __slots__ = ("ends_nl", "keys", "text")

    def __init__(self, text: str) -> None:
        self.text = text.split("\n")
        self.ends_nl = self.text[-1] == ""
        if self.ends_nl:
            self.text.pop()
        # Line identity for the line diff: a last line without its "\\n" is not the
        # same element as that line with one.
        self.keys: list[Hashable] = list(self.text)
        if not self.ends_nl:
            self.keys[-1] = (self.text[-1],)

    def has_nl(self, k: int) -> bool:
        return k < len(self.text) - 1 or self.ends_nl

    def raw(self, k: int) -> str:
        return self.text[k] + "\n" if self.has_nl(k) else self.text[k]

    def span(self, lo: int, hi: int) -> str:
        joined = "\n".join(self.text[lo:hi])
        return joined + "\n" if self.has_nl(hi - 1) else joined


def _kind(content: str) -> str:
    if _HEADING.match(content):
        return "heading"
    if _PAGE_MARKER.fullmatch(content):
        return "page marker"
    if content.startswith("- "):
        return "list item"
    if " | " in content:
        return "table row"
    return "paragraph"


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _word_count(text: str) -> int:
    return len(WORD.findall(text))


class _Builder:
    """Walks the line diff once, emitting the character diff and the block changes."""

    def __init__(self, old: str, new: str) -> None:
        self.old, self.new = old, new
        self.old_lines, self.new_lines = _Lines(old), _Lines(new)
        self.old_text, self.new_text = self.old_lines.text, self.new_lines.text
        self.diffs: list[tuple[int, str]] = []
        self.changes: tuple[BlockChange, ...] = ()
        self.kinds: tuple[str, ...] = ()
        # (op, old line or -1, new line or -1, inline segments) in document order
        self._found: list[tuple[str, int, int, tuple[tuple[int, str], ...]]] = []
        self._op = EQUAL
        self._parts: list[str] = []  # text of the segment being built, joined once
        self._words_added = 0
        self._words_removed = 0

    def _emit(self, op: int, text: str) -> None:
        if not text:
            return
        if op != self._op:
            self._flush()
            self._op = op
        self._parts.append(text)

    def _flush(self) -> None:
        if self._parts:
            self.diffs.append((self._op, "".join(self._parts)))
            self._parts = []

    def run(self) -> None:
        opcodes = _opcodes(self.old_lines.keys, self.new_lines.keys)
        moved = self._find_moves([op for op in opcodes if op[0] != _SAME])
        moved_from = {j: i for i, j in moved.items()}
        for tag, alo, ahi, blo, bhi in opcodes:
            if tag == _SAME:
                self._emit(EQUAL, self.old_lines.span(alo, ahi))
            else:
                self._run(alo, ahi, blo, bhi, moved, moved_from)
        self._flush()
        self._describe()

    def _find_moves(self, runs: list[tuple[int, int, int, int, int]]) -> dict[int, int]:
        """old line → new line, for deleted lines that reappear (whitespace aside) elsewhere."""
        inserted: dict[str, dict[int, deque[int]]] = {}  # text → run → new lines, in order
        for number, (_, _, _, blo, bhi) in enumerate(runs):
            for j in range(blo, bhi):
                key = _collapse(self.new_text[j])
                if key:
                    inserted.setdefault(key, {}).setdefault(number, deque()).append(j)
        moved: dict[int, int] = {}
        if not inserted:
            return moved
        for number, (_, alo, ahi, _, _) in enumerate(runs):
            for i in range(alo, ahi):
                by_run = inserted.get(_collapse(self.old_text[i]))
                if not by_run:
                    continue
                for run, places in by_run.items():
                    # Within one run an equal line is an edit in place, not a move.
                    if run != number:
                        moved[i] = places.popleft()
                        if not places:
                            del by_run[run]
                        break
        return moved

    def _run(
        self,
        alo: int,
        ahi: int,
        blo: int,
        bhi: int,
        moved: dict[int, int],
        moved_from: dict[int, int],
    ) -> None:
        """One run of deleted lines next to inserted lines: pair the edits, the rest is whole."""
        olds = [i for i in range(alo, ahi) if i not in moved and self.old_text[i].strip()]
        news = [j for j in range(blo, bhi) if j not in moved_from and self.new_text[j].strip()]
        pairs = _align([self.old_text[i] for i in olds], [self.new_text[j] for j in news])
        i, j = alo, blo
        for pi, pj in [(olds[x], news[y]) for x, y in pairs] + [(ahi, bhi)]:
            for k in range(i, pi):
                self._emit(DELETE, self.old_lines.raw(k))
                if k not in moved and self.old_text[k].strip():
                    self._found.append(("removed", k, -1, ((DELETE, self.old_text[k]),)))
            for k in range(j, pj):
                self._emit(INSERT, self.new_lines.raw(k))
                if k in moved_from:
                    self._found.append(("moved", moved_from[k], k, ()))
                elif self.new_text[k].strip():
                    self._found.append(("added", -1, k, ((INSERT, self.new_text[k]),)))
            if pi < ahi:
                self._pair(pi, pj)
            i, j = pi + 1, pj + 1

    def _pair(self, i: int, j: int) -> None:
        before, after = self.old_text[i], self.new_text[j]
        inline = _word_diff(before, after)
        for op, text in inline:
            self._emit(op, text)
        old_nl, new_nl = self.old_lines.has_nl(i), self.new_lines.has_nl(j)
        if old_nl and new_nl:
            self._emit(EQUAL, "\n")
        elif old_nl:
            self._emit(DELETE, "\n")
        elif new_nl:
            self._emit(INSERT, "\n")
        if _collapse(before) != _collapse(after):
            self._found.append(("changed", i, j, tuple(inline)))

    def _describe(self) -> None:
        found = self._found
        old_paths = _heading_paths(self.old_text, [i for op, i, _, _ in found if op == "removed"])
        new_paths = _heading_paths(self.new_text, [j for op, _, j, _ in found if op != "removed"])
        changes: list[BlockChange] = []
        kinds: list[str] = []
        for op, i, j, inline in found:
            if op == "removed":
                old = self.old_text[i]
                self._words_removed += _word_count(old)
                change = BlockChange(op, old, None, old_paths[i], (_collapse(old),), (), inline)
                kinds.append(_kind(old))
            elif op == "added":
                new = self.new_text[j]
                self._words_added += _word_count(new)
                change = BlockChange(op, None, new, new_paths[j], (), (_collapse(new),), inline)
                kinds.append(_kind(new))
            elif op == "moved":
                old, new = self.old_text[i], self.new_text[j]
                inline = tuple(_word_diff(old, new))
                change = BlockChange(op, old, new, new_paths[j], (), (), inline)
                kinds.append(_kind(new))
            else:
                removed: list[str] = []
                added: list[str] = []
                for o, text in inline:
                    run = _collapse(text) if o != EQUAL else ""
                    if run and o == DELETE:
                        removed.append(run)
                        self._words_removed += _word_count(run)
                    elif run:
                        added.append(run)
                        self._words_added += _word_count(run)
                old, new = self.old_text[i], self.new_text[j]
                runs = (tuple(removed), tuple(added))
                change = BlockChange(op, old, new, new_paths[j], *runs, inline)
                kinds.append(_kind(new))
            changes.append(change)
        self.changes, self.kinds = tuple(changes), tuple(kinds)

    def stats(self) -> dict[str, int]:
        counts = Counter(c.op for c in self.changes)
        return {
            "blocks_added": counts["added"],
            "blocks_removed": counts["removed"],
            "blocks_changed": counts["changed"],
            "blocks_moved": counts["moved"],
            "words_added": self._words_added,
            "words_removed": self._words_removed,
            "chars_added": sum(len(t) for op, t in self.diffs if op == INSERT),
            "chars_removed": sum(len(t) for op, t in self.diffs if op == DELETE),
            "old_chars": len(self.old),
            "new_chars": len(self.new),
        }


def _heading_paths(lines: list[str], wanted: list[int]) -> dict[int, tuple[str, ...]]:
    """line index → titles of the headings above it (a heading's own path excludes it),
    under the PDF page it is on ("page 4"), if any."""
    paths: dict[int, tuple[str, ...]] = {}
    if not wanted:
        return paths
    targets = sorted(set(wanted))
    # A PDF's page marker ("--- page 4 ---") opens a level above every heading, so a
    # block's path says which page it is on.
    heads = [
        i
        for i, line in enumerate(lines[: targets[-1]])
        if line[:1] == "#" or (line[:9] == "--- page " and _PAGE_MARKER.fullmatch(line))
    ]
    stack: list[tuple[int, str]] = []  # (level, title)
    h = 0
    for target in targets:
        while h < len(heads) and heads[h] < target:
            line = lines[heads[h]]
            h += 1
            if line[:1] != "#":  # a section that runs on keeps its headings
                stack = [(0, line[4:-4]), *(entry for entry in stack if entry[0] > 0)]
                continue
            m = _HEADING.match(line)
            if m is None or not (title := _collapse(m.group(2))):
                continue
            level = len(m.group(1))
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, title))
        paths[target] = tuple(title for _, title in stack)
    return paths


# ------------------------------------------------------------------------- sequences

_SAME, _CHANGED = 0, 1
Opcode = tuple[int, int, int, int, int]  # (_SAME | _CHANGED, a_lo, a_hi, b_lo, b_hi)


def _opcodes(a: Sequence[Hashable], b: Sequence[Hashable]) -> list[Opcode]:
    """Equal and changed ranges, in order, that turn ``a`` into ``b``.

    Small problems go to diff-match-patch (a minimal diff). Large ones are first split
    on the elements that occur exactly once on each side, in their longest common
    order (patience diff), so scattered edits on a big page stay cheap and local.
    """
    out: list[list[int]] = []

    def emit(tag: int, alo: int, ahi: int, blo: int, bhi: int) -> None:
        if alo == ahi and blo == bhi:
            return
        if out and out[-1][0] == tag:  # ranges arrive in order, so they are contiguous
            out[-1][2], out[-1][4] = ahi, bhi
        else:
            out.append([tag, alo, ahi, blo, bhi])

    stack: list[Opcode] = [(_CHANGED, 0, len(a), 0, len(b))]  # _CHANGED here: "to solve"
    while stack:
        tag, alo, ahi, blo, bhi = stack.pop()
        if tag == _SAME:
            emit(_SAME, alo, ahi, blo, bhi)
            continue
        start = alo
        while alo < ahi and blo < bhi and a[alo] == b[blo]:
            alo += 1
            blo += 1
        emit(_SAME, start, alo, blo - (alo - start), blo)
        end = 0
        while ahi - end > alo and bhi - end > blo and a[ahi - end - 1] == b[bhi - end - 1]:
            end += 1
        if end:
            stack.append((_SAME, ahi - end, ahi, bhi - end, bhi))
            ahi, bhi = ahi - end, bhi - end
        n, m = ahi - alo, bhi - blo
        if n == 0 or m == 0 or n * m == 1 or set(a[alo:ahi]).isdisjoint(b[blo:bhi]):
            emit(_CHANGED, alo, ahi, blo, bhi)
        elif n * m <= _SMALL_GAP:
            _dmp_opcodes(a, b, alo, ahi, blo, bhi, emit)
        else:
            anchors = _unique_anchors(a, b, alo, ahi, blo, bhi)
            if not anchors:  # nothing unique in common: give up on minimality, stay fast
                emit(_CHANGED, alo, ahi, blo, bhi)
                continue
            tasks: list[Opcode] = []
            i, j = alo, blo  # end of the previous anchor
            si, sj = alo, blo  # start of the current stretch of consecutive anchors
            for ai, bj in anchors:
                if ai != i or bj != j:
                    if i > si:
                        tasks.append((_SAME, si, i, sj, j))
                    tasks.append((_CHANGED, i, ai, j, bj))
                    si, sj = ai, bj
                i, j = ai + 1, bj + 1
            if i > si:
                tasks.append((_SAME, si, i, sj, j))
            if i < ahi or j < bhi:
                tasks.append((_CHANGED, i, ahi, j, bhi))
            stack.extend(reversed(tasks))
    return [(t[0], t[1], t[2], t[3], t[4]) for t in out]


def _dmp_opcodes(
    a: Sequence[Hashable],
    b: Sequence[Hashable],
    alo: int,
    ahi: int,
    blo: int,
    bhi: int,
    emit: Callable[[int, int, int, int, int], None],
) -> None:
    codes: dict[Hashable, str] = {}  # element → one character, as diff_linesToChars does for lines
    text_a = "".join([codes.setdefault(x, chr(len(codes))) for x in a[alo:ahi]])
    text_b = "".join([codes.setdefault(x, chr(len(codes))) for x in b[blo:bhi]])
    i, j = alo, blo
    for op, text in _DMP.diff_main(text_a, text_b, False):
        k = len(text)
        if op == EQUAL:
            emit(_SAME, i, i + k, j, j + k)
            i, j = i + k, j + k
        elif op == DELETE:
            emit(_CHANGED, i, i + k, j, j)
            i += k
        else:
            emit(_CHANGED, i, i, j, j + k)
            j += k


def _unique_anchors(
    a: Sequence[Hashable], b: Sequence[Hashable], alo: int, ahi: int, blo: int, bhi: int
) -> list[tuple[int, int]]:
    """The longest in-order chain of elements that occur once in ``a`` and once in ``b``."""
    part_a, part_b = a[alo:ahi], b[blo:bhi]
    count_a, count_b = Counter(part_a), Counter(part_b)
    where = dict(zip(part_b, range(blo, bhi), strict=True))
    pairs = [
        (i, where[x])
        for i, x in zip(range(alo, ahi), part_a, strict=True)
        if count_a[x] == 1 and count_b[x] == 1
    ]
    if all(p[1] < q[1] for p, q in pairwise(pairs)):
        return pairs  # already in order: the usual case of a page edited in place
    tails: list[int] = []  # smallest last j of an increasing chain of each length
    ends: list[int] = []  # index in pairs of that chain's last element
    back = [-1] * len(pairs)
    for k, (_, j) in enumerate(pairs):
        at = bisect_left(tails, j)
        if at:
            back[k] = ends[at - 1]
        if at == len(tails):
            tails.append(j)
            ends.append(k)
        else:
            tails[at] = j
            ends[at] = k
    chain: list[tuple[int, int]] = []
    k = ends[-1] if ends else -1
    while k >= 0:
        chain.append(pairs[k])
        k = back[k]
    chain.reverse()
    return chain


def _pair_class(line: str) -> int:
    """Headings pair only with headings, page markers with page markers."""
    if _HEADING.match(line):
        return 1
    if _PAGE_MARKER.fullmatch(line):
        return 2
    return 0


def _word_set(line: str) -> frozenset[str]:
    """Words for similarity; splitting on spaces is 5× faster and as good without CJK."""
    folded = line.casefold()
    return frozenset(WORD.findall(folded) if _HAS_CJK.search(folded) else folded.split())


def _align(olds: list[str], news: list[str]) -> list[tuple[int, int]]:
    """Monotone (old, new) index pairs of lines that are edits of each other.

    The heaviest chain of similar pairs (word-set Dice similarity, per mille), found
    over a diagonal band so that a rewritten page costs a bounded amount of work.
    A lone old line opposite a lone new line is an edit in place whatever it says.
    """
    if not olds or not news:
        return []
    class_o = [_pair_class(t) for t in olds]
    class_n = [_pair_class(t) for t in news]
    if len(olds) == 1 and len(news) == 1:
        return [(0, 0)] if class_o[0] == class_n[0] else []
    words_o = [_word_set(t) for t in olds]
    words_n = [_word_set(t) for t in news]
    m, n = len(olds), len(news)
    band = n if m * n <= _ALIGN_CELLS else max(1, _ALIGN_CELLS // (2 * m))
    candidates: list[tuple[int, int, int]] = []
    for i in range(m):
        centre = i * n // m
        wa = words_o[i]
        for j in range(max(0, centre - band), min(n, centre + band + 1)):
            wb = words_n[j]
            if class_o[i] != class_n[j] or not wa or not wb:
                continue
            score = 2000 * len(wa & wb) // (len(wa) + len(wb))
            if score >= _PAIR_THRESHOLD:
                candidates.append((i, j, score))
    return _heaviest_chain(candidates, n)


def _heaviest_chain(candidates: list[tuple[int, int, int]], n: int) -> list[tuple[int, int]]:
    """Strictly increasing (i, j) pairs of greatest total score (candidates sorted by i, j)."""
    tree = [(0, -1)] * (n + 1)  # Fenwick tree of prefix maxima over j: (total, candidate)
    back = [-1] * len(candidates)
    best = (0, -1)
    k = 0
    while k < len(candidates):
        row = k
        while row < len(candidates) and candidates[row][0] == candidates[k][0]:
            row += 1
        found = []
        for c in range(k, row):  # query the whole row before updating: i must increase
            _, j, score = candidates[c]
            prefix, q = (0, -1), j
            while q > 0:
                prefix = max(prefix, tree[q])
                q -= q & -q
            back[c] = prefix[1]
            found.append((j, (prefix[0] + score, c)))
        for j, total in found:
            best = max(best, total)
            p = j + 1
            while p <= n:
                tree[p] = max(tree[p], total)
                p += p & -p
        k = row
    chain: list[tuple[int, int]] = []
    c = best[1]
    while c >= 0:
        chain.append((candidates[c][0], candidates[c][1]))
        c = back[c]
    chain.reverse()
    return chain


# ----------------------------------------------------------------------------- words

_TOKEN_DMP = diff_match_patch()
_TOKEN_DMP.Diff_Timeout = 0
# The lossless pass scores boundaries by looking at characters; ours are token codes,
# so its scores would be noise. The rest of cleanupSemantic works on any alphabet.
_TOKEN_DMP.diff_cleanupSemanticLossless = lambda diffs: None


def _word_diff(before: str, after: str) -> list[tuple[int, str]]:
    """Word-level segments turning ``before`` into ``after`` (CJK: one character a word)."""
    if before == after:
        return [(EQUAL, before)] if before else []
    ids: dict[str, int] = {}
    a = [ids.setdefault(t, len(ids)) for t in _TOKEN.findall(before)]
    b = [ids.setdefault(t, len(ids)) for t in _TOKEN.findall(after)]
    if len(ids) > 0x10FFFF:  # more distinct words than code points: no finer answer
        return [(DELETE, before), (INSERT, after)]
    vocab = list(ids)
    encoded: list[tuple[int, str]] = []
    for tag, alo, ahi, blo, bhi in _opcodes(a, b):
        if tag == _SAME:
            encoded.append((EQUAL, "".join([chr(x) for x in a[alo:ahi]])))
            continue
        if ahi > alo:
            encoded.append((DELETE, "".join([chr(x) for x in a[alo:ahi]])))
        if bhi > blo:
            encoded.append((INSERT, "".join([chr(x) for x in b[blo:bhi]])))
    # Merge "edit, tiny equality, edit" into one edit: 'paused processing' → 'resumed
    # handling' reads as one substitution, not two separated by a space.
    _TOKEN_DMP.diff_cleanupSemantic(encoded)
    return [(op, "".join([vocab[ord(ch)] for ch in text])) for op, text in encoded if text]


# ----------------------------------------------------------------------------- patch


def _make_patches(old: str, new: str, diffs: list[tuple[int, str]]) -> list[Any]:
    """diff-match-patch's ``patch_make(old, diffs)``, in time linear in the texts.

    The library rebuilds the whole text after every edit and searches all of it for
    unique context, which is quadratic on a big page with many edits. This follows
    the same steps on a virtual "rolling" text, ``new[:base_new] + old[base_old:]``
    (the text with the previous hunks applied), and makes context unique within
    the reach of the fuzzy matcher (``Match_Distance``) rather than the whole page.
    For texts shorter than that reach the output is the library's, byte for byte.
    """
    margin = _DMP.Patch_Margin
    max_bits = _DMP.Match_MaxBits
    patches: list[Any] = []
    patch = patch_obj()
    at_old = at_new = 0  # positions in old and new
    base_old = base_new = 0

    def rolling(lo: int, hi: int) -> str:
        hi = min(hi, base_new + len(old) - base_old)
        if lo >= hi:
            return ""
        head = new[lo : min(hi, base_new)] if lo < base_new else ""
        tail = old[base_old + max(lo, base_new) - base_new : base_old + hi - base_new]
        return head + tail if hi > base_new else head

    def add_context(p: Any) -> None:
        start, length = p.start2, p.length1
        window = rolling(max(0, start - _CONTEXT_WINDOW), start + length + _CONTEXT_WINDOW)
        pattern = rolling(start, start + length)
        padding = 0
        while window.find(pattern) != window.rfind(pattern) and (
            max_bits == 0 or len(pattern) < max_bits - 2 * margin
        ):
            padding += margin
            pattern = rolling(max(0, start - padding), start + length + padding)
        padding += margin
        prefix = rolling(max(0, start - padding), start)
        if prefix:
            p.diffs[:0] = [(EQUAL, prefix)]
        suffix = rolling(start + length, start + length + padding)
        if suffix:
            p.diffs.append((EQUAL, suffix))
        p.start1 -= len(prefix)
        p.start2 -= len(prefix)
        p.length1 += len(prefix) + len(suffix)
        p.length2 += len(prefix) + len(suffix)

    last = len(diffs) - 1
    for x, (op, text) in enumerate(diffs):
        if not patch.diffs and op != EQUAL:
            # Rolling coordinates: everything before this point already reads as new.
            patch.start1 = patch.start2 = at_new
        if op == INSERT:
            patch.diffs.append((op, text))
            patch.length2 += len(text)
        elif op == DELETE:
            patch.diffs.append((op, text))
            patch.length1 += len(text)
        elif len(text) <= 2 * margin and patch.diffs and x != last:
            patch.diffs.append((op, text))  # a small equality inside a hunk
            patch.length1 += len(text)
            patch.length2 += len(text)
        if op == EQUAL and len(text) >= 2 * margin and patch.diffs:
            add_context(patch)
            patches.append(patch)
            patch = patch_obj()
            base_old, base_new = at_old, at_new
        if op != INSERT:
            at_old += len(text)
        if op != DELETE:
            at_new += len(text)
    if patch.diffs:
        add_context(patch)
        patches.append(patch)
    return patches


# The characters diff-match-patch's patch_toText leaves unescaped (urllib's quote with
# its safe set); everything else is percent-encoded UTF-8.
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-~!*'();/?:@&=+$,# ]+")


def _escape(match: re.Match[str]) -> str:
    return "".join([f"%{byte:02X}" for byte in match.group().encode("utf-8")])


def _patch_text(patches: list[Any]) -> str:
    """``patch_toText``, byte for byte; urllib's quote walks bytes in Python, this doesn't."""
    out: list[str] = []
    for p in patches:
        coords = []
        for start, length in ((p.start1, p.length1), (p.start2, p.length2)):
            if length == 0:
                coords.append(f"{start},0")
            elif length == 1:
                coords.append(f"{start + 1}")
            else:
                coords.append(f"{start + 1},{length}")
        out.append(f"@@ -{coords[0]} +{coords[1]} @@\n")
        for op, text in p.diffs:
            out.append(_SIGN[op] + _UNSAFE.sub(_escape, text) + "\n")
    return "".join(out)


_SIGN = {INSERT: "+", DELETE: "-", EQUAL: " "}


# --------------------------------------------------------------------------- summary


def _quote(text: str, limit: int = _RUN_CHARS) -> str:
    return "'" + _clip(text, limit) + "'"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


_MARKER_RUN = re.compile(r"#{1,6}|[-*+>|]")
_LEADING_MARKER = re.compile(r"^(?:#{1,6}|[-*+>|]) ")


def _substitution(changes: tuple[BlockChange, ...]) -> str:
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
        segments = [(op, _collapse(t) if op != EQUAL else t) for op, t in change.inline]
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
                words = _word_count(before) + _word_count(after)
                if best is None or (fits, words) > best[:2]:
                    best = (fits, words, f"{_quote(before)} → {_quote(after)}")
            elif text and op != EQUAL and not single_words:
                if k == 1 and segments[0][0] == -op and _MARKER_RUN.fullmatch(segments[0][1]):
                    continue  # the other half of a marker swap ("# " → "- ")
                neighbours = {segments[i][0] for i in (k - 1, k + 1) if 0 <= i < len(segments)}
                if -op not in neighbours or (k == 1 and _MARKER_RUN.fullmatch(segments[0][1])):
                    has_words = WORD.search(text) is not None
                    if not single or has_words:
                        single = f"{'added' if op == INSERT else 'removed'} {_quote(text)}"
                        single_words = has_words
    return best[2] if best is not None else single


def _summarize(changes: tuple[BlockChange, ...], kinds: tuple[str, ...]) -> str:
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
        head += f" under {_quote(sections[0][-1])}"
    head += "".join(f", {counts[op]} {op}" for op in ops[1:])
    detail = _substitution(changes)
    line = f"{head}; {detail}" if detail else head
    if len(line) >= 200:
        line = head if len(head) < 200 else _clip(head, 199)
    return line


# -------------------------------------------------------------------------- to_data


def _json_len(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def _fit(items: list[Any], budget: int) -> tuple[int, int]:
    """How many leading items fit in ``budget`` JSON characters, and the size they take."""
    used = 0
    for count, item in enumerate(items):
        size = _json_len(item) + 1  # the comma
        if used + size > budget:
            return count, used
        used += size
    return len(items), used


def _clip_change(change: dict[str, Any]) -> dict[str, Any]:
    """A change's data with long texts shortened, for a size-capped view."""
    for key in ("old", "new"):
        if change[key] is not None:
            change[key] = _clip(change[key], 1000)
    for key in ("words_removed", "words_added"):
        runs = change[key]
        change[key] = [_clip(run, 200) for run in runs[:20]]
    inline = change["inline"]
    last = len(inline) - 1
    for k, segment in enumerate(inline):
        op, text = segment
        if op != EQUAL:
            segment[1] = _clip(text, 1000)
        elif len(text) > 200:  # keep the words next to the edits
            if k == 0:
                segment[1] = "…" + text[-100:]
            elif k == last:
                segment[1] = text[:100] + "…"
            else:
                segment[1] = text[:100] + "…" + text[-100:]
    return change

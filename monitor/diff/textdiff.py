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

Here: the walk over the alignment that emits the character diff and the block
changes. The alignment is ``align``, the patch ``patch``, the summary line
``summary``; words and markers are defined once in ``words``.

Invariants:

- ``apply_patch(old, diff_texts(old, new).patch) == new`` for every pair of texts;
- the same inputs always give the same result (``Diff_Timeout = 0``, no hash order);
- nothing here does I/O; ``to_data`` is JSON-safe (integers only, lists, no floats).
"""

from __future__ import annotations

import json
from collections import Counter, deque
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from monitor.diff.align import SAME, align, opcodes, word_diff
from monitor.diff.patch import apply_patch, make_patches, patch_text
from monitor.diff.summary import clip, summarize
from monitor.diff.words import (
    CJK_CHARS,
    DELETE,
    EQUAL,
    HEADING,
    INSERT,
    PAGE_MARKER,
    collapse,
    word_count,
)

# CJK_CHARS and apply_patch are the package's face too: importers need not know which
# module of diff/ holds them.
__all__ = ["CJK_CHARS", "BlockChange", "TextDiff", "apply_patch", "diff_texts"]


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
        added_runs = [clip(run, 200) for run in added]
        removed_runs = [clip(run, 200) for run in removed]
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
    patch = patch_text(make_patches(old, new, builder.diffs))
    stats = builder.stats()
    return TextDiff(
        changes=builder.changes,
        patch=patch,
        stats=stats,
        summary=summarize(builder.changes, builder.kinds),
    )


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
    if HEADING.match(content):
        return "heading"
    if PAGE_MARKER.fullmatch(content):
        return "page marker"
    if content.startswith("- "):
        return "list item"
    if " | " in content:
        return "table row"
    return "paragraph"


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
        codes = opcodes(self.old_lines.keys, self.new_lines.keys)
        moved = self._find_moves([op for op in codes if op[0] != SAME])
        moved_from = {j: i for i, j in moved.items()}
        for tag, alo, ahi, blo, bhi in codes:
            if tag == SAME:
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
                key = collapse(self.new_text[j])
                if key:
                    inserted.setdefault(key, {}).setdefault(number, deque()).append(j)
        moved: dict[int, int] = {}
        if not inserted:
            return moved
        for number, (_, alo, ahi, _, _) in enumerate(runs):
            for i in range(alo, ahi):
                by_run = inserted.get(collapse(self.old_text[i]))
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
        pairs = align([self.old_text[i] for i in olds], [self.new_text[j] for j in news])
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
        inline = word_diff(before, after)
        for op, text in inline:
            self._emit(op, text)
        old_nl, new_nl = self.old_lines.has_nl(i), self.new_lines.has_nl(j)
        if old_nl and new_nl:
            self._emit(EQUAL, "\n")
        elif old_nl:
            self._emit(DELETE, "\n")
        elif new_nl:
            self._emit(INSERT, "\n")
        if collapse(before) != collapse(after):
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
                self._words_removed += word_count(old)
                change = BlockChange(op, old, None, old_paths[i], (collapse(old),), (), inline)
                kinds.append(_kind(old))
            elif op == "added":
                new = self.new_text[j]
                self._words_added += word_count(new)
                change = BlockChange(op, None, new, new_paths[j], (), (collapse(new),), inline)
                kinds.append(_kind(new))
            elif op == "moved":
                old, new = self.old_text[i], self.new_text[j]
                inline = tuple(word_diff(old, new))
                change = BlockChange(op, old, new, new_paths[j], (), (), inline)
                kinds.append(_kind(new))
            else:
                removed: list[str] = []
                added: list[str] = []
                for o, text in inline:
                    run = collapse(text) if o != EQUAL else ""
                    if run and o == DELETE:
                        removed.append(run)
                        self._words_removed += word_count(run)
                    elif run:
                        added.append(run)
                        self._words_added += word_count(run)
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
        if line[:1] == "#" or (line[:9] == "--- page " and PAGE_MARKER.fullmatch(line))
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
            m = HEADING.match(line)
            if m is None or not (title := collapse(m.group(2))):
                continue
            level = len(m.group(1))
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, title))
        paths[target] = tuple(title for _, title in stack)
    return paths


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
            change[key] = clip(change[key], 1000)
    for key in ("words_removed", "words_added"):
        runs = change[key]
        change[key] = [clip(run, 200) for run in runs[:20]]
    inline = change["inline"]
    last = len(inline) - 1
    for k, segment in enumerate(inline):
        op, text = segment
        if op != EQUAL:
            segment[1] = clip(text, 1000)
        elif len(text) > 200:  # keep the words next to the edits
            if k == 0:
                segment[1] = "…" + text[-100:]
            elif k == last:
                segment[1] = text[:100] + "…"
            else:
                segment[1] = text[:100] + "…" + text[-100:]
    return change

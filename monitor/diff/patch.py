"""The patch that turns the old text into the new one exactly, and its strict application.

The patch is diff-match-patch's text format (``patch_toText``), built in time linear
in the texts; ``apply_patch`` never guesses where a hunk goes, so a patch applied to
the wrong text fails loudly instead of producing a plausible one.
"""

from __future__ import annotations

import re
from typing import Any

from diff_match_patch import patch_obj

from monitor.diff.words import DELETE, DMP, EQUAL, INSERT

# diff-match-patch's fuzzy matcher gives up beyond Match_Distance; context only needs
# to be unique within that reach.
_CONTEXT_WINDOW = 1000 + 32


def apply_patch(old: str, patch: str) -> str:
    """``old`` with ``patch`` applied strictly: every hunk must match exactly where it says.

    Unlike diff-match-patch's fuzzy ``patch_apply`` this never guesses, so a patch
    applied to the wrong text fails loudly instead of producing a plausible text.
    """
    try:
        patches = DMP.patch_fromText(patch)
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


def make_patches(old: str, new: str, diffs: list[tuple[int, str]]) -> list[Any]:
    """diff-match-patch's ``patch_make(old, diffs)``, in time linear in the texts.

    The library rebuilds the whole text after every edit and searches all of it for
    unique context, which is quadratic on a big page with many edits. This follows
    the same steps on a virtual "rolling" text, ``new[:base_new] + old[base_old:]``
    (the text with the previous hunks applied), and makes context unique within
    the reach of the fuzzy matcher (``Match_Distance``) rather than the whole page.
    For texts shorter than that reach the output is the library's, byte for byte.
    """
    margin = DMP.Patch_Margin
    max_bits = DMP.Match_MaxBits
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


def patch_text(patches: list[Any]) -> str:
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

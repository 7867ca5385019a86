"""Which lines (or words) of two sequences correspond: the alignment under the diff.

``opcodes`` gives equal and changed ranges: diff-match-patch for small problems, a
patience-style split on unique elements first for large ones, so scattered edits on
a big page stay cheap and local. ``align`` pairs the lines of a changed run that are
edits of each other (word-set similarity over a diagonal band); ``word_diff`` refines
such a pair word by word.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from itertools import pairwise

from diff_match_patch import diff_match_patch

from monitor.diff.words import (
    DELETE,
    DMP,
    EQUAL,
    HEADING,
    INSERT,
    PAGE_MARKER,
    PATTERNS,
)

# Above this many cells (old × new items) a gap is split on unique anchors instead of
# handed to diff-match-patch's O((n+m)·d) bisection.
_SMALL_GAP = 40_000
# Cells of the similarity table computed when aligning one run of changed lines.
_ALIGN_CELLS = 4096
_PAIR_THRESHOLD = 400  # per mille word-set similarity for two lines to be "the same block"

SAME, CHANGED = 0, 1
Opcode = tuple[int, int, int, int, int]  # (SAME | CHANGED, a_lo, a_hi, b_lo, b_hi)


def opcodes(a: Sequence[Hashable], b: Sequence[Hashable]) -> list[Opcode]:
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

    stack: list[Opcode] = [(CHANGED, 0, len(a), 0, len(b))]  # CHANGED here: "to solve"
    while stack:
        tag, alo, ahi, blo, bhi = stack.pop()
        if tag == SAME:
            emit(SAME, alo, ahi, blo, bhi)
            continue
        start = alo
        while alo < ahi and blo < bhi and a[alo] == b[blo]:
            alo += 1
            blo += 1
        emit(SAME, start, alo, blo - (alo - start), blo)
        end = 0
        while ahi - end > alo and bhi - end > blo and a[ahi - end - 1] == b[bhi - end - 1]:
            end += 1
        if end:
            stack.append((SAME, ahi - end, ahi, bhi - end, bhi))
            ahi, bhi = ahi - end, bhi - end
        n, m = ahi - alo, bhi - blo
        if n == 0 or m == 0 or n * m == 1 or set(a[alo:ahi]).isdisjoint(b[blo:bhi]):
            emit(CHANGED, alo, ahi, blo, bhi)
        elif n * m <= _SMALL_GAP:
            _dmp_opcodes(a, b, alo, ahi, blo, bhi, emit)
        else:
            anchors = _unique_anchors(a, b, alo, ahi, blo, bhi)
            if not anchors:  # nothing unique in common: give up on minimality, stay fast
                emit(CHANGED, alo, ahi, blo, bhi)
                continue
            tasks: list[Opcode] = []
            i, j = alo, blo  # end of the previous anchor
            si, sj = alo, blo  # start of the current stretch of consecutive anchors
            for ai, bj in anchors:
                if ai != i or bj != j:
                    if i > si:
                        tasks.append((SAME, si, i, sj, j))
                    tasks.append((CHANGED, i, ai, j, bj))
                    si, sj = ai, bj
                i, j = ai + 1, bj + 1
            if i > si:
                tasks.append((SAME, si, i, sj, j))
            if i < ahi or j < bhi:
                tasks.append((CHANGED, i, ahi, j, bhi))
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
    for op, text in DMP.diff_main(text_a, text_b, False):
        k = len(text)
        if op == EQUAL:
            emit(SAME, i, i + k, j, j + k)
            i, j = i + k, j + k
        elif op == DELETE:
            emit(CHANGED, i, i + k, j, j)
            i += k
        else:
            emit(CHANGED, i, i, j, j + k)
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
    if HEADING.match(line):
        return 1
    if PAGE_MARKER.fullmatch(line):
        return 2
    return 0


def _word_set(line: str) -> frozenset[str]:
    """Words for similarity; splitting on spaces is 5× faster and as good without CJK."""
    folded = line.casefold()
    return frozenset(
        PATTERNS.word.findall(folded) if PATTERNS.has_cjk.search(folded) else folded.split()
    )


def align(olds: list[str], news: list[str]) -> list[tuple[int, int]]:
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


def word_diff(before: str, after: str) -> list[tuple[int, str]]:
    """Word-level segments turning ``before`` into ``after`` (CJK: one character a word)."""
    if before == after:
        return [(EQUAL, before)] if before else []
    ids: dict[str, int] = {}
    a = [ids.setdefault(t, len(ids)) for t in PATTERNS.token.findall(before)]
    b = [ids.setdefault(t, len(ids)) for t in PATTERNS.token.findall(after)]
    if len(ids) > 0x10FFFF:  # more distinct words than code points: no finer answer
        return [(DELETE, before), (INSERT, after)]
    vocab = list(ids)
    encoded: list[tuple[int, str]] = []
    for tag, alo, ahi, blo, bhi in opcodes(a, b):
        if tag == SAME:
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

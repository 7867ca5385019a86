"""Pure: which configured rules a text diff satisfies, and the sentences that show it.

A rule looks at one *side* of a diff: ``added`` is the new text of changed and added
blocks, ``removed`` the old text of changed and removed blocks (moved blocks never
trigger). Each block is examined whole, so context words elsewhere in a changed
paragraph count. Within one block a rule matches when every ``all`` term occurs, at
least one ``any`` term occurs (if any are given), no ``none`` term occurs and every
``regex`` matches; with ``near = N`` one occurrence of each ``all`` term and of
some ``any`` term must lie within N words of each other (CJK characters are words).

Matching happens on :func:`fold`\\ ed text (NFKC, casefold, whitespace collapsed), so
"ＨＯＮＧ ＫＯＮＧ" is "hong kong". A Latin term must start at a word boundary
("request" matches "requests", not "prerequest"); a term starting with a Han, Kana or
Hangul character matches anywhere. The evidence reported is the original sentences
that contain a matched term. Results follow rule order and are deterministic.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from monitor.config.settings import SEVERITY_ORDER, RuleSettings
from monitor.diff.textdiff import TextDiff
from monitor.diff.words import PATTERNS
from monitor.text.patterns import UserPattern, compile_user_regex

__all__ = [
    "CompiledRule",
    "RuleMatch",
    "compile_rules",
    "fold",
    "highest_severity",
    "match_rules",
]

MAX_SENTENCES = 5
MAX_SENTENCE_CHARS = 400

# A sentence ends after . ! ? followed by space, or after a CJK full stop, ！ or ？.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[。！？｡．])")


def fold(text: str) -> str:
    """The matching form of a text: NFKC (full-width Latin, half-width kana), casefold,
    whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


@dataclass(frozen=True, slots=True)
class _Term:
    """A term as written in the configuration, and how to find it in folded text."""

    text: str
    folded: str  # "" for a regex
    bounded: bool = False  # must not follow a Latin word character
    pattern: UserPattern | None = None  # a regex, on RE2: linear time on any page

    def starts(self, text: str, limit: int = -1) -> list[int]:
        """Offsets where the term occurs in ``text`` (at most ``limit`` when positive)."""
        if self.pattern is not None:
            found = [m.start() for m in self.pattern.finditer(text)]
            return found[:limit] if limit > 0 else found
        # str.find, not a regex: a pattern opening with a lookbehind cannot use the
        # engine's literal-prefix search and is ~50× slower on a big side.
        out: list[int] = []
        at = text.find(self.folded)
        while at >= 0:
            if not self.bounded or at == 0 or not _is_latin_word_char(text[at - 1]):
                out.append(at)
                if len(out) == limit:
                    break
            at = text.find(self.folded, at + 1)
        return out

    def occurs(self, text: str) -> bool:
        return bool(self.starts(text, 1))


def _is_latin_word_char(char: str) -> bool:
    return (char.isalnum() or char == "_") and not PATTERNS.has_cjk.match(char)


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A rule with its terms folded and its patterns compiled, once per configuration."""

    settings: RuleSettings
    all: tuple[_Term, ...]
    any: tuple[_Term, ...]
    none: tuple[_Term, ...]
    regex: tuple[_Term, ...]

    def applies_to(self, source_id: str, source_tags: Sequence[str]) -> bool:
        rule = self.settings
        if rule.sources and source_id not in rule.sources:
            return False
        return not rule.tags or any(tag in rule.tags for tag in source_tags)


@dataclass(frozen=True, slots=True)
class RuleMatch:
    """A rule satisfied by one side of a diff."""

    rule_id: str
    severity: str
    notify: tuple[str, ...]
    side: str  # "added" | "removed"
    sentences: tuple[str, ...]  # original text, at most 5, each at most 400 characters
    terms: tuple[str, ...]  # the terms and regexes that matched, in rule order

    def to_data(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "severity": self.severity,
            "notify": list(self.notify),
            "side": self.side,
            "sentences": list(self.sentences),
            "terms": list(self.terms),
        }


def _term(text: str) -> _Term | None:
    folded = fold(text)
    if not folded:
        return None
    # Only a term that opens with a Latin word character needs a word boundary before it.
    return _Term(text, folded, bounded=_is_latin_word_char(folded[0]))


def compile_rules(rules: Sequence[RuleSettings]) -> tuple[CompiledRule, ...]:
    """Fold every term and compile every regex; raises ValueError for a broken regex."""
    compiled = []
    for rule in rules:
        regexes = []
        for pattern in rule.regex:
            try:
                compiled_pattern = compile_user_regex(pattern, ignore_case=True)
                regexes.append(_Term(pattern, "", pattern=compiled_pattern))
            except ValueError as exc:
                raise ValueError(f"rule {rule.id!r}: regex {pattern!r}: {exc}") from None
        compiled.append(
            CompiledRule(
                settings=rule,
                all=tuple(t for t in map(_term, rule.all) if t is not None),
                any=tuple(t for t in map(_term, rule.any) if t is not None),
                none=tuple(t for t in map(_term, rule.none) if t is not None),
                regex=tuple(regexes),
            )
        )
    return tuple(compiled)


def highest_severity(matches: Iterable[RuleMatch]) -> str:
    """The most severe level among the matches; ``info`` when there are none."""
    return max((m.severity for m in matches), key=SEVERITY_ORDER.__getitem__, default="info")


def match_rules(
    rules: Sequence[CompiledRule],
    diff: TextDiff,
    *,
    source_id: str,
    source_tags: Sequence[str],
) -> tuple[RuleMatch, ...]:
    """Every (rule, side) the diff satisfies, in rule order (``added`` before ``removed``)."""
    sides: dict[str, _Side] = {}
    matches: list[RuleMatch] = []
    for rule in rules:
        if rule.settings.figures is not None:
            continue  # a rule over figures (monitor.figures.decide), not over text
        if not rule.applies_to(source_id, source_tags):
            continue
        for side in ("added", "removed"):
            if rule.settings.on not in (side, "any"):
                continue
            if side not in sides:
                sides[side] = _Side(diff, side)
            match = _match_side(rule, side, sides[side])
            if match is not None:
                matches.append(match)
    return tuple(matches)


# ----------------------------------------------------------------------------- blocks


@dataclass(slots=True)
class _Block:
    """One block prepared for matching: its sentences, folded and joined by spaces."""

    sentences: list[str]
    folded: str
    starts: list[int]  # offset of each sentence in ``folded``
    _words: list[int] | None = field(default=None)

    @classmethod
    def of(cls, text: str) -> _Block:
        sentences = [s.strip() for s in _SENTENCE_END.split(text)]
        sentences = [s for s in sentences if s]
        parts = [fold(s) for s in sentences]
        starts = []
        offset = 0
        for part in parts:
            starts.append(offset)
            offset += len(part) + 1
        return cls(sentences, " ".join(parts), starts)

    def sentence_at(self, offset: int) -> int:
        return bisect_right(self.starts, offset) - 1

    def word_at(self, offset: int) -> int:
        if self._words is None:
            self._words = [m.start() for m in PATTERNS.word.finditer(self.folded)]
        return max(0, bisect_right(self._words, offset) - 1)


class _Side:
    """The blocks of one side of a diff, folded once for every rule.

    All folded blocks are also joined into one text (blocks hold no newline), so a
    rule whose terms are absent from the whole side costs one search, not one per
    block.
    """

    def __init__(self, diff: TextDiff, side: str) -> None:
        ops = ("changed", "added") if side == "added" else ("changed", "removed")
        texts = [c.new if side == "added" else c.old for c in diff.changes if c.op in ops]
        self.blocks = [_Block.of(t) for t in texts if t]
        self.joined = "\n".join(b.folded for b in self.blocks)
        self.offsets: list[int] = []
        offset = 0
        for block in self.blocks:
            self.offsets.append(offset)
            offset += len(block.folded) + 1

    def blocks_with(self, terms: Iterable[_Term]) -> list[int]:
        """Indexes of the blocks in which any of ``terms`` occurs."""
        found = {
            bisect_right(self.offsets, at) - 1 for term in terms for at in term.starts(self.joined)
        }
        return sorted(found)


def _match_side(rule: CompiledRule, side: str, blocks: _Side) -> RuleMatch | None:
    if rule.all:
        candidates = blocks.blocks_with(rule.all[:1])
    elif rule.any:
        candidates = blocks.blocks_with(rule.any)
    else:
        candidates = list(range(len(blocks.blocks)))
    sentences: list[str] = []
    matched_terms: set[str] = set()
    hit = False
    for index in candidates:
        found = _match_block(rule, blocks.blocks[index])
        if found is None:
            continue
        hit = True
        terms, sentence_indexes = found
        matched_terms.update(terms)
        for k in sentence_indexes:
            sentence = _clip(blocks.blocks[index].sentences[k])
            if len(sentences) < MAX_SENTENCES and sentence not in sentences:
                sentences.append(sentence)
    if not hit:
        return None
    ordered = [t.text for t in (*rule.all, *rule.any, *rule.regex) if t.text in matched_terms]
    settings = rule.settings
    return RuleMatch(
        rule_id=settings.id,
        severity=settings.severity,
        notify=tuple(settings.notify),
        side=side,
        sentences=tuple(sentences),
        terms=tuple(dict.fromkeys(ordered)),
    )


def _match_block(rule: CompiledRule, block: _Block) -> tuple[list[str], list[int]] | None:
    """(matched terms, sentence indexes) when the rule holds within this block."""
    text = block.folded
    if any(term.occurs(text) for term in rule.none):
        return None
    all_hits = _every(rule.all, text)
    if all_hits is None:
        return None
    any_hits = []
    for term in rule.any:
        starts = term.starts(text)
        if starts:
            any_hits.append((term, starts))
    if rule.any and not any_hits:
        return None
    regex_hits = _every(rule.regex, text)
    if regex_hits is None:
        return None
    near = rule.settings.near
    if near is not None:
        groups = [[block.word_at(p) for p in starts] for _, starts in all_hits]
        if any_hits:
            groups.append([block.word_at(p) for _, starts in any_hits for p in starts])
        if groups and not _within(groups, near):
            return None
    hits = all_hits + any_hits + regex_hits
    sentence_indexes = sorted({block.sentence_at(p) for _, starts in hits for p in starts})
    if not hits and block.sentences:
        sentence_indexes = [0]  # a rule on scope alone: the block's first sentence shows it
    return [term.text for term, _ in hits], sentence_indexes


def _every(terms: Sequence[_Term], text: str) -> list[tuple[_Term, list[int]]] | None:
    """Where each of ``terms`` starts in ``text``; None as soon as one does not occur."""
    hits = []
    for term in terms:
        starts = term.starts(text)
        if not starts:
            return None
        hits.append((term, starts))
    return hits


def _within(groups: list[list[int]], span: int) -> bool:
    """Whether one position from every group fits in a window of ``span`` words."""
    events = sorted((p, g) for g, positions in enumerate(groups) for p in positions)
    have: Counter[int] = Counter()
    covered = 0
    lo = 0
    for position, group in events:
        if have[group] == 0:
            covered += 1
        have[group] += 1
        while covered == len(groups):
            if position - events[lo][0] <= span:
                return True
            first = events[lo][1]
            have[first] -= 1
            if have[first] == 0:
                covered -= 1
            lo += 1
    return False


def _clip(sentence: str) -> str:
    if len(sentence) <= MAX_SENTENCE_CHARS:
        return sentence
    return sentence[: MAX_SENTENCE_CHARS - 1] + "…"

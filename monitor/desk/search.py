"""Pure: what is searchable in the log, how it is tokenized, and how a hit is shown.

Documents (``SearchDoc``):

* a change's ``added`` and ``removed`` text, one document per changed block and
  side (a changed block's old text is its removed side, its new text the added
  side), with the other side kept to tell "Hong Kong was removed" from "a sentence
  mentioning Hong Kong was reworded": a removed hit whose words are still in the
  block's new text is not a removal (``is_real``);
* a capture's text, one document per line the first time that line appears in the
  source (baselines and changes): "the text of every capture" without storing the
  same page thousands of times.

Tokens: text is casefolded; Han, Kana and Hangul runs become overlapping bigrams
(``香港政府`` → ``香港 港政 政府``), so a query of two or more CJK characters is a
phrase of bigrams and matches wherever those characters stand together, whatever
the tokenizer of the index does with scripts written without spaces.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from monitor.diff.textdiff import CJK_CHARS

SIDES = ("added", "removed", "capture")
SENTENCE_CHARS = 300
_CJK_RUN = re.compile(f"[{CJK_CHARS}]+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|[。！？]|\n")
_MARKER = re.compile(r"^(?:#{1,6} |- |> |\| )")


@dataclass(frozen=True, slots=True)
class SearchDoc:
    """One searchable piece of the log."""

    seq: int  # the change or capture event
    side: str  # "added" | "removed" | "capture"
    source_id: str
    company: str
    at: str  # recorded_at of the event
    text: str
    other: str = ""  # the block's other side, for a change


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One result: where the words are, the sentence they stand in, and a link."""

    seq: int
    side: str
    source_id: str
    company: str
    at: str
    sentence: str
    link: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """What a search asks: its words and the filters; ``conditions`` for a SQL backend."""

    text: str
    side: str | None = None  # "added" | "removed" | "capture"
    company: str = ""
    source: str = ""
    since: str | None = None  # a formatted time: recorded at or after it
    before: int | None = None  # only events before this seq (the next page)
    limit: int = 50

    def conditions(self) -> list[tuple[str, str | int]]:
        """(column and operator, value) of each filter given, for ``WHERE … AND …``."""
        given: list[tuple[str, str | int | None]] = [
            ("side =", self.side),
            ("company_key =", self.company.casefold()),
            ("source_id =", self.source),
            ("at >=", self.since),
        ]
        out: list[tuple[str, str | int]] = [(c, v) for c, v in given if v]
        if self.before is not None:
            out.append(("seq <", self.before))
        return out


def _bigrams(run: str) -> str:
    if len(run) == 1:
        return run
    return " ".join(run[i : i + 2] for i in range(len(run) - 1))


def tokens_text(text: str) -> str:
    """The text as the index stores it: casefolded, CJK runs as bigrams."""
    return _CJK_RUN.sub(lambda m: f" {_bigrams(m.group(0))} ", text.casefold())


def match_expression(query: str) -> str | None:
    """An FTS5 MATCH phrase for ``query`` (None when it holds no word)."""
    words = re.findall(r"\w+", tokens_text(query))
    if not words:
        return None
    return '"' + " ".join(words).replace('"', '""') + '"'


def squash(text: str) -> str:
    return " ".join(text.casefold().split())


def contains(text: str, query: str) -> bool:
    """Whether ``text`` holds the words of ``query`` together (case and spacing aside)."""
    return squash(query) in squash(text)


def is_real(doc: SearchDoc, query: str) -> bool:
    """A removed (added) hit counts when the words are not on the other side of the block."""
    return doc.side == "capture" or not doc.other or not contains(doc.other, query)


def sentence_of(text: str, query: str) -> str:
    """The sentence of ``text`` that holds the query (clipped around it), else the start."""
    text = _MARKER.sub("", text)
    folded = text.casefold()
    where = folded.find(query.casefold().strip())
    if where < 0:
        first = query.casefold().split()
        where = folded.find(first[0]) if first else -1
    if where < 0:
        return _clip(text, 0)
    start = 0
    for found in _SENTENCE_END.finditer(text, 0, where):
        start = found.end()
    end_match = _SENTENCE_END.search(text, where)
    end = end_match.end() if end_match else len(text)
    return _clip(text[start:end].strip(), where - start)


def _clip(text: str, around: int) -> str:
    if len(text) <= SENTENCE_CHARS:
        return text
    half = SENTENCE_CHARS // 2
    lo = max(0, min(around - half, len(text) - SENTENCE_CHARS))
    piece = text[lo : lo + SENTENCE_CHARS]
    return ("…" if lo else "") + piece + ("…" if lo + SENTENCE_CHARS < len(text) else "")


def change_docs(
    seq: int, source_id: str, company: str, at: str, diff: Mapping[str, Any]
) -> Iterator[SearchDoc]:
    """The added and removed sides of every changed block of a change."""
    for change in diff.get("changes") or ():
        old = str(change.get("old") or "")
        new = str(change.get("new") or "")
        op = change.get("op")
        if op == "moved":
            continue  # the same words elsewhere on the page: nothing said or unsaid
        if old:
            yield SearchDoc(
                seq=seq, side="removed", source_id=source_id, company=company, at=at,
                text=old, other=new,
            )  # fmt: skip
        if new:
            yield SearchDoc(
                seq=seq, side="added", source_id=source_id, company=company, at=at,
                text=new, other=old,
            )  # fmt: skip


def capture_lines(text: str) -> list[str]:
    """The lines of a capture worth indexing (page markers are structure, not text)."""
    return [line for line in text.split("\n") if line.strip() and not line.startswith("--- page")]

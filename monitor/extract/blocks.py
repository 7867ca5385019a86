"""The text model every extractor produces: blocks, their normalization, rendering and parsing.

Pure. A page becomes a sequence of ``Block``; ``render_blocks`` turns it into the
*normalized text* that is stored, hashed and diffed — one block per line, like
light Markdown::

    # Transparency report            h1 … h6: "#" × level
    ## Government requests
    Paragraph text as is.            p (also pre, field, record: plain lines)
    - A list item                    li (HTML <ol> items too: their numbers are not text)
    | Hong Kong | 45 | 12 |          row: table cells joined with " | "
    > A quotation                    quote
    --- page 3 ---                   page marker (PDF)

Invariants:

- every ``Block.text`` is ``normalize_text``-normal: NFC, no zero-width or control
  characters, every space a single " ", stripped, never empty, never a newline;
- the rendered text is "\\n"-joined with no final newline and no blank lines;
- ``parse_blocks(render_blocks(bs)) == bs`` whenever every block has a marker
  kind (h1…h6, li, row, quote, page) or is a ``p``; other plain kinds (pre, field,
  record) come back as ``p`` with the same text, and ``line`` (plain text
  sources, rendered verbatim) is parsed like any other line;
- reading a rendered text back as Markdown (``read_markdown``) renders to the
  same text: the stored text is a fixed point of the Markdown reader.

A block whose text would read back as something else — a paragraph that starts
with "- ", contains ``[text](url)``, or is "---" — or that starts with a
backslash is rendered with a leading backslash (``\\- not a list``), as in
Markdown; the reader takes whatever follows a leading backslash verbatim. So
escaping is invertible, never nests, and is needed only for such rare texts.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from monitor.extract.links import clean_url


@dataclass(frozen=True, slots=True)
class Block:
    """One unit of text: a heading, paragraph, list item, table row, record …"""

    kind: str  # "h1".."h6", "p", "li", "row", "pre", "quote", "page", "field", "record", "line"
    text: str  # normalized, single line
    path: tuple[str, ...] = ()  # texts of the enclosing headings, outermost first


Piece = tuple[str, str]  # (kind, text) of a block before heading paths are assigned

HEADING_LEVELS: Final = {f"h{n}": n for n in range(1, 7)}

# --- normalization -----------------------------------------------------------------

# Invisible characters that CMSs insert and remove at will (zero-width space, joiners,
# word joiner, BOM, soft hyphen …) and control characters: never real text.
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060-\u2064\ufeff\u00ad\u180e"
                        "\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f]")  # fmt: skip


def normalize_text(text: str) -> str:
    """Drop invisible characters, NFC, fold every kind of space, collapse, strip.

    ``str.split()`` splits on every Unicode space (NBSP, narrow NBSP, figure
    space, ideographic space, line and paragraph separators …), so joining its
    parts folds and collapses them in one pass. Case, width and typographic
    quotes are kept: they are real text (the rules engine folds on its own).
    Invisible characters go before NFC so that the function is idempotent even
    when a dropped zero-width joiner sat between a letter and a combining mark.
    """
    # Most blocks: once the spaces are folded, a printable text has no invisible
    # character left to drop (they are all format or control characters), and an ASCII
    # or already composed one nothing to compose — the regex and NFC would change nothing.
    folded = " ".join(text.split())
    if folded.isprintable() and (folded.isascii() or unicodedata.is_normalized("NFC", folded)):
        return folded
    text = _INVISIBLE.sub("", text)
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    return " ".join(text.split())


# --- reading one line --------------------------------------------------------------

_HEADING = re.compile(r"(#{1,6}) (.+)")
_ITEM = re.compile(r"[-*+] (.+)")
_QUOTE = re.compile(r">+ ?(.*)")
_PAGE = re.compile(r"--- (page \d+) ---")
_RULE = re.compile(r"([-*_])(?: ?\1){2,}")
_TABLE_SEPARATOR = re.compile(r"\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)*\|?")
_CELL_SPLIT = re.compile(r"(?<!\\)\|")
_FENCE_STARTS = ("```", "~~~")
# Inline link syntax; URLs may hold one level of balanced parentheses (Wikipedia). Link
# texts hold no brackets, so every search is linear: a page of "[[[[…](" cannot stall it.
_URL = r"(<[^<>\n]*>|(?:[^()\s]|\([^()\s]*\))*)"
_TITLE = r"""(?: "[^"]*"| '[^']*'| \([^()]*\))?"""
_IMAGE = re.compile(r"!\[([^\[\]]*)\]\(" + _URL + _TITLE + r"\)")
_LINK = re.compile(r"\[([^\[\]]*)\]\(" + _URL + _TITLE + r"\)")
# A link whose text spans lines (a "card"): "[" alone on a line, text lines, then "](url)".
_LINK_CLOSE = re.compile(r"\]\(" + _URL + _TITLE + r"\)")

# First characters of a text that some reading rule looks at (fast path of _needs_escape).
_SPECIAL_START = frozenset("#-*+>|`~_:[]\\")

_MARKER_KINDS = frozenset({*HEADING_LEVELS, "li", "row", "quote", "page"})


class _Fence:
    """Sentinel: the line opens or closes a fenced code block."""


FENCE: Final = _Fence()
Read = Piece | None | _Fence  # None: a line that carries no text (rule, table separator)


def _has_links(text: str) -> bool:
    return "](" in text and (_LINK.search(text) is not None or _IMAGE.search(text) is not None)


# What a block's line puts around its text (prefix, suffix), by kind; other kinds: nothing.
_MARKS: Final = {
    **{kind: ("#" * level + " ", "") for kind, level in HEADING_LEVELS.items()},
    "li": ("- ", ""),
    "quote": ("> ", ""),
    "row": ("| ", " |"),
    "page": ("--- ", " ---"),
}
_NO_MARK: Final = ("", "")


def _plain(kind: str, text: str, escape: str = "") -> str:
    """The line of a block: its marker, ``escape`` (a backslash, or nothing), its text."""
    prefix, suffix = _MARKS.get(kind, _NO_MARK)
    return prefix + escape + text + suffix


def _needs_escape(kind: str, text: str) -> bool:
    """Would ``text`` of ``kind``, rendered plainly, read back differently (in any mode)?"""
    first = text[0]
    if first == "\\":  # the reader would take it for an escape
        return True
    if kind == "row":
        if "\\" not in text and "-" not in text and "](" not in text:
            # What ``_read`` does with such a row (no separator line without "-", no
            # escaped "|"), without its regexes: every table row of a page comes here.
            cells = [cell.strip() for cell in text.split("|")]
            if not any(cells):
                return True
            joined = " | ".join(cells)
            return joined != text and normalize_text(joined) != text
    elif first not in _SPECIAL_START and "](" not in text:
        return False
    if _has_links(text):  # the Markdown reader would turn the link into its text
        return True
    read_kind = kind if kind in _MARKER_KINDS else "p"
    return _read(_plain(kind, text), None) != (read_kind, text)


def _body(kind: str, body: str, inline: LinkInliner | None) -> Piece | None:
    if len(body) > 1 and body[0] == "\\":  # escaped: the rest is the text, verbatim
        return (kind, body[1:])
    if kind == "row":
        cells = [c.strip() for c in _CELL_SPLIT.split(body)]
        if inline is not None:
            cells = [inline(c) for c in cells]
        if not any(cells):
            return None
        text = normalize_text(" | ".join(cells))
    else:
        text = inline(body) if inline is not None else body
    return (kind, text) if text else None


def _read(line: str, inline: LinkInliner | None) -> Read:
    """Classify one normalized, non-empty line. ``inline`` is None for structure only."""
    first = line[0]
    if first == "[" and line == "[":
        return None
    if first == "]":
        close = _LINK_CLOSE.fullmatch(line)
        if close:
            return inline.close_link(close.group(1)) if inline is not None else None
    if first in "`~" and line.startswith(_FENCE_STARTS):
        return FENCE
    if "|" in line and _TABLE_SEPARATOR.fullmatch(line):
        return None
    if first in "-*_":
        if _RULE.fullmatch(line):
            return None
        page = _PAGE.fullmatch(line)
        if page:
            return ("page", page.group(1))
    if first == "#":
        heading = _HEADING.fullmatch(line)
        if heading:
            return _body(f"h{len(heading.group(1))}", heading.group(2), inline)
    elif first in "-*+":
        item = _ITEM.fullmatch(line)
        if item:
            return _body("li", item.group(1), inline)
    elif first == ">":
        quote = _QUOTE.fullmatch(line)
        return _body("quote", quote.group(1), inline) if quote and quote.group(1) else None
    elif first == "|":
        inner = line[1:]
        if inner.endswith("|") and not inner.endswith("\\|"):
            inner = inner[:-1]
        return _body("row", inner.strip(), inline)
    return _body("p", line, inline)


# --- rendering and parsing ---------------------------------------------------------


def render_block(block: Block) -> str:
    """The one line that stands for ``block`` in a normalized text."""
    kind, text = block.kind, block.text
    if kind in ("line", "page") or not _needs_escape(kind, text):
        return _plain(kind, text)
    return _plain(kind, text, "\\")


def render_blocks(blocks: Sequence[Block]) -> str:
    """The normalized text: one line per block, "\\n"-joined, no final newline."""
    return "\n".join([render_block(b) for b in blocks])


def with_paths(pieces: Iterable[Piece]) -> tuple[Block, ...]:
    """Blocks with heading paths: each block lies under the headings open above it."""
    out: list[Block] = []
    open_headings: list[tuple[int, str]] = []
    path: tuple[str, ...] = ()
    for kind, text in pieces:
        level = HEADING_LEVELS.get(kind)
        if level is None:
            out.append(Block(kind, text, path))
            continue
        while open_headings and open_headings[-1][0] >= level:
            open_headings.pop()
        out.append(Block(kind, text, tuple(t for _, t in open_headings)))
        open_headings.append((level, text))
        path = tuple(t for _, t in open_headings)
    return tuple(out)


def parse_blocks(text: str) -> tuple[Block, ...]:
    """Blocks (with heading paths) recovered from a normalized text alone.

    The inverse of ``render_blocks`` for marker kinds and ``p``. No line is ever
    lost: a line the Markdown reader would drop ("---") comes back as ``p``.
    """
    pieces: list[Piece] = []
    for raw in text.split("\n"):
        line = normalize_text(raw)
        if not line:
            continue
        read = _read(line, None)
        pieces.append(read if isinstance(read, tuple) else ("p", line))
    return with_paths(pieces)


# --- Markdown ----------------------------------------------------------------------


class LinkInliner:
    """Turns ``[text](url)`` into ``text`` (``text <url>`` when links are watched).

    Images ``![alt](src)`` become their alt text. ``links`` counts the links seen.
    """

    def __init__(self, *, watch_links: bool, base: str | None) -> None:
        self.watch_links = watch_links
        self.base = base
        self.links = 0

    def _link(self, match: re.Match[str]) -> str:
        self.links += 1
        label = match.group(1)
        if not self.watch_links:
            return label
        url = clean_url(match.group(2).strip("<>"), self.base)
        return f"{label} <{url}>" if url else label

    def close_link(self, target: str) -> Piece | None:
        """The line ending a link whose text spanned lines: its target, if links are watched."""
        self.links += 1
        url = clean_url(target.strip("<>"), self.base) if self.watch_links else None
        return ("p", f"<{url}>") if url else None

    def __call__(self, text: str) -> str:
        if "](" not in text:
            return text
        text = _IMAGE.sub(r"\1", text)
        return normalize_text(_LINK.sub(self._link, text))


def read_markdown(text: str, inline: LinkInliner) -> list[Piece]:
    """Markdown (or a rendered normalized text) → pieces, one per non-blank line.

    Headings keep their level and feed the heading paths; "- ", "* " and "+ "
    items become ``li``; "|" rows become ``row``; "> " lines ``quote``; fenced
    code lines ``pre``; rules and table separator lines are dropped; links become
    their text (``[text](url)`` → "text", ``![alt](src)`` → "alt"), including a
    link whose text spans lines ("[" alone on a line … "](url)").

    An ordered item ("1. Scope") stays a paragraph *with* its number: clause
    numbers in legal texts are text, and HTML paragraphs that start with a
    number must not need escaping in the stored text.
    """
    pieces: list[Piece] = []
    in_fence = False
    for raw in text.splitlines():
        line = normalize_text(raw)
        if not line:
            continue
        if in_fence:
            if line.startswith(_FENCE_STARTS):
                in_fence = False
            else:
                pieces.append(("pre", line))
            continue
        read = _read(line, inline)
        if read is FENCE:
            in_fence = True
        elif isinstance(read, tuple):
            pieces.append(read)
    return pieces


def row_text(cells: Sequence[str]) -> str:
    """The text of a table row: normalized cells joined with " | ", "|" in a cell escaped."""
    return normalize_text(" | ".join(c.replace("|", "\\|") for c in cells))

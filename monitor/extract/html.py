"""HTML → text pieces, with selectolax (Lexbor). The hot path of every check.

Pure: takes markup (text, or UTF-8 bytes), returns pieces; no I/O. The document
is walked once, in order, with an explicit stack (never Python recursion; and
``extract_nesting`` bounds absurd nesting before Lexbor, whose parse is
quadratic in depth), producing one piece per block:

- h1…h6 → headings; p, dt, dd, figcaption, caption, summary … → ``p``; li →
  ``li``; blockquote → ``quote``; pre → one ``pre`` piece per line;
- a data-table row (``tr``) → one ``row`` piece, its cells joined with " | ";
  a row holding a nested table or a heading is page layout, not data, and its
  cells are read as containers;
- text directly inside containers (div, section …) between child blocks is
  kept as its own ``p`` pieces: ``<div>a<p>b</p>c</div>`` gives "a", "b", "c";
- paragraphs inside a list item or a quotation stay list items or quotations;
- inline elements (a, span, b, code, sup …) stay inline; ``br`` is a space.

Never text: what no reader sees, by the rules of ``monitor.noise.visibility``
(scripts, styles, templates, the head, ``noscript`` on a page with scripts,
``hidden`` and inline ``display:none``/``visibility:hidden`` elements, closed
dialogs, cookie-consent managers' containers, screen-reader-only copies of text
shown beside them) and whatever the source's ``remove`` selectors match. Link
targets are not text unless the source watches links: then each link adds
" <url>" after its text (resolved, tracking parameters removed).

The same walk marks which pieces are page *chrome* (navigation, banners, footers,
asides; everything outside the page's ``main`` when it has one): ``HtmlDraft.chrome``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from selectolax.lexbor import LexborHTMLParser, LexborNode, SelectolaxError

from monitor.extract.blocks import HEADING_LEVELS, Piece, normalize_text, row_text
from monitor.extract.links import clean_url, resolve_base
from monitor.extract.nesting import SCAN_FROM_TAGS, bound_nesting
from monitor.noise.visibility import (
    CONSENT_MANAGERS,
    DOCUMENT,
    NEVER_TEXT_TAGS,
    OUTSIDE,
    chrome_marks,
    chrome_pieces,
    has_script,
    outermost,
    strip_invisible,
)

log = logging.getLogger(__name__)

__all__ = [
    "CONSENT_MANAGERS",
    "HtmlDraft",
    "PreparedHtml",
    "prepare_html",
    "walk_prepared",
]

# Blocks that set their own kind.
_OWN_KIND = {**{h: h for h in HEADING_LEVELS}, "li": "li", "blockquote": "quote", "pre": "pre"}
# Blocks that are paragraphs, except inside a list item or quotation, whose kind they keep.
_PARAGRAPHS = frozenset(
    {
        "p", "dt", "dd", "figcaption", "caption", "summary", "legend", "option",
        "div", "section", "article", "main", "header", "footer", "nav", "aside", "ul",
        "ol", "dl", "menu", "table", "thead", "tbody", "tfoot", "tr", "td", "th",
        "form", "fieldset", "figure", "details", "hgroup", "address", "center", "search",
        "dialog", "body", "html", "hr", "select", "optgroup", "colgroup", "listing",
        "plaintext", "xmp", "output", "noframes",
    }
)  # fmt: skip
_INHERITED = ("li", "quote")
_LAYOUT_MARKERS = "tr table, tr h1, tr h2, tr h3, tr h4, tr h5, tr h6"

# What an element is to the walker (by tag name; anything else is inline).
_SKIP, _BREAK, _ANCHOR, _BLOCK, _TR, _TD = range(6)
_ROLES: dict[str, int] = {
    **dict.fromkeys(NEVER_TEXT_TAGS, _SKIP),
    **dict.fromkeys(_OWN_KIND, _BLOCK),
    **dict.fromkeys(_PARAGRAPHS, _BLOCK),
    "br": _BREAK,
    "a": _ANCHOR,
    "tr": _TR,
    "td": _TD,
    "th": _TD,
}
# What to do when an open element ends.
_END_INLINE, _END_BLOCK, _END_SPACE, _END_LINK, _END_CELL, _END_ROW, _END_MARKED = range(7)
# noscript: skipped on a page with scripts, else read like any container.
_ROLES_SCRIPTED = {**_ROLES, "noscript": _SKIP}
_ROLES_UNSCRIPTED = {**_ROLES, "noscript": _BLOCK}


@dataclass(frozen=True, slots=True)
class HtmlDraft:
    """What an HTML page yields before ``ignore`` and heading paths."""

    pieces: list[Piece]
    title: str | None
    links: int
    select_matched: bool
    chrome: tuple[int, ...] = ()  # indices of the pieces that are page chrome


def _layout_rows(tree: LexborHTMLParser) -> frozenset[int]:
    """Rows that lay a page out (they hold a table or a heading) rather than data."""
    if tree.css_first("tr") is None:
        return frozenset()
    rows: set[int] = set()
    for marker in tree.css(_LAYOUT_MARKERS):
        node = marker.parent
        while node is not None:
            if node.tag == "tr":
                rows.add(node.mem_id)
            node = node.parent
    return frozenset(rows)


def _walk(
    root: LexborNode,
    pieces: list[Piece],
    *,
    layout_rows: frozenset[int],
    base: str | None,
    watch_links: bool,
    roles_of: dict[str, int],
    marks: dict[int, int],
    regions: list[tuple[int, int]],
) -> int:
    """Append the pieces of ``root``'s subtree to ``pieces``; return the number of links.

    ``marks`` (element ``mem_id`` → region) start chrome or document regions; each
    region change is appended to ``regions`` as (index of the next piece, region), the
    region in force when the walk starts being ``regions[-1]``.

    One iterative depth-first pass (``open_ends`` is the explicit stack of open
    elements). Written as a single loop with local variables because it runs
    for every node of every page checked: calls and attribute lookups here are
    most of the extraction time.
    """
    block_buf: list[str] = []  # text of the block being read
    buf = block_buf  # where text goes: the block, or the current table cell
    kinds = ["p"]  # kind of each open block, innermost last
    cells: list[str] | None = None  # not None inside a data row
    hrefs: list[str | None] = []  # link targets of open <a> elements (watch_links)
    open_ends: list[int] = []
    links = 0
    roles = roles_of.get
    states = [regions[-1][1]]  # region of each open marked element, innermost last

    def flush(kind: str) -> None:
        if not block_buf:
            return
        raw = "".join(block_buf)
        block_buf.clear()
        if kind == "pre":
            pieces.extend(("pre", t) for t in map(normalize_text, raw.split("\n")) if t)
            return
        text = normalize_text(raw)
        if text:
            pieces.append((kind, text))

    node: LexborNode | None = root
    while node is not None:
        tag = node.tag or ""
        end = -1  # -1: nothing to close later (a text node, or a skipped subtree)
        if tag == "-text":
            buf.append(node.text_content or "")
        else:
            role = roles(tag)
            if role is None:
                end = _END_INLINE
            elif role == _SKIP:
                pass
            elif role == _BREAK:
                buf.append(" ")
                end = _END_INLINE
            elif role == _ANCHOR:
                href = node.attrs.get("href")
                if href is None:
                    end = _END_INLINE
                else:
                    links += 1
                    hrefs.append(clean_url(href, base) if watch_links else None)
                    end = _END_LINK
            elif cells is not None:  # inside a data row: everything is cell text
                if role == _TD:
                    buf = []
                    end = _END_CELL
                else:
                    buf.append(" ")
                    end = _END_SPACE
            elif role == _TR and node.mem_id not in layout_rows:
                flush(kinds[-1])
                cells = []
                buf = []  # whitespace between cells goes nowhere
                end = _END_ROW
            else:
                flush(kinds[-1])
                kind = _OWN_KIND.get(tag)
                if kind is None:
                    outer = kinds[-1]
                    kind = outer if outer in _INHERITED else "p"
                kinds.append(kind)
                end = _END_BLOCK
                if marks:
                    mark = marks.get(node.mem_id)
                    if mark is not None:
                        states.append(mark)
                        regions.append((len(pieces), mark))
                        end = _END_MARKED
            if end >= 0:
                open_ends.append(end)
                child = node.first_child
                if child is not None:
                    node = child
                    continue
        # ``node`` is finished: close it, then go to its next sibling, closing ancestors.
        while True:
            if end >= 0:
                end = open_ends.pop()
                if end == _END_BLOCK:
                    flush(kinds.pop())
                elif end == _END_SPACE:
                    buf.append(" ")
                elif end == _END_LINK:
                    url = hrefs.pop()
                    if url:
                        buf.append(f" <{url}>")
                elif end == _END_CELL:
                    assert cells is not None
                    cells.append(normalize_text("".join(buf)))
                    buf = []
                elif end == _END_ROW:
                    assert cells is not None
                    if any(cells):
                        pieces.append(("row", row_text(cells)))
                    cells = None
                    buf = block_buf
                elif end == _END_MARKED:
                    flush(kinds.pop())
                    states.pop()
                    regions.append((len(pieces), states[-1]))
            if not open_ends:  # ``node`` was the root
                node = None
                break
            sibling = node.next
            if sibling is not None:
                node = sibling
                break
            node = node.parent
            end = 0  # the parent is finished too, and it is an open element
            assert node is not None
    flush(kinds[-1])
    return links


@dataclass(frozen=True, slots=True)
class PreparedHtml:
    """A parsed page with everything that is never text removed, ready to be walked.

    What ``prepare_html`` hands to the walk (``walk_prepared``) and to the same-text
    fingerprint (``monitor.extract.fingerprint``), so both read the same tree.
    """

    tree: LexborHTMLParser
    roots: list[LexborNode]  # the subtrees to read: ``select``'s outermost matches, or the body
    title: str | None
    base: str | None  # the base URL of links (only when links are watched)
    layout_rows: frozenset[int]  # mem_ids of the ``tr`` that lay the page out
    select_matched: bool
    whole_page: bool = True  # no ``select``: chrome is looked for in the whole page
    roles_of: dict[str, int] = field(default_factory=lambda: _ROLES_UNSCRIPTED)
    # Where chrome regions start (``noise.visibility.chrome_marks``), when asked for: taken
    # before anything else touches the tree, since they weigh text, script text included.
    marks: dict[int, int] | None = None

    @property
    def never_text(self) -> frozenset[str]:
        """The tags the walk skips whole on this page (``noscript`` only if it has scripts)."""
        return frozenset(tag for tag, role in self.roles_of.items() if role == _SKIP)


def prepare_html(
    markup: str | bytes,
    *,
    page_url: str | None,
    select: str | None,
    remove: Sequence[str],
    watch_links: bool,
    consent: bool = True,
    chrome: bool = False,
) -> PreparedHtml:
    """Parse ``markup``; remove what no reader sees (``noise.visibility``) and ``remove``.

    ``chrome``: also mark where the page's chrome is, for ``walk_prepared(chrome=True)``.
    """
    if isinstance(markup, str) and markup.count("<") >= SCAN_FROM_TAGS:
        markup = markup.encode("utf-8")
    if isinstance(markup, bytes):
        markup = bound_nesting(markup)  # parsing is quadratic in depth: bound it first
    tree = LexborHTMLParser(markup)
    title_node = tree.css_first("head > title")
    title = normalize_text(title_node.text()) if title_node is not None else ""
    base = None
    if watch_links:
        base_node = tree.css_first("head > base[href]")
        base_href = base_node.attributes.get("href") if base_node is not None else None
        base = resolve_base(page_url, base_href)

    strip_invisible(tree, consent=consent, remove=remove)
    if select:
        try:
            roots = outermost(tree.css(select))
        except SelectolaxError:
            log.warning("invalid select selector %r: nothing can match", select)
            roots = []
        if not roots:
            return PreparedHtml(tree, [], title or None, base, frozenset(), False, False)
    else:
        top = tree.body or tree.root
        roots = [top] if top is not None else []
    roles_of = _ROLES_SCRIPTED if has_script(tree) else _ROLES_UNSCRIPTED
    marks = chrome_marks(tree, whole_page=not select) if chrome else None
    return PreparedHtml(
        tree, roots, title or None, base, _layout_rows(tree), True, not select, roles_of, marks
    )


def walk_prepared(prepared: PreparedHtml, *, watch_links: bool, chrome: bool = False) -> HtmlDraft:
    """The pieces of a prepared page's roots, in document order.

    ``chrome``: also find the chrome pieces (only needed when the text changed).
    """
    if not prepared.select_matched:
        return HtmlDraft(pieces=[], title=prepared.title, links=0, select_matched=False)
    pieces: list[Piece] = []
    links = 0
    marks: dict[int, int] = {}
    if chrome:
        marks = (
            prepared.marks
            if prepared.marks is not None
            else chrome_marks(prepared.tree, whole_page=prepared.whole_page)
        )
    start = OUTSIDE if DOCUMENT in marks.values() else DOCUMENT
    regions = [(0, start)]
    for root in prepared.roots:
        regions.append((len(pieces), start))
        links += _walk(
            root,
            pieces,
            layout_rows=prepared.layout_rows,
            base=prepared.base,
            watch_links=watch_links,
            roles_of=prepared.roles_of,
            marks=marks,
            regions=regions,
        )
    return HtmlDraft(
        pieces=pieces,
        title=prepared.title,
        links=links,
        select_matched=True,
        chrome=_chrome(pieces, regions) if marks else (),
    )


def _chrome(pieces: list[Piece], regions: list[tuple[int, int]]) -> tuple[int, ...]:
    """Indices of chrome pieces, from the walk's region changes."""
    states = [DOCUMENT] * len(pieces)
    for (index, state), (end, _) in zip(regions, [*regions[1:], (len(pieces), 0)], strict=True):
        states[index:end] = [state] * max(0, end - index)
    return chrome_pieces(states, [len(text) for _, text in pieces])

"""Pure extraction: response bytes + media type + a source's rules → normalized text blocks.

The entry point of the extraction core (HTML, PDF, JSON, CSV, Markdown, plain
text). No I/O, no clock, no randomness: the same bytes and settings give the
same ``Extraction`` on every run and machine, which is what lets the monitor
store, hash and compare texts. ``EXTRACTOR_VERSION`` names the output: bump it
whenever the text for the same input changes.

Format choice: ``source.format`` if set; else a body that starts with ``%PDF-``
is a PDF whatever its label; else the Content-Type; else sniffing (``%PDF-`` in
the first KB → pdf; markup that starts like HTML → html; ``{``/``[`` that parses
→ json; otherwise text). A body that contradicts a *data* format — a "PDF" that
is an HTML bot wall, "JSON" that does not parse, a "CSV" that is an HTML error
page — is read as what it is (sniffed), so the classifier sees the wall's text
instead of nothing; ``Extraction.format`` says what was used.

After the format's extractor: ``source.ignore`` regexes are removed from every
block's text (``re.sub(pattern, "", text)``, then normalized again; blocks left
empty are dropped), heading paths are assigned, and the blocks are rendered
(see ``monitor.extract.blocks`` for the text model and its invariants).
Extracting a rendered text again as ``markdown`` (or, for plain-text sources,
as ``text``) returns it unchanged.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

from monitor.config.settings import Format, SourceSettings
from monitor.desk.links import keep_document_links
from monitor.extract.blocks import (
    HEADING_LEVELS,
    Block,
    LinkInliner,
    Piece,
    normalize_text,
    parse_blocks,
    read_markdown,
    render_blocks,
    with_paths,
)
from monitor.extract.charset import decode, detect, media_type_of
from monitor.extract.data import extract_csv, extract_json
from monitor.extract.html import PreparedHtml, prepare_html, walk_prepared
from monitor.extract.pdf import extract_pdf
from monitor.text.patterns import UserPattern, compile_user_regex

__all__ = [
    "EXTRACTOR_VERSION",
    "Block",
    "Extraction",
    "HtmlReading",
    "choose_format",
    "extract",
    "normalize_text",
    "parse_blocks",
    "read_html",
    "render_blocks",
]

log = logging.getLogger(__name__)

# extract-2: cookie-consent manager containers are not text.
# extract-3: what a reader sees (monitor.noise.visibility): inline display:none and
# visibility:hidden are not text, aria-hidden is (sighted readers see it), noscript is
# text on a page without scripts, screen-reader-only copies are not.
EXTRACTOR_VERSION: Final = "extract-3"

_MEDIA_FORMATS: Final[dict[str, Format]] = {
    "text/html": "html",
    "application/xhtml+xml": "html",
    "application/pdf": "pdf",
    "application/x-pdf": "pdf",
    "application/json": "json",
    "text/json": "json",
    "text/csv": "csv",
    "application/csv": "csv",
    "text/tab-separated-values": "csv",
    "text/markdown": "markdown",
    "text/x-markdown": "markdown",
    "text/plain": "text",
}
FORMAT_MEDIA_TYPES: Final[dict[str, str]] = {
    "html": "text/html",
    "pdf": "application/pdf",
    "json": "application/json",
    "csv": "text/csv",
    "markdown": "text/markdown",
    "text": "text/plain",
}
# The HTML Standard's "text/html" sniffing signatures (tag name, then space or ">").
_HTML_START = re.compile(
    r"<(?:!doctype html|html|head|body|script|iframe|h1|div|font|table|a|style|title|b|br|p"
    r"|!--)[\s>/]",
    re.I,
)


@dataclass(frozen=True, slots=True)
class Extraction:
    """The text of one response, and how it was obtained."""

    blocks: tuple[Block, ...]
    text: str  # render_blocks(blocks): what is stored, hashed and diffed
    media_type: str  # the media type that was read ("text/html", "application/pdf" …)
    format: str  # html | pdf | json | csv | text | markdown
    title: str | None  # <title>, PDF metadata title, or the first heading
    select_matched: bool  # False: the source has `select` (or `json_path`) and nothing matched
    links: int  # links seen, for diagnostics
    raw_text_chars: int  # characters of text before `ignore`, to detect collapsed pages
    # Line ranges [start, end) of the text that are page chrome (HTML only; see
    # monitor.noise.visibility): a change confined to them is classified "chrome".
    chrome: tuple[tuple[int, int], ...] = ()


def format_of_media_type(content_type: str | None) -> Format | None:
    """The format a Content-Type names, or None when it names none we read."""
    essence = media_type_of(content_type)
    if essence is None:
        return None
    known = _MEDIA_FORMATS.get(essence)
    if known is not None:
        return known
    if essence.endswith("+json"):
        return "json"
    return None


def _looks_like_pdf(body: bytes) -> bool:
    return b"%PDF-" in body[:1024]  # readers accept the header anywhere in the first KB


def _sniff_text(head: str) -> Format:
    start = head.lstrip()
    if start.startswith("<"):
        if _HTML_START.match(start):
            return "html"
        if start.startswith("<?xml") and "<html" in start[:1024].lower():
            return "html"
    if start.startswith(("{", "[")):
        return "json"
    return "text"


def choose_format(body: bytes, content_type: str | None, declared: Format | None) -> Format:
    """The format to read ``body`` as, before checking that the body agrees."""
    if declared is not None:
        return declared
    if body[:1024].lstrip().startswith(b"%PDF-"):
        return "pdf"  # a PDF mislabelled as text/html or text/plain would read as binary noise
    from_media = format_of_media_type(content_type)
    if from_media is not None:
        return from_media
    if _looks_like_pdf(body):
        return "pdf"
    head, _ = decode(body[:1024], content_type, html=False)
    return _sniff_text(head)


@lru_cache(maxsize=256)
def compile_ignore(patterns: tuple[str, ...]) -> tuple[UserPattern, ...]:
    """The source's ignore regexes, compiled once; an invalid pattern is skipped (logged once).

    On RE2 (``monitor.text.patterns``): a page cannot make a pattern backtrack for minutes.
    """
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(compile_user_regex(pattern))
        except ValueError as exc:
            log.warning("ignoring invalid ignore pattern %r: %s", pattern, exc)
    return tuple(compiled)


def apply_ignore(pieces: list[Piece], patterns: tuple[str, ...]) -> list[Piece]:
    """Pieces with every ignore match removed; pieces left empty are dropped."""
    compiled = compile_ignore(patterns)
    if not compiled:
        return pieces
    out: list[Piece] = []
    for kind, text in pieces:
        if kind != "page":  # page markers are structure, not page text
            for pattern in compiled:
                text = pattern.sub("", text)
            text = normalize_text(text)
        if text:
            out.append((kind, text))
    return out


@dataclass(frozen=True, slots=True)
class _Draft:
    format: Format
    pieces: list[Piece]
    title: str | None = None
    links: int = 0
    select_matched: bool = True
    chrome: tuple[int, ...] = ()  # indices of chrome pieces


def _read_json(text: str) -> tuple[bool, Any]:
    try:
        return True, json.loads(text)
    except (ValueError, RecursionError):
        return False, None


def _prepare(markup: str | bytes, source: SourceSettings, chrome: bool = False) -> PreparedHtml:
    """``markup`` parsed and pruned by the source's rules, ready to fingerprint or walk."""
    return prepare_html(
        markup,
        page_url=source.url,
        select=source.select,
        remove=source.remove,
        watch_links=bool(source.watch_links),
        consent=source.remove_consent,
        chrome=chrome,
    )


def _walked(prepared: PreparedHtml, source: SourceSettings) -> _Draft:
    """The draft of a prepared page (with chrome pieces when its chrome was marked)."""
    html = walk_prepared(
        prepared, watch_links=bool(source.watch_links), chrome=prepared.marks is not None
    )
    return _Draft("html", html.pieces, html.title, html.links, html.select_matched, html.chrome)


def _html_draft(markup: str | bytes, source: SourceSettings, chrome: bool = False) -> _Draft:
    return _walked(_prepare(markup, source, chrome), source)


def _html_markup(body: bytes, content_type: str | None) -> str | bytes:
    codec, skip = detect(body, content_type, html=True)
    # Lexbor reads UTF-8 bytes itself (invalid bytes become U+FFFD, as with Python's
    # "replace"); handing it bytes saves decoding and re-encoding the whole page.
    if codec == "utf-8":
        return body[skip:] if skip else body
    return body[skip:].decode(codec, errors="replace")


def _draft(
    body: bytes, content_type: str | None, source: SourceSettings, chrome: bool = False
) -> _Draft:
    fmt = choose_format(body, content_type, source.format)
    if fmt == "pdf":
        if _looks_like_pdf(body):
            pdf = extract_pdf(body)
            return _Draft("pdf", pdf.pieces, pdf.title)
        fmt = choose_format(body, None, None)  # not a PDF after all: read what it is
        fmt = "text" if fmt == "pdf" else fmt
    if fmt == "html":
        return _html_draft(_html_markup(body, content_type), source, chrome)
    text, _codec = decode(body, content_type, html=fmt in ("csv", "json"))
    if fmt == "json":
        parsed, document = _read_json(text)
        if parsed:
            data = extract_json(document, source.json_path)
            return _Draft("json", data.pieces, select_matched=data.select_matched)
        fmt = _sniff_text(text[:1024])
        if fmt == "html":  # an HTML error page served as JSON
            return _html_draft(text, source)
        fmt = "text" if fmt == "json" else fmt
    if fmt == "csv":
        if _sniff_text(text[:1024]) == "html":  # an HTML error page served as CSV
            return _html_draft(text, source)
        return _Draft("csv", extract_csv(text, source.csv_key).pieces)
    if fmt == "markdown":
        inliner = LinkInliner(watch_links=bool(source.watch_links), base=source.url)
        return _Draft("markdown", read_markdown(text, inliner), links=inliner.links)
    lines = [normalize_text(line) for line in text.splitlines()]
    return _Draft("text", [("line", line) for line in lines if line])


def extract(
    body: bytes, *, content_type: str | None, source: SourceSettings, chrome: bool = False
) -> Extraction:
    """The normalized text of a response body, following the source's extraction rules.

    ``chrome``: also find which lines are page chrome (HTML; ``Extraction.chrome``).
    That costs a few CSS queries, so the pipeline asks only when the text changed.
    """
    return _extraction(_draft(body, content_type, source, chrome), content_type, source)


@dataclass(frozen=True, slots=True)
class HtmlReading:
    """An HTML body parsed and pruned, not yet read: ``finish`` gives ``extract``'s result.

    Lets a check fingerprint the prepared tree first (``monitor.extract.fingerprint``)
    and walk it only when the text may have changed, parsing the page once.
    """

    prepared: PreparedHtml
    content_type: str | None
    source: SourceSettings

    def finish(self) -> Extraction:
        """Exactly ``extract(body, content_type=…, source=…, chrome=…)`` for the body read.

        With chrome when ``read_html`` was asked for it (the marks are taken then).
        """
        return _extraction(_walked(self.prepared, self.source), self.content_type, self.source)


def read_html(
    body: bytes, *, content_type: str | None, source: SourceSettings, chrome: bool = False
) -> HtmlReading | None:
    """The prepared tree of a body that ``extract`` reads as HTML; None for any other body.

    None also for bodies that ``extract`` reaches HTML by a detour (a "PDF" or "JSON"
    that turns out to be an HTML page): those take the plain ``extract``.
    """
    if choose_format(body, content_type, source.format) != "html":
        return None
    prepared = _prepare(_html_markup(body, content_type), source, chrome)
    return HtmlReading(prepared, content_type, source)


def _extraction(draft: _Draft, content_type: str | None, source: SourceSettings) -> Extraction:
    raw_text_chars = sum(len(text) for _, text in draft.pieces)
    pieces, chrome = draft.pieces, draft.chrome
    if source.watch_links == "documents":
        # A piece that was only links to pages (a menu item) is left empty: drop it, and
        # keep the chrome indices pointing at the same pieces.
        pieces, chrome = _without_empty(keep_document_links(pieces), chrome)
    chrome_lines: tuple[tuple[int, int], ...] = ()
    if chrome:
        pieces, chrome_lines = _ignore_with_chrome(pieces, chrome, source.ignore)
    else:
        pieces = apply_ignore(pieces, source.ignore)
    blocks = with_paths(pieces)
    title = draft.title
    if title is None:
        title = next((b.text for b in blocks if b.kind in HEADING_LEVELS), None)
    essence = media_type_of(content_type)
    media_type = (
        essence
        if essence is not None and format_of_media_type(essence) == draft.format
        else FORMAT_MEDIA_TYPES[draft.format]
    )
    return Extraction(
        blocks=blocks,
        text=render_blocks(blocks),
        media_type=media_type,
        format=draft.format,
        title=title,
        select_matched=draft.select_matched,
        links=draft.links,
        raw_text_chars=raw_text_chars,
        chrome=chrome_lines,
    )


def _without_empty(
    pieces: list[Piece], chrome: tuple[int, ...]
) -> tuple[list[Piece], tuple[int, ...]]:
    """``pieces`` normalized, the empty ones dropped; ``chrome`` renumbered to match."""
    marked = frozenset(chrome)
    kept: list[Piece] = []
    kept_chrome: list[int] = []
    for index, (kind, text) in enumerate(pieces):
        text = normalize_text(text) if kind != "page" else text
        if not text:
            continue
        if index in marked:
            kept_chrome.append(len(kept))
        kept.append((kind, text))
    return kept, tuple(kept_chrome)


def _ignore_with_chrome(
    pieces: list[Piece], chrome: tuple[int, ...], patterns: tuple[str, ...]
) -> tuple[list[Piece], tuple[tuple[int, int], ...]]:
    """``apply_ignore``, and the chrome pieces as line ranges of what is left."""
    marked = frozenset(chrome)
    kept: list[Piece] = []
    flags: list[bool] = []
    for index, piece in enumerate(pieces):
        left = apply_ignore([piece], patterns) if patterns else [piece]
        if left:
            kept.append(left[0])
            flags.append(index in marked)
    ranges: list[tuple[int, int]] = []
    for line, flag in enumerate(flags):
        if not flag:
            continue
        if ranges and ranges[-1][1] == line:
            ranges[-1] = (ranges[-1][0], line + 1)
        else:
            ranges.append((line, line + 1))
    return kept, tuple(ranges)

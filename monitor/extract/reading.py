"""Read a body into the text a capture records, in one pure call (also in worker processes).

Pure: bytes and settings in, ``PageText`` out, no I/O — so it runs unchanged in the
check's own process, in a thread, or in ``ExtractionPool``'s worker processes,
whose results travel back pickled (hence ``PageText`` carries only what a capture
records, not the block model).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from monitor.config.settings import SourceSettings
from monitor.extract.document import Extraction, HtmlReading, extract, read_html
from monitor.extract.fingerprint import same_text_marker, tree_fingerprint


@dataclass(frozen=True, slots=True)
class LastText:
    """The last good text of a source, as the fast path needs it."""

    extraction_key: str
    text_sha256: str


@dataclass(frozen=True, slots=True)
class PageText:
    """What a capture records of an extraction."""

    text: str
    title: str | None
    media_type: str
    format: str
    select_matched: bool
    # The lines that are page chrome, when they were looked for (HTML read by
    # ``read_html``); None: not looked for, the caller finds them if it needs them.
    chrome: tuple[tuple[int, int], ...] | None = None

    @classmethod
    def of(cls, extraction: Extraction, *, chrome: bool = False) -> PageText:
        return cls(
            text=extraction.text,
            title=extraction.title,
            media_type=extraction.media_type,
            format=extraction.format,
            select_matched=extraction.select_matched,
            chrome=extraction.chrome if chrome else None,
        )


def marker_name(fingerprint: bytes, extraction_key: str, text_sha256: str) -> str:
    """The blob name of the marker that pairs a fingerprint with a text."""
    marker = same_text_marker(fingerprint, extraction_key, text_sha256)
    return hashlib.sha256(marker).hexdigest()


def fingerprinted(
    body: bytes, content_type: str | None, source: SourceSettings
) -> tuple[HtmlReading | None, bytes | None]:
    """The prepared page and its same-text fingerprint (None, None: not read as HTML).

    Chrome marks are taken while the tree is whole: a changed text records its chrome
    lines from this one reading instead of a second extraction.
    """
    reading = read_html(body, content_type=content_type, source=source, chrome=True)
    if reading is None:
        return None, None
    return reading, tree_fingerprint(reading.prepared, watch_links=bool(source.watch_links))


def read_page(
    body: bytes,
    content_type: str | None,
    source: SourceSettings,
    fingerprint: bool,
    last: LastText | None,
    known: str | None,
) -> tuple[PageText | None, bytes | None]:
    """(text, fingerprint) of ``body``; (None, fingerprint) when it is ``last``'s text.

    ``known`` is the marker name the caller knows pairs a fingerprint with ``last``
    (``SameTextMemo.known``); without it the text is always read, and the caller
    may still find the pair in the store.
    """
    if not fingerprint:
        return PageText.of(extract(body, content_type=content_type, source=source)), None
    reading, tree = fingerprinted(body, content_type, source)
    if (
        tree is not None
        and last is not None
        and known == marker_name(tree, last.extraction_key, last.text_sha256)
    ):
        return None, tree
    if reading is None:
        return PageText.of(extract(body, content_type=content_type, source=source)), tree
    return PageText.of(reading.finish(), chrome=True), tree

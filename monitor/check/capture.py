"""The capture record: what a check keeps of a fetched or rendered page, and its helpers.

``capture_data`` is the JSON stored in events (URLs, redirects, status, headers,
hashes, sizes, extractor); ``as_captured`` makes it an outcome for ``classify.decide``
(with the screenshot's hash when there is one). ``extraction_key`` fingerprints what
shapes the text: when it changes, the next capture is a new baseline, not a change.
``render_mode`` and ``plain_text_suffices`` decide between plain HTTP and the browser
for ``render = "auto"``. How a page is read into a capture is ``observe``'s.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from monitor.check.fetch import FetchResult
from monitor.check.reader import in_thread_if_large
from monitor.config.settings import SourceSettings
from monitor.core.classify import Captured
from monitor.core.moves import canonical_link
from monitor.events import JsonObject, format_time
from monitor.extract.document import EXTRACTOR_VERSION, Extraction, extract

# render = "auto": a plain page with less text than this is an app shell; use the browser.
AUTO_MIN_CHARS = 200
AUTO_NOTICE_MAX_CHARS = 600  # a short page that asks for JavaScript is a shell too
_JAVASCRIPT_NOTICE = re.compile(
    r"enable javascript|javascript is (disabled|required|not enabled)|requires javascript"
    r"|turn on javascript|javascript must be enabled",
    re.IGNORECASE,
)


def render_mode(source: SourceSettings) -> str:
    """How the source's page is loaded: ``http``, ``browser`` or ``auto``."""
    return "browser" if source.screenshot else source.render


def extraction_key(source: SourceSettings) -> str:
    """Fingerprint of everything that shapes the extracted text of a source."""
    parts: tuple[object, ...] = (
        EXTRACTOR_VERSION,
        source.select,
        source.remove,
        source.ignore,
        source.format,
        source.watch_links,
        source.json_path,
        source.csv_key,
    )
    if not source.remove_consent:
        parts += ("keep-consent",)  # only when set: other sources keep their keys
    mode = render_mode(source)
    if mode != "http":
        # A rendered DOM is a different text source; plain sources keep their old keys.
        parts += (mode,)
    if source.urls:
        # Other parts make another document: a new reference, not a change of the text.
        parts += (source.urls,)
    if source.figures is not None and (source.figures.member or source.figures.sheet):
        # The text of a ZIP member or a workbook's sheet (monitor.figures.read.text_body).
        parts += (source.figures.member, source.figures.sheet)
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


@dataclass(frozen=True, kw_only=True)
class ScreenshotCaptured(Captured):
    """A capture made in the browser with a full-page PNG, stored beside the body."""

    screenshot: bytes


@dataclass(frozen=True, kw_only=True)
class ReadCaptured(Captured):
    """A capture whose text was read from an HTML tree with a same-text fingerprint."""

    fingerprint: bytes


def plain_text_suffices(captured: Captured) -> bool:
    """Whether a plain-HTTP capture of a ``render = "auto"`` source needs no browser."""
    if not captured.select_matched:
        return False
    chars = int(captured.capture["text_chars"])
    if chars < AUTO_MIN_CHARS:
        return False
    return not (chars <= AUTO_NOTICE_MAX_CHARS and _JAVASCRIPT_NOTICE.search(captured.text))


def canonical_of(result: FetchResult) -> str | None:
    """The page's ``<link rel="canonical">`` (HTML only), to notice a document that moved."""
    content_type = (result.content_type or "").lower()
    if content_type and "html" not in content_type:
        return None
    return canonical_link(result.body, result.final_url)


async def chrome_lines(source: SourceSettings, result: FetchResult) -> list[list[int]]:
    """The line ranges of a changed text that are page chrome (``monitor.noise``).

    Found by a second extraction, only when the text changed (or is a first capture),
    so that the unchanged path — nearly every check — costs nothing more.
    """
    extraction = await in_thread_if_large(
        len(result.body),
        lambda: extract(result.body, content_type=result.content_type, source=source, chrome=True),
    )
    return [[start, end] for start, end in extraction.chrome]


def extract_figures_body(
    body: bytes, *, content_type: str | None, source: SourceSettings, limit: int
) -> Extraction:
    """The text of a figures source; raises ``ArchiveError`` for a broken or oversized archive."""
    from monitor.figures.read import text_body  # tables, archives: figures sources only

    assert source.figures is not None
    part, part_type = text_body(body, content_type, source.figures, limit=limit)
    return extract(part, content_type=part_type, source=source)


def as_captured(
    capture: JsonObject,
    text: str,
    select_matched: bool,
    body: bytes,
    renderer: str,
    screenshot: bytes | None,
) -> Captured:
    capture["renderer"] = renderer
    if screenshot is None:
        return Captured(capture=capture, text=text, select_matched=select_matched, body=body)
    capture["screenshot_sha256"] = hashlib.sha256(screenshot).hexdigest()
    return ScreenshotCaptured(
        capture=capture,
        text=text,
        select_matched=select_matched,
        body=body,
        screenshot=screenshot,
    )


def capture_data(
    source: SourceSettings,
    result: FetchResult,
    raw_sha: str,
    text_sha: str,
    text_chars: int,
    key: str,
    media_type: str | None,
    format_: str | None,
) -> JsonObject:
    capture: JsonObject = {
        "requested_url": result.requested_url,
        "final_url": result.final_url,
        "redirects": [{"url": url, "status": status} for url, status in result.redirects],
        "status": result.status,
        "headers": dict(result.headers),
        "fetched_at": format_time(result.fetched_at),
        "elapsed_ms": result.elapsed_ms,
        "raw_sha256": raw_sha,
        "text_sha256": text_sha,
        "bytes": len(result.body),
        "text_chars": text_chars,
        "extractor": EXTRACTOR_VERSION,
        "extraction_key": key,
    }
    if media_type:
        capture["media_type"] = media_type
    if format_:
        capture["format"] = format_
    if result.server is not None:
        capture["server"] = result.server.to_data()
    return capture

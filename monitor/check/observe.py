"""Look at a source's page now: fetch it, render it, or fetch its parts → an ``Outcome``.

The observing half of a check (``pipeline`` decides and records). How a page is
loaded follows the source's ``render``: ``http`` (plain fetch, conditional when the
last good capture allows), ``browser`` (the shared ``BrowserPool``, holding a slot of
the host like a fetch), or ``auto`` (plain first, the browser when the plain page has
no meaningful text, or when a 304 answers for a page last read in the browser). A
failure of any kind is a ``Failed`` outcome, never an exception.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING

from monitor.check.capture import (
    ReadCaptured,
    as_captured,
    canonical_of,
    capture_data,
    chrome_lines,
    extract_figures_body,
    extraction_key,
    plain_text_suffices,
    render_mode,
)
from monitor.check.fetch import Fetcher, FetchResult, Validators
from monitor.check.parts import PartFailed, fetch_parts, parts_capture
from monitor.check.reader import LastText, PageReader, PageText, in_thread_if_large
from monitor.config.settings import Settings, SourceSettings
from monitor.core.classify import Captured, Failed, NotModified, Outcome
from monitor.core.projections import SourceState
from monitor.errors import ArchiveError, FetchError, HostPausedError
from monitor.events import capture_of
from monitor.extract.document import Extraction, extract
from monitor.store import EventStore

if TYPE_CHECKING:
    from monitor.check.browser import BrowserPool  # loaded by whoever starts one

log = logging.getLogger(__name__)


@dataclass
class Observer:
    """Observes pages for one runner (its store, fetcher, browser and reader)."""

    store: EventStore
    fetcher: Fetcher
    settings: Settings
    clock: Callable[[], datetime]
    reader: PageReader
    browser: BrowserPool | None = None
    fast_path: bool = True
    # Servers' leaf certificates by sha256, until the capture naming one is stored.
    certificates: dict[str, bytes] = field(default_factory=dict)

    async def observe(self, source: SourceSettings, state: SourceState, attempts: int) -> Outcome:
        """What ``source``'s page shows now (``attempts``: this check's try, for the record)."""
        key = extraction_key(source)
        if source.urls:
            return await self._parts(source, attempts, key)
        mode = render_mode(source)
        if mode == "browser":
            return await self._rendered(source, state, attempts, key)
        last = state.last_good
        validators = None
        if last is not None and last.extraction_key == key and state.suspect_text is None:
            validators = Validators(etag=last.etag, last_modified=last.last_modified)
        try:
            result = await self.fetcher.fetch(source, now=self.clock(), validators=validators)
        except FetchError as exc:
            return self.failed(source, exc, attempts)
        if result.not_modified:
            if mode == "auto" and await self._last_renderer(state) == "browser":
                # An unchanged shell says nothing about the data its script loads.
                return await self._rendered(source, state, attempts, key)
            return NotModified(fetched_at=result.fetched_at)
        try:
            captured = await self.capture(source, result, key, state)
        except ArchiveError as exc:
            return self.failed(source, FetchError("archive", str(exc)), attempts)
        if mode == "auto" and not plain_text_suffices(captured):
            return await self._rendered(source, state, attempts, key)
        return captured

    async def _parts(self, source: SourceSettings, attempts: int, key: str) -> Outcome:
        """Every part of a multi-page document, as one capture (``monitor.check.parts``)."""
        try:
            results = await fetch_parts(self.fetcher, source, self.clock)
        except PartFailed as exc:
            return self.failed(replace(source, url=exc.url), exc, attempts)
        extractions = [
            await in_thread_if_large(
                len(result.body),
                partial(extract, result.body, content_type=result.content_type, source=source),
            )
            for result in results
        ]
        return parts_capture(source, results, extractions, key)

    async def _rendered(
        self, source: SourceSettings, state: SourceState, attempts: int, key: str
    ) -> Outcome:
        if self.browser is None:
            from monitor.check.browser import INSTALL_HINT

            return self.failed(
                source,
                FetchError(
                    "browser_unavailable",
                    f"source {source.id!r} needs a browser (render = {source.render!r}"
                    f"{', screenshot = true' if source.screenshot else ''}) and none is "
                    f"configured; {INSTALL_HINT}",
                ),
                attempts,
            )
        try:
            # The page load counts against the host's politeness slots like a plain fetch.
            async with self.fetcher.reserve_host(source.url):
                rendered = await self.browser.render(
                    source, now=self.clock(), screenshot=source.screenshot
                )
        except FetchError as exc:
            return self.failed(source, exc, attempts)
        try:
            return await self.capture(
                source,
                rendered.result,
                key,
                state,
                renderer="browser",
                screenshot=rendered.screenshot,
            )
        except ArchiveError as exc:
            return self.failed(source, FetchError("archive", str(exc)), attempts)

    def failed(self, source: SourceSettings, exc: FetchError, attempts: int) -> Failed:
        """The outcome of a check that could not see the page."""
        log.info("check %s failed: %s: %s", source.id, exc.kind, exc)
        return Failed(
            url=source.url,
            error=exc.kind,
            message=str(exc),
            status=exc.status,
            fetched_at=self.clock(),
            attempt=attempts,
            until=exc.until if isinstance(exc, HostPausedError) else None,
        )

    async def _last_renderer(self, state: SourceState) -> str:
        """How the last good capture was loaded (captures before renderers existed: http)."""
        last = state.last_good
        if last is None:
            return "http"
        event = await self.store.get_event(last.seq)
        if event is None:
            return "http"
        capture = capture_of(event.event)
        return capture.renderer if capture is not None else "http"

    async def capture(
        self,
        source: SourceSettings,
        result: FetchResult,
        key: str,
        state: SourceState,
        *,
        renderer: str = "http",
        screenshot: bytes | None = None,
    ) -> Captured:
        """The capture of an answer already fetched or rendered; the text read as little as can be.

        The same bytes with the same extraction settings are the same text (not parsed at
        all), and a page whose tree fingerprint was seen with the last good text is that
        text (not read). A changed HTML text also records its chrome lines; a figures
        source's text is its report's (a ZIP member or a workbook's sheet).
        """
        if result.server is not None and result.server.certificate:
            der = result.server.certificate
            self.certificates[hashlib.sha256(der).hexdigest()] = der
        last = state.last_good
        raw_sha = hashlib.sha256(result.body).hexdigest()
        canonical = canonical_of(result)

        def last_text() -> Captured:
            """The capture of a page whose text is the last good one (not read again)."""
            assert last is not None
            capture = capture_data(
                source, result, raw_sha, last.text_sha256, last.text_chars, key, None, None
            )
            if canonical:  # a document can move while its text stays the same
                capture["canonical"] = canonical
            return as_captured(capture, "", True, result.body, renderer, screenshot)

        if last is not None and last.raw_sha256 == raw_sha and last.extraction_key == key:
            return last_text()  # same bytes, same extraction: the same text; nothing parsed
        fingerprint: bytes | None = None
        extraction: Extraction | PageText
        if source.figures is not None:
            # A ZIP member or a workbook's sheet is the text (monitor.figures.read).
            limit = source.max_bytes or self.settings.monitor.max_bytes
            read = partial(extract_figures_body, source=source, limit=limit)
            extraction = await in_thread_if_large(
                len(result.body), lambda: read(result.body, content_type=result.content_type)
            )
        else:
            reading = await self.reader.read(
                source,
                result.body,
                result.content_type,
                last=LastText(last.extraction_key, last.text_sha256) if last is not None else None,
                # Only plain pages: an `auto` source also looks at the words of its text.
                fingerprint=self.fast_path and renderer == "http" and render_mode(source) == "http",
            )
            if reading.text is None:
                # The page's fingerprint was seen with the last good text: it is that text.
                return last_text()
            extraction, fingerprint = reading.text, reading.fingerprint
        text = extraction.text
        text_sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
        capture = capture_data(
            source,
            result,
            raw_sha,
            text_sha,
            len(text),
            key,
            extraction.media_type,
            extraction.format,
        )
        if extraction.title:
            capture["title"] = extraction.title[:300]
        if canonical:
            capture["canonical"] = canonical
        if extraction.format == "html" and (last is None or text_sha != last.text_sha256):
            if isinstance(extraction, PageText) and extraction.chrome is not None:
                chrome = [[start, end] for start, end in extraction.chrome]  # read with the text
            else:
                chrome = await chrome_lines(source, result)
            if chrome:
                capture["chrome"] = chrome
        captured = as_captured(
            capture, text, extraction.select_matched, result.body, renderer, screenshot
        )
        if fingerprint is None or screenshot is not None:
            return captured
        return ReadCaptured(
            capture=captured.capture,
            text=text,
            select_matched=captured.select_matched,
            body=result.body,
            fingerprint=fingerprint,
        )

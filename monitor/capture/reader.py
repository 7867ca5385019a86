"""Read a fetched body into text, or find without reading it that its text is the last good one.

The shell around ``fingerprint``: the CPU work runs in a worker thread for large
bodies; the question "was this fingerprint seen with the source's last good
text?" is answered by ``SameTextMemo`` — from memory when this process recorded
or confirmed it, else from the store, where a marker blob names the pair.

``PageReader.read`` returns a ``Reading``: an ``Extraction`` (the text was read:
a first capture, a changed page, or a page not read as HTML), or none, meaning
the text is exactly the last good capture's (same extraction settings).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from monitor.capture.fingerprint import same_text_marker, tree_fingerprint
from monitor.extract import Extraction, HtmlReading, extract, read_html
from monitor.settings import SourceSettings
from monitor.store import EventStore

# Extraction of very large bodies runs in a worker thread so the event loop
# keeps serving other checks (and timers) meanwhile.
THREAD_EXTRACT_BYTES = 512 * 1024

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class LastText:
    """The last good text of a source, as the fast path needs it."""

    extraction_key: str
    text_sha256: str


@dataclass(frozen=True, slots=True)
class Reading:
    """What reading a body gave: its text, or ``None`` for "the last good text"."""

    extraction: Extraction | None
    fingerprint: bytes | None  # None: the body was not fingerprinted (not HTML, or raw text)


def marker_name(fingerprint: bytes, extraction_key: str, text_sha256: str) -> str:
    """The blob name of the marker that pairs a fingerprint with a text."""
    marker = same_text_marker(fingerprint, extraction_key, text_sha256)
    return hashlib.sha256(marker).hexdigest()


@dataclass
class SameTextMemo:
    """Which page fingerprint goes with each source's last good text.

    Facts, not state: a marker says "a page with fingerprint F, read with key K,
    has text T", which stays true whatever happens to the source, so nothing here
    is ever invalidated. Memory holds one marker name per source (the last one
    confirmed); the store holds every marker ever written, for new processes.
    """

    store: EventStore
    _known: dict[str, str] = field(default_factory=dict)

    def known(self, source_id: str) -> str | None:
        return self._known.get(source_id)

    async def seen_with(self, source_id: str, fingerprint: bytes, last: LastText) -> bool:
        name = marker_name(fingerprint, last.extraction_key, last.text_sha256)
        if self._known.get(source_id) == name:
            return True
        if await self.store.has_blob(name):
            self._known[source_id] = name
            return True
        return False

    async def remember(self, source_id: str, fingerprint: bytes, text: LastText) -> None:
        marker = same_text_marker(fingerprint, text.extraction_key, text.text_sha256)
        name = hashlib.sha256(marker).hexdigest()
        if self._known.get(source_id) == name:
            return
        await self.store.put_blob(marker)
        self._known[source_id] = name


@dataclass
class PageReader:
    """Reads bodies for one store's checks (see the module docstring)."""

    memo: SameTextMemo

    async def read(
        self,
        source: SourceSettings,
        body: bytes,
        content_type: str | None,
        *,
        last: LastText | None,
        fingerprint: bool,
    ) -> Reading:
        """Read ``body``; with ``fingerprint``, skip reading a text that is ``last``'s."""
        if not fingerprint:
            extraction = await _run(
                len(body), lambda: extract(body, content_type=content_type, source=source)
            )
            return Reading(extraction, None)
        reading, tree = await _run(len(body), lambda: _fingerprinted(body, content_type, source))
        if (
            tree is not None
            and last is not None
            and await self.memo.seen_with(source.id, tree, last)
        ):
            return Reading(None, tree)
        if reading is None:
            extraction = await _run(
                len(body), lambda: extract(body, content_type=content_type, source=source)
            )
        else:
            extraction = await _run(len(body), reading.finish)
        return Reading(extraction, tree)


def _fingerprinted(
    body: bytes, content_type: str | None, source: SourceSettings
) -> tuple[HtmlReading | None, bytes | None]:
    reading = read_html(body, content_type=content_type, source=source)
    if reading is None:
        return None, None
    return reading, tree_fingerprint(reading.prepared, watch_links=source.watch_links)


async def _run(size: int, work: Callable[[], T]) -> T:
    if size >= THREAD_EXTRACT_BYTES:
        return await asyncio.to_thread(work)
    return work()

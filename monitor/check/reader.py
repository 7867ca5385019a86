"""Read a fetched body into text, or find without reading it that its text is the last good one.

The shell around ``reading``: the CPU work runs here (in a worker thread for large
bodies) or in an ``ExtractionPool`` of worker processes; the question "was this
fingerprint seen with the source's last good text?" is answered by
``SameTextMemo`` — from memory when this process recorded or confirmed it, else
from the store, where a marker blob names the pair.

``PageReader.read`` returns a ``Reading``: a ``PageText`` (the text was read: a
first capture, a changed page, a page not read as HTML), or none, meaning the text
is exactly the last good capture's (same extraction settings).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from monitor.config.settings import SourceSettings
from monitor.extract.fingerprint import same_text_marker
from monitor.extract.reading import LastText, PageText, fingerprinted, marker_name, read_page
from monitor.store import EventStore
from monitor.store.blobs import blob_id

if TYPE_CHECKING:
    from monitor.check.pool import ExtractionPool  # the daemon's (concurrent.futures.process)

__all__ = [
    "THREAD_EXTRACT_BYTES",
    "LastText",
    "PageReader",
    "PageText",
    "Reading",
    "SameTextMemo",
    "in_thread_if_large",
]

# Extraction of very large bodies runs in a worker thread so the event loop
# keeps serving other checks (and timers) meanwhile.
THREAD_EXTRACT_BYTES = 512 * 1024

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Reading:
    """What reading a body gave: its text, or ``None`` for "the last good text"."""

    text: PageText | None
    fingerprint: bytes | None  # None: the body was not fingerprinted (not HTML, …)


@dataclass
class SameTextMemo:
    """Which page fingerprint goes with each source's last good text.

    Facts, not state: a marker says "a page with fingerprint F, read with key K,
    has text T", which stays true whatever happens to the source, so nothing here
    is ever invalidated. Memory holds one marker name per source (the last one
    confirmed); the store holds every marker ever written, for new processes.
    """

    store: EventStore
    # Source id → the marker's name as 32 raw bytes (a daemon holds one per source).
    _known: dict[str, bytes] = field(default_factory=dict)

    def known(self, source_id: str) -> str | None:
        digest = self._known.get(source_id)
        return digest.hex() if digest is not None else None

    async def seen_with(self, source_id: str, fingerprint: bytes, last: LastText) -> bool:
        name = marker_name(fingerprint, last.extraction_key, last.text_sha256)
        if self.known(source_id) == name:
            return True
        if await self.store.has_blob(name):
            self._known[source_id] = bytes.fromhex(name)
            return True
        return False

    async def remember(self, source_id: str, fingerprint: bytes, text: LastText) -> None:
        marker = same_text_marker(fingerprint, text.extraction_key, text.text_sha256)
        name = blob_id(marker)
        if self.known(source_id) == name:
            return
        await self.store.put_blob(marker)
        self._known[source_id] = bytes.fromhex(name)


@dataclass
class PageReader:
    """Reads bodies for one store's checks (see the module docstring)."""

    memo: SameTextMemo
    pool: ExtractionPool | None = None

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
        if fingerprint and self.pool is None:
            return await self._fingerprint_first(source, body, content_type, last)
        if self.pool is not None:
            known = self.memo.known(source.id)
            text, tree = await self.pool.read(
                body, content_type, source, fingerprint=fingerprint, last=last, known=known
            )
        else:
            text, tree = await in_thread_if_large(
                len(body), lambda: read_page(body, content_type, source, False, None, None)
            )
        if (
            text is not None
            and tree is not None
            and last is not None
            # Read by a worker that did not know the pair; the store may (a new process).
            and await self.memo.seen_with(source.id, tree, last)
        ):
            return Reading(None, tree)
        return Reading(text, tree)

    async def _fingerprint_first(
        self, source: SourceSettings, body: bytes, content_type: str | None, last: LastText | None
    ) -> Reading:
        """Fingerprint the page, and read the same tree only if the text may have changed."""
        reading, tree = await in_thread_if_large(
            len(body), lambda: fingerprinted(body, content_type, source)
        )
        if (
            tree is not None
            and last is not None
            and await self.memo.seen_with(source.id, tree, last)
        ):
            return Reading(None, tree)
        if reading is None:
            text = await in_thread_if_large(
                len(body), lambda: read_page(body, content_type, source, False, None, None)[0]
            )
        else:
            text = await in_thread_if_large(
                len(body), lambda: PageText.of(reading.finish(), chrome=True)
            )
        return Reading(text, tree)


async def in_thread_if_large(size: int, work: Callable[[], T]) -> T:
    """``work()``, in a worker thread when it reads ``size`` bytes or more."""
    if size >= THREAD_EXTRACT_BYTES:
        return await asyncio.to_thread(work)
    return work()

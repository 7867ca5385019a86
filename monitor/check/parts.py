"""A document over several pages (``urls = [...]``): every part, one capture.

Transparency reports and terms are often split per section or per country; a
researcher reads them as one document. One check fetches every part in order
and records one capture whose text is the parts' texts in order, each under a
heading naming its part (``# Part 2 of 3: https://…``), so a paragraph that
moves from one part to another is a *moved* block in the diff, not a deletion
and an addition.

Invariants:

* all or nothing: if any part fails, the check is a ``FetchFailed`` that names
  the part (``part 2 of 3 (https://…): HTTP 500 …``), never a capture with a
  part missing;
* each part's exact bytes are kept as a blob; the capture's ``parts`` list names
  them (with each part's final URL, status and size), and its ``raw_sha256`` is
  the blob of a small JSON manifest of the parts, so everything that follows a
  capture's raw blob (verify, export, evidence) finds all of them;
* parts are fetched one after the other, each under its host's politeness slot,
  without conditional GET (a 304 of one part says nothing about the others).

``combine`` and ``parts_capture`` are pure; only ``fetch_parts`` does I/O.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from monitor.check.fetch import Fetcher, FetchResult
from monitor.config.settings import SourceSettings
from monitor.core.classify import Captured
from monitor.errors import FetchError, HostPausedError
from monitor.events import JsonObject, canonical_bytes, format_time
from monitor.extract.document import EXTRACTOR_VERSION, Extraction


@dataclass(frozen=True, kw_only=True)
class PartsCaptured(Captured):
    """A capture of every part of a document; ``parts`` are the parts' exact bodies."""

    parts: tuple[bytes, ...]


class PartFailed(FetchError):
    """One part of a document could not be fetched; ``url`` is that part's."""

    def __init__(self, exc: FetchError, *, index: int, count: int, url: str) -> None:
        super().__init__(exc.kind, f"part {index} of {count} ({url}): {exc}", status=exc.status)
        self.url = url


def part_heading(index: int, count: int, url: str) -> str:
    """The heading line a part's text sits under in the combined text."""
    return f"# Part {index} of {count}: {url}"


def combine(urls: Sequence[str], texts: Sequence[str]) -> str:
    """The document's text: each part's text under its heading, in order."""
    count = len(urls)
    sections = []
    for index, (url, text) in enumerate(zip(urls, texts, strict=True), start=1):
        heading = part_heading(index, count, url)
        sections.append(f"{heading}\n{text}" if text else heading)
    return "\n".join(sections)


async def fetch_parts(
    fetcher: Fetcher, source: SourceSettings, clock: Callable[[], datetime]
) -> list[FetchResult]:
    """Every part of ``source`` in order; raises ``PartFailed`` at the first that fails.

    ``HostPausedError`` (a part's host asked for quiet beyond the caller's wait) passes
    through unchanged, so the caller defers the whole check as it would a one-page one.
    """
    results = []
    count = len(source.urls)
    for index, url in enumerate(source.urls, start=1):
        part = replace(source, url=url, urls=())
        try:
            results.append(await fetcher.fetch(part, now=clock()))
        except HostPausedError:
            raise  # a part's host wants quiet: the whole check is deferred, not failed
        except FetchError as exc:
            raise PartFailed(exc, index=index, count=count, url=url) from exc
    return results


def parts_capture(
    source: SourceSettings,
    results: Sequence[FetchResult],
    extractions: Sequence[Extraction],
    key: str,
) -> PartsCaptured:
    """The one capture of a document's parts (pure)."""
    text = combine(source.urls, [e.text for e in extractions])
    parts: list[JsonObject] = []
    for url, result, extraction in zip(source.urls, results, extractions, strict=True):
        parts.append(
            {
                "url": url,
                "final_url": result.final_url,
                "status": result.status,
                "raw_sha256": hashlib.sha256(result.body).hexdigest(),
                "bytes": len(result.body),
                "text_chars": len(extraction.text),
                "media_type": extraction.media_type,
            }
        )
    manifest = canonical_bytes({"parts": [[p["url"], p["raw_sha256"]] for p in parts]})
    # The part that was redirected (if any) stands for the document's fetch facts, so a
    # part sent to a login or home page makes the capture suspect like a page would.
    lead = next((r for r in results if r.redirects), results[0])
    capture: JsonObject = {
        "requested_url": lead.requested_url,
        "final_url": lead.final_url,
        "redirects": [{"url": url, "status": status} for url, status in lead.redirects],
        "status": lead.status,
        "headers": dict(results[0].headers),
        "fetched_at": format_time(results[0].fetched_at),
        "elapsed_ms": sum(r.elapsed_ms for r in results),
        "raw_sha256": hashlib.sha256(manifest).hexdigest(),
        "text_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "bytes": sum(len(r.body) for r in results),
        "text_chars": len(text),
        "extractor": EXTRACTOR_VERSION,
        "extraction_key": key,
        "parts": parts,
        "renderer": "http",
    }
    title = extractions[0].title
    if title:
        capture["title"] = title[:300]
    return PartsCaptured(
        capture=capture,
        text=text,
        select_matched=all(e.select_matched for e in extractions),
        body=manifest,
        parts=tuple(r.body for r in results),
    )

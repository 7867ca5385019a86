"""A log whose captures name screenshots, written by the pipeline's own code, without Chromium.

Only a real browser makes screenshots, but the web view and the evidence bundle
need the log the pipeline writes, not the browser. So ``build`` drives a real
``CheckRunner`` over a real SQLite file: ``reconcile`` records the sources, and
each capture goes through the runner's ``_capture`` (the capture object and
``screenshot_sha256`` exactly as a browser check writes them), the pure
``decide``, ``_store_blobs`` (blobs before events) and ``_append``. What is not
real is only where the rendered HTML and the PNG come from: the test hands them in.

Sources:

* ``dash``: a browser source with ``screenshot = true``; a baseline and a change,
  each with its own PNG;
* ``late``: a browser source that turned screenshots on after its baseline, so its
  change has an after picture and no before one;
* ``odd``: a capture naming a "screenshot" whose bytes are not a PNG, which the
  web view must never serve as an image.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import struct
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.check.fetch import Fetcher, FetchResult
from monitor.check.netpolicy import NetworkPolicy
from monitor.check.pipeline import CheckRunner, extraction_key
from monitor.config.settings import Settings, SourceSettings
from monitor.core.classify import decide
from monitor.events import StoredEvent
from monitor.store import open_store

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
START = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
NOT_PNG = b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>"

DASH = SourceSettings(
    id="dash",
    url="https://transparency.example/dashboard",
    company="Example",
    title="Government requests dashboard",
    render="browser",
    screenshot=True,
)
LATE = SourceSettings(
    id="late",
    url="https://transparency.example/late",
    company="Example",
    title="Late screenshots",
    render="browser",
)
ODD = SourceSettings(
    id="odd",
    url="https://transparency.example/odd",
    title="Odd picture",
    render="browser",
    screenshot=True,
)


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A valid truecolour PNG of one colour (signature, IHDR, IDAT, IEND with CRCs)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = (b"\x00" + bytes(rgb) * width) * height  # filter type 0 before every row
    return (
        PNG_SIGNATURE
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def sha256_of(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def png_size(body: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR."""
    assert body.startswith(PNG_SIGNATURE) and body[12:16] == b"IHDR"
    width, height = struct.unpack(">II", body[16:24])
    return width, height


BEFORE_PNG = png(40, 90, (200, 30, 30))
AFTER_PNG = png(40, 120, (30, 160, 60))
LATE_PNG = png(24, 60, (30, 60, 200))


def page(*paragraphs: str) -> str:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    head = "<!doctype html><html><head><title>Dashboard</title></head>"
    return f"{head}<body><main>{body}</main></body></html>"


@dataclass
class ShotLog:
    """What the builder made, for assertions."""

    db_url: str
    settings: Settings
    events: list[StoredEvent] = field(default_factory=list)

    def of(self, stream: str, type_: str) -> list[StoredEvent]:
        return [e for e in self.events if e.stream == stream and e.type == type_]

    def change(self, stream: str) -> StoredEvent:
        (found,) = self.of(stream, "ChangeDetected")
        return found


async def capture(
    runner: CheckRunner,
    source: SourceSettings,
    html: str,
    *,
    at: datetime,
    screenshot: bytes | None,
) -> list[StoredEvent]:
    """One browser check of ``source`` that rendered ``html`` (and took ``screenshot``)."""
    state = await runner.state(source.id)
    result = FetchResult(
        requested_url=source.url,
        final_url=source.url,
        status=200,
        headers={"content-type": "text/html; charset=utf-8"},
        redirects=(),
        body=html.encode("utf-8"),
        fetched_at=at,
        elapsed_ms=1800,
    )
    outcome = await runner._capture(
        source, result, extraction_key(source), state, renderer="browser", screenshot=screenshot
    )
    old_text = await runner._old_text(state, outcome)
    events = decide(state, outcome, source=source, rules=runner.rules, now=at, old_text=old_text)
    await runner._store_blobs(outcome, events)
    return await runner._append(source.id, state.version, tuple(events))


async def build(db_path: Path) -> ShotLog:
    url = f"sqlite:///{db_path}"
    settings = Settings(path="sources.toml", sources=(DASH, LATE, ODD))
    async with open_store(url) as store, Fetcher(settings.monitor, NetworkPolicy()) as fetcher:
        runner = CheckRunner(store=store, fetcher=fetcher, settings=settings, clock=lambda: START)
        await runner.reconcile()
        hour = timedelta(hours=1)
        await capture(runner, DASH, page("Requests received: 10."), at=START, screenshot=BEFORE_PNG)
        await capture(runner, LATE, page("Late page, first text."), at=START, screenshot=None)
        await capture(runner, ODD, page("Odd page."), at=START, screenshot=NOT_PNG)
        await capture(
            runner, DASH, page("Requests received: 12."), at=START + hour, screenshot=AFTER_PNG
        )
        late = dataclasses.replace(LATE, screenshot=True)
        later = runner.reconfigured(dataclasses.replace(settings, sources=(DASH, late, ODD)))
        await later.reconcile()
        await capture(
            later, late, page("Late page, second text."), at=START + hour, screenshot=LATE_PNG
        )
        return ShotLog(db_url=url, settings=settings, events=await store.read())


def build_sync(db_path: Path) -> ShotLog:
    return asyncio.run(build(db_path))

"""Ask the Internet Archive's Save Page Now to capture each page that changed substantively.

Opt-in with ``[audit] wayback = true``. The archiver follows the log from its cursor
(``wayback``), like the notifier: each substantive ``ChangeDetected`` is sent to Save
Page Now 2 (``POST {endpoint}`` with ``url=…``, ``Accept: application/json``, and
``Authorization: LOW key:secret`` when ``wayback_key`` is set), whose job is polled at
``{endpoint}/status/{job_id}`` until it succeeds or fails. The outcome goes to the
``$archives`` stream: ``ThirdPartyCaptured`` with the archive URL
(``{origin}/web/{timestamp}/{url}``) or ``ThirdPartyCaptureFailed``.

Rate: at most ``wayback_per_minute`` requests in any minute. A failure (archive down,
429, a job that failed) is retried with exponential backoff, in order, up to
``MAX_ATTEMPTS`` tries; then it is recorded as final and the archiver moves on. The
daemon runs this as its own task: checks never wait for it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from monitor.audit.outbound import Backoff, ThirdPartyClient, seconds_until
from monitor.config.settings import AuditSettings
from monitor.errors import MonitorError
from monitor.events import (
    ChangeDetected,
    Event,
    StoredEvent,
    ThirdPartyCaptured,
    ThirdPartyCaptureFailed,
)
from monitor.store.base import EventStore

log = logging.getLogger(__name__)

ARCHIVE_STREAM = "$archives"
CURSOR = "wayback"
ARCHIVE = "wayback"
MAX_ATTEMPTS = 5
RETRY_BASE = 60.0
RETRY_CAP = 3600.0
POLL_EVERY = 5.0
POLL_FOR = 300.0  # Save Page Now jobs usually finish within a minute or two
TIMEOUT = 60.0
_OUTCOME = "a Save Page Now outcome"


class ArchiveError(MonitorError):
    """Save Page Now did not capture the page; the message says why."""


class WaybackArchiver(ThirdPartyClient):
    """Follows the log and asks Save Page Now for a capture after each substantive change."""

    def __init__(
        self,
        store: EventStore,
        settings: AuditSettings,
        *,
        retry_base: float = RETRY_BASE,
        retry_cap: float = RETRY_CAP,
        poll_every: float = POLL_EVERY,
        poll_for: float = POLL_FOR,
    ) -> None:
        super().__init__(store, retry_base=retry_base, retry_cap=retry_cap)
        self.settings = settings
        self.poll_every, self.poll_for = poll_every, poll_for
        self._sent: deque[float] = deque()  # monotonic times of the last minute's requests
        self._retry: dict[int, Backoff] = {}

    def seconds_until_due(self) -> float | None:
        """How long until the next retry or rate-limit slot; None when nothing waits."""
        waits = [p.due for p in self._retry.values() if p.attempts]
        if len(self._sent) >= self.settings.wayback_per_minute:
            waits.append(self._sent[0] + 60.0)
        return seconds_until(waits)

    async def start(self) -> None:
        """On first use, start at the log's head: older changes are not sent in a burst."""
        if await self.store.get_cursor(CURSOR) == 0:
            head_seq, _ = await self.store.head()
            await self.store.set_cursor(CURSOR, head_seq)

    async def process(self) -> list[StoredEvent]:
        """Send the changes after the cursor, in order, as the rate limit allows."""
        appended: list[StoredEvent] = []
        cursor = await self.store.get_cursor(CURSOR)
        head_seq, _ = await self.store.head()
        blocked = False
        changes = self.store.iterate(after=cursor, until=head_seq, types=(ChangeDetected.type,))
        async for ev in changes:
            change = ev.event
            if not isinstance(change, ChangeDetected) or change.classification != "substantive":
                continue
            pending = self._retry.setdefault(ev.seq, Backoff())
            if pending.due > time.monotonic() or not self._slot_free():
                blocked = True  # keep the log's order: later changes wait for this one
                break
            self._sent.append(time.monotonic())
            url = change.capture.final_url or change.capture.requested_url
            pending.attempts += 1
            event = await self._attempt(ev, url, pending)
            appended.append(await self.record(ARCHIVE_STREAM, event, what=_OUTCOME))
            if isinstance(event, ThirdPartyCaptureFailed) and not event.final:
                blocked = True
                break
            self._retry.pop(ev.seq, None)
            await self.store.set_cursor(CURSOR, ev.seq)
        if not blocked and head_seq > await self.store.get_cursor(CURSOR):
            await self.store.set_cursor(CURSOR, head_seq)
        return appended

    async def _attempt(self, ev: StoredEvent, url: str, pending: Backoff) -> Event:
        """Ask for one capture of ``ev``'s page; the outcome to record (a retry is scheduled)."""
        try:
            archive_url = await self._capture(url)
        except (ArchiveError, aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            final = pending.attempts >= MAX_ATTEMPTS
            error = (str(exc) or type(exc).__name__)[:500]
            log.warning(
                "Save Page Now capture of %s (seq %d) failed, attempt %d%s: %s",
                url,
                ev.seq,
                pending.attempts,
                "; giving up" if final else "",
                error,
            )
            if not final:
                pending.wait(self.retry_base, self.retry_cap)
            return ThirdPartyCaptureFailed(
                for_seq=ev.seq,
                url=url,
                archive=ARCHIVE,
                attempt=pending.attempts,
                error=error,
                final=final,
            )
        log.info("Save Page Now captured %s (seq %d): %s", url, ev.seq, archive_url)
        return ThirdPartyCaptured(
            for_seq=ev.seq,
            url=url,
            archive=ARCHIVE,
            archive_url=archive_url,
            attempt=pending.attempts,
        )

    def _slot_free(self) -> bool:
        horizon = time.monotonic() - 60.0
        while self._sent and self._sent[0] <= horizon:
            self._sent.popleft()
        return len(self._sent) < self.settings.wayback_per_minute

    async def _capture(self, url: str) -> str:
        """Start a Save Page Now job for ``url`` and wait for it; the archive URL."""
        session = self.session()
        endpoint = self.settings.wayback_endpoint.rstrip("/")
        headers = {"Accept": "application/json"}
        if self.settings.wayback_key:
            headers["Authorization"] = f"LOW {self.settings.wayback_key}"
        timeout = aiohttp.ClientTimeout(total=TIMEOUT)
        async with session.post(
            endpoint, data={"url": url}, headers=headers, timeout=timeout
        ) as response:
            body = await _json(response)
        job = body.get("job_id")
        if not isinstance(job, str) or not job:
            raise ArchiveError(str(body.get("message") or "no job id in the answer"))
        deadline = time.monotonic() + self.poll_for
        while True:
            async with session.get(
                f"{endpoint}/status/{job}", headers=headers, timeout=timeout
            ) as response:
                status = await _json(response)
            state = status.get("status")
            if state == "success":
                stamp = str(status.get("timestamp", ""))
                original = str(status.get("original_url") or url)
                if not stamp.isdigit():
                    raise ArchiveError("the job succeeded without a capture timestamp")
                parts = urlsplit(endpoint)
                return f"{parts.scheme}://{parts.netloc}/web/{stamp}/{original}"
            if state != "pending":
                reason = status.get("message") or status.get("status_ext") or state
                raise ArchiveError(f"the capture job failed: {reason}")
            if time.monotonic() >= deadline:
                raise ArchiveError(f"the capture job was still pending after {self.poll_for:.0f}s")
            await asyncio.sleep(self.poll_every)


async def _json(response: aiohttp.ClientResponse) -> dict[str, Any]:
    if response.status == 429:
        raise ArchiveError("HTTP 429: Save Page Now asks for fewer captures")
    if response.status >= 400:
        raise ArchiveError(f"HTTP {response.status} from {response.url.host}")
    try:
        body = await response.json(content_type=None)
    except ValueError as exc:
        raise ArchiveError("the answer is not JSON") from exc
    if not isinstance(body, dict):
        raise ArchiveError("the answer is not a JSON object")
    return body

"""Ask every configured time-stamping authority to stamp the newest signed checkpoint.

The I/O shell around ``monitor.audit.timestamps``. For each TSA of
``[audit] timestamp_authorities`` the newest checkpoint it has not stamped yet is sent
(a stamp of a later checkpoint vouches for every earlier event too, so checkpoints
signed while a TSA was down are not sent one by one). A token is stored as a blob and
recorded as ``CheckpointTimestamped``; a failure is recorded as ``TimestampFailed``
with the time of the next try, which backs off exponentially (one minute doubling to an
hour) while the TSA stays down. Nothing here runs inside a check: the daemon runs the
stamper as its own task, woken by each new checkpoint.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Sequence
from datetime import datetime, timedelta

import aiohttp

from monitor.audit.checkpoint import SignedCheckpoint, latest_checkpoint
from monitor.audit.outbound import Backoff, ThirdPartyClient, seconds_until
from monitor.audit.timestamps import (
    TimestampError,
    check_token,
    imprint_of,
    request_der,
    token_from_reply,
)
from monitor.config.settings import TimestampAuthority
from monitor.events import (
    CheckpointTimestamped,
    Event,
    StoredEvent,
    TimestampFailed,
    format_time,
)
from monitor.store.base import EventStore

log = logging.getLogger(__name__)

TIMESTAMP_STREAM = "$timestamps"
TIMEOUT = 30.0
RETRY_BASE = 60.0
RETRY_CAP = 3600.0
MAX_REPLY = 256 * 1024
_APPEND_ATTEMPTS = 5


async def stamp_latest(
    store: EventStore, authorities: Sequence[TimestampAuthority], now: datetime
) -> list[StoredEvent]:
    """Once, now: each TSA stamps the newest checkpoint it has not stamped (commands)."""
    if not authorities:
        return []
    async with Stamper(store, authorities) as stamper:
        return await stamper.stamp_pending(now)


class Stamper(ThirdPartyClient):
    """Sends checkpoints to TSAs; one per process, used as an async context manager."""

    def __init__(
        self,
        store: EventStore,
        authorities: Sequence[TimestampAuthority],
        *,
        timeout: float = TIMEOUT,
        retry_base: float = RETRY_BASE,
        retry_cap: float = RETRY_CAP,
    ) -> None:
        super().__init__(store, retry_base=retry_base, retry_cap=retry_cap)
        self.authorities = tuple(authorities)
        self.timeout = timeout
        self._backoff = {tsa.url: Backoff() for tsa in self.authorities}

    def seconds_until_due(self) -> float | None:
        """How long until a TSA that failed may be asked again (None: none is waiting)."""
        return seconds_until(b.due for b in self._backoff.values() if b.attempts)

    async def stamp_pending(self, now: datetime) -> list[StoredEvent]:
        """Ask each due TSA to stamp the newest checkpoint it has not stamped; the events."""
        latest = await latest_checkpoint(self.store)
        if latest is None or latest.seq is None:
            return []
        stamped = await self._stamped()
        appended: list[StoredEvent] = []
        for tsa in self.authorities:
            backoff = self._backoff[tsa.url]
            if stamped.get(tsa.url, 0) >= latest.seq or backoff.due > time.monotonic():
                continue
            event = await self._stamp(tsa, latest, now)
            appended.append(await self._append(event))
        return appended

    async def _stamped(self) -> dict[str, int]:
        """The newest checkpoint seq each TSA has stamped, from the log."""
        found: dict[str, int] = {}
        events = await self.store.read(stream=TIMESTAMP_STREAM, types=(CheckpointTimestamped.type,))
        for ev in events:
            if isinstance(stamp := ev.event, CheckpointTimestamped):
                found[stamp.tsa] = max(found.get(stamp.tsa, 0), stamp.checkpoint_seq)
        return found

    async def _stamp(
        self, tsa: TimestampAuthority, signed: SignedCheckpoint, now: datetime
    ) -> Event:
        assert signed.seq is not None
        imprint = imprint_of(signed.checkpoint.signed_bytes())
        backoff = self._backoff[tsa.url]
        try:
            token = await self._request(tsa, imprint)
            info = check_token(token, imprint, None)  # the chain is checked by verify
        except (TimestampError, aiohttp.ClientError, TimeoutError, OSError) as exc:
            backoff.attempts += 1
            delay = backoff.wait(self.retry_base, self.retry_cap)
            error = str(exc) or type(exc).__name__
            log.warning(
                "time stamp of checkpoint seq %d by %s failed (attempt %d): %s; retrying in %.0fs",
                signed.seq,
                tsa.label,
                backoff.attempts,
                error,
                delay,
            )
            return TimestampFailed(
                checkpoint_seq=signed.seq,
                tsa=tsa.url,
                attempt=backoff.attempts,
                error=error[:500],
                retry_at=format_time(now + timedelta(seconds=delay)),
            )
        backoff.attempts, backoff.due = 0, 0.0
        sha = await self.store.put_blob(token)
        log.info("checkpoint seq %d stamped by %s at %s", signed.seq, tsa.label, info.gen_time)
        return CheckpointTimestamped(
            checkpoint_seq=signed.seq,
            tsa=tsa.url,
            token_sha256=sha,
            imprint=imprint.hex(),
            gen_time=format_time(info.gen_time),
            serial=str(info.serial),
        )

    async def _request(self, tsa: TimestampAuthority, imprint: bytes) -> bytes:
        nonce = secrets.randbits(63)
        async with self.session().post(
            tsa.url,
            data=request_der(imprint, nonce),
            headers={"Content-Type": "application/timestamp-query"},
            timeout=aiohttp.ClientTimeout(total=self.timeout),
        ) as response:
            if response.status != 200:
                raise TimestampError(f"HTTP {response.status} from {tsa.url}")
            reply = await response.content.read(MAX_REPLY + 1)
        if len(reply) > MAX_REPLY:
            raise TimestampError(f"the reply from {tsa.url} is larger than {MAX_REPLY} bytes")
        return token_from_reply(reply, imprint=imprint, nonce=nonce)

    async def _append(self, event: Event) -> StoredEvent:
        return await self.record(
            TIMESTAMP_STREAM, event, what="a time stamp", attempts=_APPEND_ATTEMPTS
        )

"""The notifier: follows the event log from its durable cursor and sends alerts through Apprise.

An outbox built on the log, so "change recorded" and "alert sent" can never
disagree for long:

* an alert is *owed* for every (event seq, channel name) pair that ``route``
  selects, until a ``NotificationSent`` for that pair is in the log — or a
  ``NotificationFailed`` with ``final = true`` after ``max_attempts`` tries;
* the cursor (``store.get_cursor("notifier")``) only moves past an event once
  nothing is owed for it any more, so after a crash or restart every owed alert
  is derived again from the log: nothing is lost;
* each send is recorded right after it returns, on the ``$notifier`` stream with
  an expected version and a deterministic event id, so a retried append is
  harmless and a concurrent writer is detected (``ConcurrencyError``: re-read
  the log, skip what is recorded already, append again).

Delivery is *at least once*: a crash after Apprise delivered a message but
before its ``NotificationSent`` was committed makes the next run send it again
(an alert sent and not recorded is indistinguishable, from the log, from one
never sent; losing it would be worse than repeating it). Without a crash an
alert is sent exactly once: a pair is sent only while it has no record, and the
record is in memory before the next pass looks.

Failed sends are retried with exponential back-off (``retry_base``, doubling);
what is settled and when a pair retries is ``notify.outcomes``'s. A channel is
worked in seq order and a pair that is waiting for its retry holds back the
channel's later alerts, so a channel that is down is not hammered and alerts
arrive in order.

Channels with ``digest`` get one message per digest time instead (see
``notify.digest``): every alert of that channel due at or before now, recorded
as one ``NotificationSent`` per included seq sharing a ``digest`` id.

Secrets: a channel is only ever named (``notify.secrets``); sending is Apprise's,
behind ``notify.channels``.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from monitor.clock import Clock, utc_now
from monitor.config.settings import ChannelSettings, Settings
from monitor.errors import MonitorError
from monitor.events import (
    ALERT_EVENTS,
    NOTIFICATION_EVENTS,
    SETTINGS_EVENTS,
    NotificationSent,
    StoredEvent,
    format_time,
    names,
    parse_time,
)
from monitor.notify.channels import ChannelSender
from monitor.notify.digest import digest_id, next_digest_time
from monitor.notify.outcomes import STREAM, Outcomes
from monitor.notify.render import SourceInfo, render_alert, render_digest
from monitor.notify.routing import route
from monitor.notify.secrets import guard_third_party_logs, scrub
from monitor.store import EventStore

__all__ = ["CURSOR", "STREAM", "Notifier"]

log = logging.getLogger(__name__)

CURSOR = "notifier"
MIN_SLEEP = 0.05  # seconds between passes of ``run`` at the least


@dataclass
class _Owed:
    event: StoredEvent
    channels: tuple[str, ...]


class Notifier:
    """Follows the log and sends every owed alert; see the module docstring for the guarantees."""

    def __init__(
        self,
        store: EventStore,
        settings: Settings,
        *,
        clock: Clock = utc_now,
        retry_base: float = 5.0,
        max_attempts: int = 6,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, not {max_attempts}")
        self.store = store
        self.settings = settings
        self.clock = clock
        self._drain_lock = asyncio.Lock()
        self._senders: dict[str, ChannelSender] = {}
        self._outcomes = Outcomes(store, retry_base=retry_base, max_attempts=max_attempts)
        self._reset()
        guard_third_party_logs(settings.channels)

    def _reset(self) -> None:
        self._loaded = False
        self._scanned = 0  # in memory: the log has been read up to here
        self._sources: dict[str, tuple[Any, ...]] = {}  # _ALERT_SETTINGS' values
        self._owed: dict[int, _Owed] = {}

    @property
    def cursor(self) -> int:
        return self._outcomes.cursor

    def reconfigure(self, settings: Settings) -> None:
        """Use new settings (channels, rules); owed alerts are derived again on the next pass.

        Events the cursor has passed stay settled. Events after it are routed again: alerts
        still owed to a channel that is gone are owed no more, and a new channel also gets
        the alerts for those not-yet-settled events (what was sent is never sent again).
        """
        self.settings = settings
        self._senders.clear()
        guard_third_party_logs(settings.channels)
        self._loaded = False  # the next pass re-reads from the cursor under the new routing

    async def run(
        self, stop: asyncio.Event, wake: asyncio.Event | None = None, poll_interval: float = 2.0
    ) -> None:
        """Drain until ``stop`` is set; ``wake`` (set after each append) starts a pass early."""
        while not stop.is_set():
            if wake is not None:
                wake.clear()
            try:
                await self.drain()
            except MonitorError as exc:
                log.error("notifier pass failed, will retry: %s", scrub(str(exc)))
            except Exception:
                log.exception("notifier pass failed unexpectedly, will retry")
            timeout = poll_interval
            due = self.next_due()
            if due is not None:
                # The floor keeps a moment that is already past from becoming a busy loop.
                timeout = min(timeout, max(MIN_SLEEP, (due - self.clock()).total_seconds()))
            await _wait_for_any(stop, wake, timeout)

    def next_due(self) -> datetime | None:
        """The earliest moment a retry or a digest becomes due (None: nothing is waiting)."""
        outcomes = self._outcomes
        moments = [t for key, t in outcomes.retry_at.items() if key not in outcomes.done]
        for seq, owed in self._owed.items():
            for name in owed.channels:
                channel = self._channel(name)
                key = (seq, name)
                if channel is None or not channel.digest or key in outcomes.done:
                    continue
                due = self._digest_due(channel, owed.event)
                retry = outcomes.retry_at.get(key)
                moments.append(max(due, retry) if retry is not None else due)
        return min(moments) if moments else None

    async def drain(self) -> int:
        """One pass: read new events, send what is owed and due, move the cursor.

        Returns how many messages were delivered (a digest counts once).
        """
        async with self._drain_lock:
            if not self._loaded:
                await self._load()
            await self._scan()
            if self._outcomes.backlog:
                await self._outcomes.record([])
            now = self.clock()
            results = await asyncio.gather(
                *(self._work(name, items, now) for name, items in self._plans()),
                return_exceptions=True,  # let every channel finish before anything is raised
            )
            await self._advance()
            for result in results:
                if isinstance(result, BaseException):
                    raise result
            return sum(r for r in results if isinstance(r, int))

    # ----------------------------------------------------------------- reading the log

    async def _load(self) -> None:
        self._reset()
        cursor = await self.store.get_cursor(CURSOR)
        self._outcomes.reset(cursor=cursor, version=await self.store.stream_version(STREAM))
        if cursor:
            settings_types = names(SETTINGS_EVENTS)
            async for stored in self.store.iterate(until=cursor, types=settings_types):
                if isinstance(event := stored.event, SETTINGS_EVENTS):
                    self._sources[stored.stream] = _alert_settings(event.settings)
        self._scanned = cursor
        self._loaded = True

    async def _scan(self) -> None:
        monitor = self.settings.monitor
        async for stored in self.store.iterate(after=self._scanned):
            self._scanned = stored.seq
            if stored.stream == STREAM:
                self._outcomes.version = max(self._outcomes.version, stored.version)
            event = stored.event
            if isinstance(event, NOTIFICATION_EVENTS):
                self._outcomes.apply(stored)
            elif isinstance(event, SETTINGS_EVENTS) and not stored.stream.startswith("$"):
                self._sources[stored.stream] = _alert_settings(event.settings)
            elif isinstance(event, ALERT_EVENTS):
                channels = route(
                    stored,
                    self.settings.channels,
                    source_tags=self._source(stored.stream).tags,
                    rules=self.settings.rules,
                    alert_after=monitor.alert_after_failures,
                )
                if channels:
                    self._owed[stored.seq] = _Owed(event=stored, channels=channels)

    def _source(self, source_id: str) -> SourceInfo:
        values = self._sources.get(source_id)
        settings = dict(zip(_ALERT_SETTINGS, values, strict=True)) if values else None
        return SourceInfo.from_settings(source_id, settings)

    def _channel(self, name: str) -> ChannelSettings | None:
        return next((c for c in self.settings.channels if c.name == name), None)

    def _sender(self, channel: ChannelSettings) -> ChannelSender:
        sender = self._senders.get(channel.name)
        if sender is None:
            sender = self._senders[channel.name] = ChannelSender.build(channel)
        return sender

    def _digest_due(self, channel: ChannelSettings, event: StoredEvent) -> datetime:
        assert channel.digest is not None
        return next_digest_time(channel.digest, parse_time(event.recorded_at))

    # ----------------------------------------------------------------- deciding

    def _plans(self) -> list[tuple[str, list[_Owed]]]:
        """Per channel, in seq order, the owed alerts that are not settled yet."""
        pending: dict[str, list[_Owed]] = {}
        for seq in sorted(self._owed):
            owed = self._owed[seq]
            for name in owed.channels:
                key = (seq, name)
                if not self._outcomes.settled(key):
                    pending.setdefault(name, []).append(owed)
        return sorted(pending.items())

    async def _work(self, name: str, items: list[_Owed], now: datetime) -> int:
        channel = self._channel(name)
        if channel is None:
            return 0
        if channel.digest:
            due = [o for o in items if self._digest_due(channel, o.event) <= now]
            if not due or any(self._outcomes.waiting((o.event.seq, name), now) for o in due):
                return 0
            return await self._send_digest(channel, due, now)
        sent = 0
        for owed in items:
            if self._outcomes.waiting((owed.event.seq, name), now):
                break  # keep the channel's alerts in order; the retry comes first
            if not await self._send_one(channel, owed, now):
                break  # the channel is failing: leave the rest for after the back-off
            sent += 1
        return sent

    # ----------------------------------------------------------------- sending

    async def _send_one(self, channel: ChannelSettings, owed: _Owed, now: datetime) -> bool:
        event = owed.event
        key = (event.seq, channel.name)
        sender = self._sender(channel)
        error: str | None
        try:
            message = render_alert(
                event,
                self._source(event.stream),
                fmt=sender.format,
                base_url=self._base_url(),
                alert_after=self.settings.monitor.alert_after_failures,
            )
        except Exception as exc:  # a malformed event must not block the channel forever
            error = sender.clean(f"cannot render the alert: {type(exc).__name__}: {exc}")
        else:
            error = await sender.send(message)
        attempt = self._outcomes.next_attempt(key)
        if error is None:
            await self._outcomes.record(
                [(NotificationSent(for_seq=event.seq, channel=channel.name, attempt=attempt), None)]
            )
            log.info("sent alert for seq %d (%s) to %s", event.seq, event.type, channel.name)
            return True
        await self._outcomes.failed(
            [key], channel.name, attempt_of={key: attempt}, error=error, now=now
        )
        return False

    async def _send_digest(
        self, channel: ChannelSettings, items: list[_Owed], now: datetime
    ) -> int:
        sender = self._sender(channel)
        keys = [(o.event.seq, channel.name) for o in items]
        attempt_of = {key: self._outcomes.next_attempt(key) for key in keys}
        due = max(self._digest_due(channel, o.event) for o in items)
        ident = digest_id(channel.name, due)
        error: str | None
        try:
            message = render_digest(
                [(o.event, self._source(o.event.stream)) for o in items],
                channel=channel.name,
                due=format_time(due)[:16] + "Z",
                fmt=sender.format,
                base_url=self._base_url(),
                alert_after=self.settings.monitor.alert_after_failures,
            )
        except Exception as exc:
            error = sender.clean(f"cannot render the digest: {type(exc).__name__}: {exc}")
        else:
            error = await sender.send(message)
        if error is None:
            await self._outcomes.record(
                [
                    (
                        NotificationSent(
                            for_seq=seq, channel=name, attempt=attempt_of[(seq, name)]
                        ),
                        ident,
                    )
                    for seq, name in keys
                ]
            )
            log.info("sent digest %s with %d alerts to %s", ident, len(keys), channel.name)
            return 1
        await self._outcomes.failed(keys, channel.name, attempt_of=attempt_of, error=error, now=now)
        return 0

    def _base_url(self) -> str | None:
        return self.settings.monitor.base_url or self.settings.web.base_url

    # ----------------------------------------------------------------- the cursor

    async def _advance(self) -> None:
        """Move the durable cursor up to the first event that still owes an alert."""
        unsettled = [
            seq
            for seq, owed in self._owed.items()
            if any((seq, name) not in self._outcomes.done for name in owed.channels)
        ]
        target = min(unsettled) - 1 if unsettled else self._scanned
        if target <= self._outcomes.cursor:
            return
        await self.store.set_cursor(CURSOR, target)
        for seq in [s for s in self._owed if s <= target]:
            del self._owed[seq]
        self._outcomes.settle_through(target)


async def _wait_for_any(stop: asyncio.Event, wake: asyncio.Event | None, seconds: float) -> None:
    """Sleep up to ``seconds``, or until ``stop`` or ``wake`` is set."""
    waiters = [asyncio.ensure_future(stop.wait())]
    if wake is not None:
        waiters.append(asyncio.ensure_future(wake.wait()))
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)


# What an alert says about its source (``SourceInfo``): a daemon keeps these for every
# source, so not the whole settings dict (~1 KB a source).
_ALERT_SETTINGS = ("company", "title", "url", "tags")


def _alert_settings(settings: Any) -> tuple[Any, ...]:
    if not isinstance(settings, dict):
        return ()
    # Interned: the configuration and the check runner's states hold the same strings.
    return tuple(
        sys.intern(value) if isinstance(value := settings.get(key), str) else value
        for key in _ALERT_SETTINGS
    )

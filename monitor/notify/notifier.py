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

Failed sends are retried with exponential back-off (``retry_base``, doubling,
see ``notify_digest.retry_delay``); retry times live in memory and are derived
again from the failure records' times after a restart. A channel is worked in
seq order and a pair that is waiting for its retry holds back the channel's
later alerts, so a channel that is down is not hammered and alerts arrive in
order.

Channels with ``digest`` get one message per digest time instead (see
``notify_digest``): every alert of that channel due at or before now, recorded
as one ``NotificationSent`` per included seq sharing a ``digest`` id.

Secrets: a channel is only ever named. Its URL is never put in an event, a log
line or an exception message; Apprise's own log records (and urllib3's, which
Apprise uses) pass through a filter that removes the URL and its secret-looking
parts, and failure reasons recorded in ``NotificationFailed`` are scrubbed the
same way.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from monitor.clock import Clock, utc_now
from monitor.config.settings import ChannelSettings, Settings
from monitor.errors import ConcurrencyError, MonitorError
from monitor.events import (
    ALERT_EVENTS,
    NOTIFICATION_EVENTS,
    SETTINGS_EVENTS,
    Event,
    NewEvent,
    NotificationFailed,
    NotificationSent,
    StoredEvent,
    deterministic_event_id,
    format_time,
    names,
    parse_time,
)
from monitor.notify.digest import digest_id, next_digest_time, retry_delay
from monitor.notify.render import (
    Format,
    Message,
    SourceInfo,
    render_alert,
    render_digest,
    render_test,
    route,
)
from monitor.store import EventStore

__all__ = [
    "CURSOR",
    "STREAM",
    "ChannelSender",
    "Notifier",
    "message_format",
    "scrub",
    "secret_fragments",
    "send_test",
]

log = logging.getLogger(__name__)

CURSOR = "notifier"
STREAM = "$notifier"
SEND_TIMEOUT = 120.0  # seconds one Apprise call may take before it counts as failed
MAX_ERROR_CHARS = 300
MIN_SLEEP = 0.05  # seconds between passes of ``run`` at the least
# Loggers that may print a channel URL (Apprise's debug output, the HTTP library it uses).
THIRD_PARTY_LOGGERS = ("apprise", "urllib3.connectionpool", "urllib3.util.retry")

_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>]+")

Key = tuple[int, str]  # (event seq, channel name)


# --------------------------------------------------------------------------- secrets


def _secretish(text: str) -> bool:
    """Long enough, and shaped like a token (digits, or long) rather than a plain word."""
    return len(text) >= 6 and (any(c.isdigit() for c in text) or len(text) >= 16)


def secret_fragments(url: str) -> set[str]:
    """The URL and every part of it that may be a secret (password, tokens in host/path/query)."""
    found = {url}
    if "://" in url:
        found.add(url.split("://", 1)[1])
    try:
        parts = urlsplit(url)
    except ValueError:
        return {f for f in found if len(f) >= 4}
    userinfo, _, hostport = parts.netloc.rpartition("@")
    if userinfo:
        user, _, password = userinfo.partition(":")
        found.update({password, unquote(password)})
        if _secretish(user):
            found.update({user, unquote(user)})
    host = hostport.rsplit(":", 1)[0] if hostport.count(":") == 1 else hostport
    if _secretish(host) and "." not in host and not _is_ip(host):
        found.add(host)  # e.g. slack://TokenA/…, discord://webhook_id/…: the "host" is a token
    if len(parts.path) > 1:
        found.update({parts.path, unquote(parts.path)})
    for segment in parts.path.split("/"):
        if _secretish(segment):
            found.update({segment, unquote(segment)})
    for _, value in parse_qsl(url.partition("?")[2], keep_blank_values=False):
        if _secretish(value):
            found.add(value)
    return {f for f in found if len(f) >= 4}


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def scrub(text: str, fragments: Iterable[str] = ()) -> str:
    """``text`` without the given secret fragments and without anything shaped like a URL."""
    for fragment in sorted(set(fragments), key=len, reverse=True):
        text = text.replace(fragment, "***")
    return _URL.sub("<url>", text)


class _SecretScrubber(logging.Filter):
    """Scrubs records of third-party loggers that may print channel URLs."""

    def __init__(self) -> None:
        super().__init__()
        self.fragments: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed third-party log call must not break the caller
            message = str(record.msg)
        record.msg = scrub(message, self.fragments)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = scrub(text, self.fragments)
            record.exc_info = None
        return True


_SCRUBBER = _SecretScrubber()


def guard_third_party_logs(channels: Iterable[ChannelSettings]) -> None:
    """Make sure Apprise and urllib3 log records never carry these channels' URLs."""
    for channel in channels:
        _SCRUBBER.fragments |= secret_fragments(channel.url)
    for name in THIRD_PARTY_LOGGERS:
        logger = logging.getLogger(name)
        if _SCRUBBER not in logger.filters:
            logger.addFilter(_SCRUBBER)


# --------------------------------------------------------------------------- sending


def _apprise() -> ModuleType:
    """Apprise, imported on first use: ~15 MB that a daemon needs only to send."""
    import apprise

    return apprise


def _instantiate(url: str, name: str) -> Any:
    """Apprise's service object for ``url``, or None when Apprise cannot use it."""
    with warnings.catch_warnings():
        # Apprise's e-mail plugin imports the stdlib ``imghdr`` module, deprecated since
        # Python 3.11; the warning is about Apprise, not something a user can act on.
        warnings.filterwarnings("ignore", message=".*imghdr.*", category=DeprecationWarning)
        return _apprise().Apprise.instantiate(url, tag=name)


# Services that take any format and pass it through (webhooks), and e-mail: plain text.
PLAIN_TEXT_SCHEMES = frozenset(
    {"json", "jsons", "xml", "xmls", "form", "forms", "mailto", "mailtos"}
)


def message_format(url: str, requested: str | None, supported: Any) -> Format:
    """Markdown for chat services that render it (Slack, Discord, Matrix …), else plain text.

    ``requested`` is the URL's ``format=`` parameter, which wins; ``supported`` is the
    Apprise service's ``notify_format`` (one format, or several with the default first).
    """
    if requested:
        return "markdown" if requested.lower() == "markdown" else "text"
    if url.split("://", 1)[0].lower() in PLAIN_TEXT_SCHEMES:
        return "text"
    formats = supported if isinstance(supported, list | tuple) else (supported,)
    return "markdown" if _apprise().NotifyFormat.MARKDOWN in formats else "text"


@dataclass
class ChannelSender:
    """One channel's Apprise object and the message format it takes. Knows its URL; never tells."""

    channel: ChannelSettings
    fragments: set[str] = field(default_factory=set)
    _apprise: Any = None
    format: Format = "text"
    problem: str | None = None

    @classmethod
    def build(cls, channel: ChannelSettings) -> ChannelSender:
        guard_third_party_logs([channel])
        sender = cls(channel=channel, fragments=secret_fragments(channel.url))
        try:
            service = _instantiate(channel.url, channel.name)
        except Exception as exc:  # Apprise raises assorted errors for odd URLs
            service = None
            sender.problem = "Apprise cannot use this channel's URL: " + sender.clean(str(exc))
        if service is None:
            sender.problem = sender.problem or (
                "Apprise cannot use this channel's URL (unknown service, or a part is missing)"
            )
            return sender
        # Not urlsplit: Apprise URLs put "#channel" before the query (slack://…/#general?…).
        query = {k.lower(): v for k, v in parse_qsl(channel.url.partition("?")[2])}
        if "overflow" not in query:
            # Apprise's default ("upstream") sends over-long text as is and lets the
            # service reject it; truncating keeps the top of the alert, which says why.
            service.overflow_mode = _apprise().common.OverflowMode.TRUNCATE
        sender.format = message_format(channel.url, query.get("format"), service.notify_format)
        sender._apprise = _apprise().Apprise()
        sender._apprise.add(service)
        return sender

    def clean(self, text: str) -> str:
        return scrub(" ".join(text.split()), self.fragments)[:MAX_ERROR_CHARS]

    async def send(self, message: Message) -> str | None:
        """Deliver ``message``; None on success, else why not (scrubbed of secrets)."""
        if self._apprise is None:
            return self.problem or "channel not usable"
        formats = _apprise().NotifyFormat
        body_format = formats.MARKDOWN if message.format == "markdown" else formats.TEXT
        try:
            result = await asyncio.wait_for(
                self._apprise.async_notify(
                    body=message.body, title=message.title, body_format=body_format
                ),
                SEND_TIMEOUT,
            )
        except TimeoutError:
            return f"no answer within {SEND_TIMEOUT:.0f} s"
        except Exception as exc:
            return self.clean(f"{type(exc).__name__}: {exc}")
        if result:
            return None
        return self._reason(result)

    def _reason(self, result: Any) -> str:
        """The last warning Apprise captured about the failed call, scrubbed."""
        entries = getattr(result, "logs", None)
        messages: list[str] = []
        if callable(entries):
            messages = [
                str(e.message) for e in entries() if getattr(e, "level", "") in ("WARNING", "ERROR")
            ]
        status = getattr(getattr(result, "status", None), "name", None)
        reason = messages[-1] if messages else "the service did not accept the message"
        return self.clean(f"{reason} ({status.lower()})" if status else reason)


async def send_test(channel: ChannelSettings, now: datetime) -> str | None:
    """Send ``monitor notify-test``'s message to one channel; None on success, else why not."""
    sender = ChannelSender.build(channel)
    return await sender.send(render_test(channel.name, format_time(now), fmt=sender.format))


# --------------------------------------------------------------------------- the notifier


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
        self.retry_base = retry_base
        self.max_attempts = max_attempts
        self._drain_lock = asyncio.Lock()
        self._append_lock = asyncio.Lock()
        self._senders: dict[str, ChannelSender] = {}
        # Outcomes not yet in the log (the store failed): retried before anything else;
        # their sends count as done for this process so nothing is sent twice meanwhile.
        self._backlog: list[tuple[Event, str | None]] = []
        self._sent_unrecorded: set[Key] = set()
        self._reset()
        guard_third_party_logs(settings.channels)

    def _reset(self) -> None:
        self._loaded = False
        self._cursor = 0  # durable: every alert for seq <= cursor is settled
        self._scanned = 0  # in memory: the log has been read up to here
        self._version = 0  # of the $notifier stream, for expected-version appends
        self._sources: dict[str, tuple[Any, ...]] = {}  # _ALERT_SETTINGS' values
        self._owed: dict[int, _Owed] = {}
        self._done: set[Key] = set()
        self._attempts: dict[Key, int] = {}
        self._retry_at: dict[Key, datetime] = {}

    @property
    def cursor(self) -> int:
        return self._cursor

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
        moments = [t for key, t in self._retry_at.items() if key not in self._done]
        for seq, owed in self._owed.items():
            for name in owed.channels:
                channel = self._channel(name)
                key = (seq, name)
                if channel is None or not channel.digest or key in self._done:
                    continue
                due = self._digest_due(channel, owed.event)
                retry = self._retry_at.get(key)
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
            if self._backlog:
                await self._record([])
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
        self._cursor = await self.store.get_cursor(CURSOR)
        self._version = await self.store.stream_version(STREAM)
        if self._cursor:
            settings_types = names(SETTINGS_EVENTS)
            async for stored in self.store.iterate(until=self._cursor, types=settings_types):
                if isinstance(event := stored.event, SETTINGS_EVENTS):
                    self._sources[stored.stream] = _alert_settings(event.settings)
        self._scanned = self._cursor
        self._loaded = True

    async def _scan(self) -> None:
        monitor = self.settings.monitor
        async for stored in self.store.iterate(after=self._scanned):
            self._scanned = stored.seq
            if stored.stream == STREAM:
                self._version = max(self._version, stored.version)
            event = stored.event
            if isinstance(event, NOTIFICATION_EVENTS):
                self._apply_record(stored)
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

    def _apply_record(self, record: StoredEvent) -> None:
        """Learn from a NotificationSent/Failed (ours or another notifier's); idempotent."""
        outcome = record.event
        if not isinstance(outcome, NOTIFICATION_EVENTS):
            return
        key = (outcome.for_seq, outcome.channel)
        if key[0] <= self._cursor:
            return
        attempt = outcome.attempt
        if isinstance(outcome, NotificationSent):
            self._done.add(key)
            return
        if outcome.final:
            self._done.add(key)
        if attempt > self._attempts.get(key, 0):
            self._attempts[key] = attempt
            # After a restart the retry is scheduled from when the failure was recorded.
            self._retry_at[key] = parse_time(record.recorded_at) + timedelta(
                seconds=retry_delay(attempt, self.retry_base)
            )

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
                if key not in self._done and key not in self._sent_unrecorded:
                    pending.setdefault(name, []).append(owed)
        return sorted(pending.items())

    async def _work(self, name: str, items: list[_Owed], now: datetime) -> int:
        channel = self._channel(name)
        if channel is None:
            return 0
        if channel.digest:
            due = [o for o in items if self._digest_due(channel, o.event) <= now]
            if not due or any(self._waiting((o.event.seq, name), now) for o in due):
                return 0
            return await self._send_digest(channel, due, now)
        sent = 0
        for owed in items:
            if self._waiting((owed.event.seq, name), now):
                break  # keep the channel's alerts in order; the retry comes first
            if not await self._send_one(channel, owed, now):
                break  # the channel is failing: leave the rest for after the back-off
            sent += 1
        return sent

    def _waiting(self, key: Key, now: datetime) -> bool:
        retry = self._retry_at.get(key)
        return retry is not None and retry > now

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
        attempt = self._attempts.get(key, 0) + 1
        if error is None:
            await self._record(
                [(NotificationSent(for_seq=event.seq, channel=channel.name, attempt=attempt), None)]
            )
            log.info("sent alert for seq %d (%s) to %s", event.seq, event.type, channel.name)
            return True
        await self._failed([key], channel.name, attempt_of={key: attempt}, error=error, now=now)
        return False

    async def _send_digest(
        self, channel: ChannelSettings, items: list[_Owed], now: datetime
    ) -> int:
        sender = self._sender(channel)
        keys = [(o.event.seq, channel.name) for o in items]
        attempt_of = {key: self._attempts.get(key, 0) + 1 for key in keys}
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
            await self._record(
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
        await self._failed(keys, channel.name, attempt_of=attempt_of, error=error, now=now)
        return 0

    async def _failed(
        self,
        keys: Sequence[Key],
        name: str,
        *,
        attempt_of: dict[Key, int],
        error: str,
        now: datetime,
    ) -> None:
        records: list[tuple[Event, str | None]] = []
        for key in keys:
            attempt = attempt_of[key]
            final = attempt >= self.max_attempts
            records.append(
                (
                    NotificationFailed(
                        for_seq=key[0], channel=name, attempt=attempt, error=error, final=final
                    ),
                    None,
                )
            )
            if final:
                log.error(
                    "giving up on the alert for seq %d to %s after %d attempts: %s",
                    key[0],
                    name,
                    attempt,
                    error,
                )
            else:
                log.warning(
                    "alert for seq %d to %s failed (attempt %d of %d): %s",
                    key[0],
                    name,
                    attempt,
                    self.max_attempts,
                    error,
                )
        for key in keys:
            self._attempts[key] = max(self._attempts.get(key, 0), attempt_of[key])
        await self._record(records)
        for key in keys:
            # In-memory schedule from our own clock (the record's time is used after a restart).
            self._retry_at[key] = now + timedelta(
                seconds=retry_delay(attempt_of[key], self.retry_base)
            )

    async def _record(self, records: Sequence[tuple[Event, str | None]]) -> None:
        """Append outcome records (and any backlog) with expected version and deterministic ids.

        A store failure is logged and the records stay in the backlog for the next pass;
        the sends they describe count as done in this process, so nothing is resent.
        """
        async with self._append_lock:
            self._backlog.extend(records)
            for event, _ in records:
                if isinstance(event, NotificationSent):
                    self._sent_unrecorded.add((event.for_seq, event.channel))
            try:
                await self._flush_backlog()
            except MonitorError as exc:
                log.error(
                    "could not record %d notification outcomes, will retry: %s",
                    len(self._backlog),
                    scrub(str(exc)),
                )

    async def _flush_backlog(self) -> None:
        for _ in range(10):
            todo = [(e, d) for e, d in self._backlog if not self._recorded(e)]
            self._backlog = todo
            if not todo:
                return
            batch = []
            for offset, (event, digest) in enumerate(todo, start=1):
                data = event.to_data()
                if digest is not None:
                    data["digest"] = digest
                version = self._version + offset
                batch.append(
                    NewEvent(
                        event_id=deterministic_event_id(STREAM, version, event.type, data),
                        stream=STREAM,
                        type=event.type,
                        schema=event.schema,
                        data=data,
                    )
                )
            try:
                stored = await self.store.append(batch, expected={STREAM: self._version})
            except ConcurrencyError:
                # Another notifier wrote meanwhile: learn what it recorded, then retry.
                log.info("another writer recorded notifications meanwhile; re-reading the log")
                self._version = await self.store.stream_version(STREAM)
                records = names(NOTIFICATION_EVENTS)
                async for record in self.store.iterate(after=self._cursor, types=records):
                    self._apply_record(record)
                continue
            for item in stored:
                self._version = max(self._version, item.version)
                self._apply_record(item)
            self._backlog = []
            self._sent_unrecorded = {k for k in self._sent_unrecorded if k not in self._done}
            return
        raise ConcurrencyError(STREAM, self._version, -1)

    def _recorded(self, event: Event) -> bool:
        """True when the log already settles what ``event`` would record."""
        if isinstance(event, NotificationSent | NotificationFailed):
            return (event.for_seq, event.channel) in self._done
        return False

    def _base_url(self) -> str | None:
        return self.settings.monitor.base_url or self.settings.web.base_url

    # ----------------------------------------------------------------- the cursor

    async def _advance(self) -> None:
        """Move the durable cursor up to the first event that still owes an alert."""
        unsettled = [
            seq
            for seq, owed in self._owed.items()
            if any((seq, name) not in self._done for name in owed.channels)
        ]
        target = min(unsettled) - 1 if unsettled else self._scanned
        if target <= self._cursor:
            return
        await self.store.set_cursor(CURSOR, target)
        self._cursor = target
        for seq in [s for s in self._owed if s <= target]:
            del self._owed[seq]
        self._done = {k for k in self._done if k[0] > target}
        self._attempts = {k: v for k, v in self._attempts.items() if k[0] > target}
        self._retry_at = {k: v for k, v in self._retry_at.items() if k[0] > target}
        self._sent_unrecorded = {k for k in self._sent_unrecorded if k[0] > target}


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
    return tuple(settings.get(key) for key in _ALERT_SETTINGS)

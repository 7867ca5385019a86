"""What the notifier has settled: the ``$notifier`` stream as this process knows it.

Every (event seq, channel name) pair that was routed is settled by a
``NotificationSent``, or by a ``NotificationFailed`` with ``final = true`` after
``max_attempts`` tries. ``Outcomes`` learns those records (its own and any other
notifier's: ``apply`` is idempotent), schedules retries with exponential back-off
(``retry_base``, doubling, see ``notify.digest.retry_delay``) and appends outcome
records with an expected version and deterministic event ids, so a retried append is
harmless and a concurrent writer is detected (``ConcurrencyError``: re-read the
stream, skip what is recorded already, append again).

Retry times live in memory: a failure this process recorded retries on its own
clock; after a restart, from the time the failure was recorded. When the store
fails, outcome records wait in a backlog for the next pass, and the sends they
describe count as done in this process, so nothing is sent twice meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from monitor.errors import ConcurrencyError, MonitorError
from monitor.events import (
    NOTIFICATION_EVENTS,
    Event,
    NewEvent,
    NotificationFailed,
    NotificationSent,
    StoredEvent,
    deterministic_event_id,
    names,
    parse_time,
)
from monitor.notify.digest import retry_delay
from monitor.notify.secrets import scrub
from monitor.store import EventStore

log = logging.getLogger(__name__)

STREAM = "$notifier"
_APPEND_TRIES = 10

Key = tuple[int, str]  # (event seq, channel name)
Outcome = tuple[Event, str | None]  # a record and, for a digest, its id


class Outcomes:
    """Settled pairs, attempts and retry times after the cursor; appends outcome records."""

    def __init__(self, store: EventStore, *, retry_base: float, max_attempts: int) -> None:
        self.store = store
        self.retry_base = retry_base
        self.max_attempts = max_attempts
        self._append_lock = asyncio.Lock()
        # Outcomes not yet in the log (the store failed): retried before anything else;
        # their sends count as done for this process so nothing is sent twice meanwhile.
        self.backlog: list[Outcome] = []
        self.sent_unrecorded: set[Key] = set()
        self.reset(cursor=0, version=0)

    def reset(self, *, cursor: int, version: int) -> None:
        """Forget what was learnt (not the backlog): the log is read again from ``cursor``."""
        self.cursor = cursor  # durable: every alert for seq <= cursor is settled
        self.version = version  # of the $notifier stream, for expected-version appends
        self.done: set[Key] = set()
        self.attempts: dict[Key, int] = {}
        self.retry_at: dict[Key, datetime] = {}

    def apply(self, record: StoredEvent) -> None:
        """Learn from a NotificationSent/Failed (ours or another notifier's); idempotent."""
        outcome = record.event
        if not isinstance(outcome, NOTIFICATION_EVENTS):
            return
        key = (outcome.for_seq, outcome.channel)
        if key[0] <= self.cursor:
            return
        attempt = outcome.attempt
        if isinstance(outcome, NotificationSent):
            self.done.add(key)
            return
        if outcome.final:
            self.done.add(key)
        if attempt > self.attempts.get(key, 0):
            self.attempts[key] = attempt
            # After a restart the retry is scheduled from when the failure was recorded.
            self.retry_at[key] = parse_time(record.recorded_at) + timedelta(
                seconds=retry_delay(attempt, self.retry_base)
            )

    def settled(self, key: Key) -> bool:
        """Nothing more to send for ``key`` (recorded, or sent and waiting to be recorded)."""
        return key in self.done or key in self.sent_unrecorded

    def next_attempt(self, key: Key) -> int:
        return self.attempts.get(key, 0) + 1

    def waiting(self, key: Key, now: datetime) -> bool:
        """True while ``key``'s retry is not due yet."""
        retry = self.retry_at.get(key)
        return retry is not None and retry > now

    async def failed(
        self,
        keys: Sequence[Key],
        name: str,
        *,
        attempt_of: dict[Key, int],
        error: str,
        now: datetime,
    ) -> None:
        """Record a failed send of ``keys`` to channel ``name`` and schedule the retries."""
        records: list[Outcome] = []
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
            self.attempts[key] = max(self.attempts.get(key, 0), attempt_of[key])
        await self.record(records)
        for key in keys:
            # In-memory schedule from our own clock (the record's time is used after a restart).
            self.retry_at[key] = now + timedelta(
                seconds=retry_delay(attempt_of[key], self.retry_base)
            )

    async def record(self, records: Sequence[Outcome]) -> None:
        """Append outcome records (and any backlog) with expected version and deterministic ids.

        A store failure is logged and the records stay in the backlog for the next pass;
        the sends they describe count as done in this process, so nothing is resent.
        """
        async with self._append_lock:
            self.backlog.extend(records)
            for event, _ in records:
                if isinstance(event, NotificationSent):
                    self.sent_unrecorded.add((event.for_seq, event.channel))
            try:
                await self._flush_backlog()
            except MonitorError as exc:
                log.error(
                    "could not record %d notification outcomes, will retry: %s",
                    len(self.backlog),
                    scrub(str(exc)),
                )

    async def _flush_backlog(self) -> None:
        for _ in range(_APPEND_TRIES):
            todo = [(e, d) for e, d in self.backlog if not self._recorded(e)]
            self.backlog = todo
            if not todo:
                return
            batch = []
            for offset, (event, digest) in enumerate(todo, start=1):
                data = event.to_data()
                if digest is not None:
                    data["digest"] = digest
                version = self.version + offset
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
                stored = await self.store.append(batch, expected={STREAM: self.version})
            except ConcurrencyError:
                # Another notifier wrote meanwhile: learn what it recorded, then retry.
                log.info("another writer recorded notifications meanwhile; re-reading the log")
                self.version = await self.store.stream_version(STREAM)
                records = names(NOTIFICATION_EVENTS)
                async for record in self.store.iterate(after=self.cursor, types=records):
                    self.apply(record)
                continue
            for item in stored:
                self.version = max(self.version, item.version)
                self.apply(item)
            self.backlog = []
            self.sent_unrecorded = {k for k in self.sent_unrecorded if k not in self.done}
            return
        raise ConcurrencyError(STREAM, self.version, -1)

    def _recorded(self, event: Event) -> bool:
        """True when the log already settles what ``event`` would record."""
        if isinstance(event, NotificationSent | NotificationFailed):
            return (event.for_seq, event.channel) in self.done
        return False

    def settle_through(self, target: int) -> None:
        """The durable cursor moved to ``target``: forget everything at or before it."""
        self.cursor = target
        self.done = {k for k in self.done if k[0] > target}
        self.attempts = {k: v for k, v in self.attempts.items() if k[0] > target}
        self.retry_at = {k: v for k, v in self.retry_at.items() if k[0] > target}
        self.sent_unrecorded = {k for k in self.sent_unrecorded if k[0] > target}

"""When each source is checked: the one module that imports APScheduler.

Two layers. The pure layer (``cadence_of``, ``first_check_at``, ``next_interval_check``)
decides times from values and ``now``; ``CheckScheduler`` hands those times to an
APScheduler 3 ``AsyncIOScheduler`` that calls back into the daemon.

Invariants:

* one job per source id; a job never runs twice at once (``max_instances=1``) and
  runs that were missed while the loop was busy collapse into one (``coalesce``),
  however late (``misfire_grace_time=None``: a late check beats a skipped one);
* an ``interval`` source is checked every ``interval ± jitter`` seconds, jitter being
  ``jitter_percent`` of the interval, drawn afresh each time from the *actual* last
  run: the mean period is exactly the interval and sources configured alike drift
  apart instead of hitting a site in step;
* a ``cron`` source fires at its cron times in UTC, delayed (never advanced) by up to
  ``jitter_percent`` of its cron period, at most ``CRON_JITTER_CAP`` seconds;
* after a start or a reload nothing fires in a burst: a source whose next check is
  already overdue runs at a uniformly random moment of its jitter window
  ``[now, now + jitter]``; a source never checked before, within
  ``min(jitter, NEW_SOURCE_SPREAD)`` so that a new configuration gets its baselines
  within a minute; a source not yet due keeps its rhythm (last check + interval ±
  jitter).
"""

from __future__ import annotations

import abc
import logging
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

from monitor.clock import Clock, utc_now
from monitor.config.settings import SourceSettings

log = logging.getLogger(__name__)

NEW_SOURCE_SPREAD = 60.0  # seconds: never-checked sources start within this (or the jitter)
CRON_JITTER_CAP = 300.0  # seconds: a cron check is late by at most five minutes

OnDue = Callable[[str], Awaitable[None]]


# --------------------------------------------------------------------------- pure decisions


@dataclass(frozen=True, slots=True)
class Cadence:
    """How often one source is checked: exactly one of ``interval`` (seconds) or ``cron``."""

    interval: int | None
    cron: str | None
    jitter: float  # seconds: ± for an interval, + only for cron

    def describe(self) -> str:
        if self.cron is not None:
            return f"cron {self.cron!r} UTC (+{self.jitter:g}s)"
        return f"every {self.interval}s ±{self.jitter:g}s"


CRON_FIELDS = ("minute", "hour", "day", "month", "day_of_week")  # a crontab line's order


def cron_trigger(expr: str, jitter: float = 0.0) -> CronTrigger:
    """An APScheduler trigger for a (normalized, see ``config.normalize_cron``) expression."""
    fields = dict(zip(CRON_FIELDS, expr.split(), strict=True))
    return CronTrigger(**fields, timezone=UTC, jitter=jitter or None)


def next_cron_time(expr: str, after: datetime) -> datetime:
    """The first cron time strictly after ``after`` (config rejects crons that never fire)."""
    found: datetime = cron_trigger(expr).get_next_fire_time(after, after)
    return found


def cron_period(expr: str, now: datetime) -> float:
    """Seconds between the next two cron times after ``now``: the cron's rhythm, roughly."""
    first = next_cron_time(expr, now)
    return (next_cron_time(expr, first) - first).total_seconds()


def cadence_of(
    source: SourceSettings, *, jitter_percent: int, default_interval: int, now: datetime
) -> Cadence:
    """The schedule a source asks for (config guarantees interval or cron is set)."""
    if source.cron is not None:
        jitter = min(cron_period(source.cron, now) * jitter_percent / 100, CRON_JITTER_CAP)
        return Cadence(interval=None, cron=source.cron, jitter=jitter)
    interval = source.interval or default_interval
    return Cadence(interval=interval, cron=None, jitter=interval * jitter_percent / 100)


def first_check_at(
    cadence: Cadence, last_checked: datetime | None, now: datetime, rng: random.Random
) -> datetime:
    """When a source's first check after a start or reload runs (see the module invariants)."""
    if last_checked is None:
        return now + timedelta(seconds=rng.uniform(0, min(cadence.jitter, NEW_SOURCE_SPREAD)))
    if cadence.cron is not None:
        # Overdue when a cron time passed since the last check; else wait for the next one.
        if next_cron_time(cadence.cron, last_checked) > now:
            due = next_cron_time(cadence.cron, now)
            return due + timedelta(seconds=rng.uniform(0, cadence.jitter))
        return now + timedelta(seconds=rng.uniform(0, cadence.jitter))
    assert cadence.interval is not None
    due = last_checked + timedelta(
        seconds=cadence.interval + rng.uniform(-cadence.jitter, cadence.jitter)
    )
    if due > now:
        return due
    return now + timedelta(seconds=rng.uniform(0, cadence.jitter))


def next_interval_check(
    previous: datetime, interval: int, jitter: float, rng: random.Random
) -> datetime:
    """The check after one that ran (was due) at ``previous``: interval ± jitter later."""
    return previous + timedelta(seconds=interval + rng.uniform(-jitter, jitter))


# --------------------------------------------------------------------------- APScheduler shell


class JitteredInterval(BaseTrigger):  # type: ignore[misc]
    """Fires ``interval ± jitter`` seconds after the previous fire time.

    APScheduler 3's own ``IntervalTrigger`` only *adds* jitter, on top of the
    previous (already jittered) time, so its mean period is ``interval + jitter/2``
    and it drifts late; this one keeps the mean at the interval.
    """

    __slots__ = ("interval", "jitter", "rng")

    def __init__(self, interval: int, jitter: float, rng: random.Random) -> None:
        self.interval = interval
        self.jitter = jitter
        self.rng = rng

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime:
        base = previous_fire_time or now
        return next_interval_check(base, self.interval, self.jitter, self.rng)

    def __str__(self) -> str:
        return f"interval[{self.interval}s ±{self.jitter:g}s]"


@dataclass(frozen=True)
class ScheduleChanges:
    """What ``CheckScheduler.sync`` did, by source id."""

    added: tuple[str, ...] = ()
    rescheduled: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()


class SourceScheduler(abc.ABC):
    """What every scheduler of sources shares: ``sync`` turns sources into cadences.

    ``CheckScheduler`` keeps them as APScheduler jobs, ``workers.LeaseScheduler`` in the
    shared leases table; each says in ``_apply`` how it makes its jobs match.
    """

    _clock: Clock
    _rng: random.Random
    _cadences: dict[str, Cadence]

    def cadence(self, source_id: str) -> Cadence | None:
        return self._cadences.get(source_id)

    def sync(
        self,
        sources: Iterable[SourceSettings],
        *,
        last_checked: Mapping[str, datetime],
        jitter_percent: int,
        default_interval: int,
    ) -> ScheduleChanges:
        """Make the schedule match ``sources``: add new ones, drop gone ones, retime changed ones.

        A source whose cadence is unchanged keeps its next check time, so a reload
        does not reset anyone's rhythm.
        """
        now = self._clock()
        wanted = {
            s.id: cadence_of(
                s, jitter_percent=jitter_percent, default_interval=default_interval, now=now
            )
            for s in sources
        }
        return self._apply(wanted, last_checked, now)

    @abc.abstractmethod
    def _apply(
        self, wanted: dict[str, Cadence], last_checked: Mapping[str, datetime], now: datetime
    ) -> ScheduleChanges:
        """Make the jobs match ``wanted`` (cadences by source id), first checks from ``now``."""


class CheckScheduler(SourceScheduler):
    """One APScheduler job per source, calling ``on_due(source_id)`` when a check is due.

    Job bodies are the daemon's coroutine, run as tasks on the running loop; the
    daemon (not APScheduler) decides what happens to them at shutdown, so stopping
    is ``pause()`` first, then ``shutdown()`` once the daemon has dealt with them.
    """

    def __init__(
        self,
        on_due: OnDue,
        *,
        clock: Clock = utc_now,
        rng: random.Random | None = None,
    ) -> None:
        self._on_due = on_due
        self._clock = clock
        self._rng = rng or random.Random()
        self._cadences: dict[str, Cadence] = {}
        # Triggers hold no per-job state, so sources with the same cadence share one (and
        # one Cadence object): with 10,000 sources that is megabytes, not a rounding error.
        self._triggers: dict[Cadence, BaseTrigger] = {}
        self._shared: dict[Cadence, Cadence] = {}
        self._aps = AsyncIOScheduler(timezone=UTC)

    @property
    def running(self) -> bool:
        return bool(self._aps.running)

    def start(self) -> None:
        """Start firing (needs a running event loop)."""
        self._aps.start()

    def pause(self) -> None:
        """Stop firing new checks; checks already running are not touched."""
        if self._aps.running:
            self._aps.pause()

    def shutdown(self) -> None:
        if self._aps.running:
            self._aps.shutdown(wait=False)

    def next_check(self, source_id: str) -> datetime | None:
        job = self._aps.get_job(source_id)
        if job is None:
            return None
        when: datetime | None = job.next_run_time
        return when

    def _apply(
        self, wanted: dict[str, Cadence], last_checked: Mapping[str, datetime], now: datetime
    ) -> ScheduleChanges:
        """One job per wanted source; a job whose cadence is unchanged keeps its next run."""
        removed = sorted(set(self._cadences) - set(wanted))
        for source_id in removed:
            self._aps.remove_job(source_id)
            del self._cadences[source_id]
        added: list[str] = []
        rescheduled: list[str] = []
        for source_id, cadence in wanted.items():
            old = self._cadences.get(source_id)
            if old == cadence:
                continue
            cadence = self._shared.setdefault(cadence, cadence)
            first = first_check_at(cadence, last_checked.get(source_id), now, self._rng)
            trigger = self._trigger(cadence)
            if old is None:
                self._aps.add_job(
                    self._on_due,
                    trigger=trigger,
                    args=(source_id,),
                    id=source_id,
                    name=source_id,
                    max_instances=1,
                    coalesce=True,
                    misfire_grace_time=None,
                    next_run_time=first,
                )
                added.append(source_id)
            else:
                self._aps.modify_job(source_id, trigger=trigger, next_run_time=first)
                rescheduled.append(source_id)
            self._cadences[source_id] = cadence
            log.debug("source %s: %s, first check at %s", source_id, cadence.describe(), first)
        return ScheduleChanges(
            added=tuple(added), rescheduled=tuple(rescheduled), removed=tuple(removed)
        )

    def _trigger(self, cadence: Cadence) -> BaseTrigger:
        trigger = self._triggers.get(cadence)
        if trigger is None:
            if cadence.cron is not None:
                trigger = cron_trigger(cadence.cron, cadence.jitter)
            else:
                assert cadence.interval is not None
                trigger = JitteredInterval(cadence.interval, cadence.jitter, self._rng)
            self._triggers[cadence] = trigger
        return trigger

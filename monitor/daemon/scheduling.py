"""Which scheduler says a source is due, and keeping it in step with the configuration.

One daemon alone schedules its sources locally (``CheckScheduler``, APScheduler); on
PostgreSQL the workers claim due sources through leases (``LeaseScheduler``), so each
source is checked by one of them. Either way:

* a source's first check after a start or reload keeps the rhythm the log proves
  (``last_check_time``), so a restart neither repeats recent checks nor skips due ones;
* a reload or a discovery pass changes only the jobs of sources that changed.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Mapping
from datetime import datetime

from monitor.core.projections import SourceState
from monitor.daemon.checking import Checks
from monitor.daemon.context import RunContext
from monitor.daemon.generations import Generation, Generations
from monitor.daemon.scheduler import CheckScheduler
from monitor.daemon.status import log
from monitor.daemon.workers import LeaseScheduler, lease_period_from
from monitor.events import parse_time


def last_check_time(state: SourceState) -> datetime | None:
    """The latest moment the log proves this source was checked, or None if never.

    Unchanged checks are recorded only once per ``confirm_every``, so this can be
    older than the real last check; the cost is an early first check after a
    restart, spread over the jitter window like any overdue one.
    """
    moments = []
    if state.last_good is not None:
        moments.append(parse_time(state.last_good.seen_until))
    if state.failing_since is not None:
        moments.append(parse_time(state.failing_since))
    return max(moments) if moments else None


async def last_checks_from_log(gen: Generation) -> dict[str, datetime]:
    found: dict[str, datetime] = {}
    for source in gen.settings.sources:
        moment = last_check_time(await gen.runner.state(source.id))
        if moment is not None:
            found[source.id] = moment
    return found


class Schedule:
    """The daemon's scheduler (local or by leases), started, synced and stopped."""

    def __init__(
        self, ctx: RunContext, generations: Generations, checks: Checks, rng: random.Random
    ) -> None:
        self._ctx = ctx
        self._generations = generations
        self._checks = checks
        self._rng = rng
        self._scheduler: CheckScheduler | LeaseScheduler | None = None
        self._leases: LeaseScheduler | None = None  # PostgreSQL: sources shared by leases

    def start(self, stack: contextlib.AsyncExitStack) -> None:
        """Start firing due checks; ``stack`` stops the scheduler at the daemon's exit."""
        store, clock = self._ctx.store, self._ctx.clock
        if self._ctx.shares_work:
            leases = LeaseScheduler(
                self._checks.check_due,
                store=store,
                clock=clock,
                rng=self._rng,
                lease_period=lease_period_from(self._ctx.environ),
                capacity=self._generations.settings.monitor.concurrency,
                on_claim=self._checks.forget,
            )
            self._scheduler = self._leases = leases
            leases.start()
            stack.push_async_callback(leases.aclose)
        else:
            scheduler = CheckScheduler(self._checks.on_due, clock=clock, rng=self._rng)
            self._scheduler = scheduler
            scheduler.start()
            stack.callback(scheduler.shutdown)

    def pause(self) -> None:
        """Fire no more checks (the drain decides about those already fired)."""
        if self._scheduler is not None:
            self._scheduler.pause()

    async def catch_up(self, gen: Generation) -> None:
        """Sync with ``gen``'s sources, from the log's last checks and this process's own."""
        self.sync({**await last_checks_from_log(gen), **self._checks.last_checked})

    def sync(self, last_checked: Mapping[str, datetime]) -> None:
        gen = self._generations.current
        assert self._scheduler is not None and gen is not None
        monitor = gen.settings.monitor
        if self._leases is not None:
            self._leases.capacity = monitor.concurrency
        changes = self._scheduler.sync(
            gen.settings.sources,
            last_checked=last_checked,
            jitter_percent=monitor.jitter_percent,
            default_interval=monitor.default_interval,
        )
        if changes.added or changes.rescheduled or changes.removed:
            log.info(
                "schedule: %d added, %d retimed, %d removed",
                len(changes.added),
                len(changes.rescheduled),
                len(changes.removed),
            )

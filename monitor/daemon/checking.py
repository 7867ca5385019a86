"""One due check, from the scheduler's call to the recorded report.

Invariants:

* a check takes a slot of its host (``Fetcher.reserve_host``, which also waits out a
  ``Retry-After``) *before* one of the ``concurrency`` global slots, so checks queued
  behind a slow, hung or rate-limiting site hold nothing the other sites need; the
  pause is kept in the store (``monitor.store.pauses``), so a restarted daemon and the
  other workers wait it out too instead of asking the host again at once;
* a check queued when the stop begins is dropped; one in flight finishes, or is
  cancelled when the grace period ends (``drain``);
* a failed or crashed check is logged and counted, never raised into the scheduler:
  the source stays scheduled;
* with leases, a check whose host asked for quiet longer than the fetcher waits is not
  checked: the end of the pause is returned and the source becomes due then.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

from monitor.check.pipeline import CheckReport
from monitor.daemon.context import RunContext
from monitor.daemon.generations import Generations
from monitor.daemon.status import log
from monitor.errors import HostPausedError, MonitorError


class Checks:
    """Runs due checks with the installed generation and records what they found."""

    def __init__(
        self,
        ctx: RunContext,
        generations: Generations,
        *,
        on_events: Callable[[CheckReport], None],
        on_report: Callable[[CheckReport], None] | None,
    ) -> None:
        self._status = ctx.status
        self._clock = ctx.clock
        self._generations = generations
        self._on_events = on_events  # the notifier and the checkpoints follow new events
        self._on_report = on_report
        self.stopping = False
        self.queued: set[asyncio.Task[Any]] = set()  # waiting for a slot, or running
        self.running: set[asyncio.Task[Any]] = set()  # holding slots: fetching or recording
        self.last_checked: dict[str, datetime] = {}  # by this process, since it started

    async def on_due(self, source_id: str) -> None:
        """A scheduled check (an APScheduler job body, one at a time per source)."""
        await self.check_due(source_id)

    def forget(self, source_id: str) -> None:
        """Another worker checked this source last: re-read its state from the log."""
        if self._generations.current is not None:
            self._generations.current.runner.forget(source_id)

    async def check_due(self, source_id: str) -> bool | datetime:
        """Check a due source; False if it was not checked (stopping, or no longer configured).

        With leases, a source whose host asked for quiet beyond the fetcher's
        ``max_wait`` is not checked: the end of the pause is returned, and the lease
        scheduler makes the source due then.
        """
        gen = self._generations.current
        if self.stopping or gen is None:
            return False
        source = gen.settings.source(source_id)
        if source is None:
            return False  # removed by a reload that raced with this run
        task = asyncio.current_task()
        assert task is not None
        self.queued.add(task)
        gen.active += 1
        try:
            async with gen.fetcher.reserve_host(source.url), gen.limit:
                if self.stopping:
                    return False
                self.running.add(task)
                self._status.in_flight = len(self.running)
                report = await gen.runner.check(source)
            self.last_checked[source_id] = self._clock()
            self._record(report)
        except asyncio.CancelledError:
            if not self.stopping:
                raise
            if task in self.running:
                log.warning("check of %s cancelled: the grace period ended", source_id)
            return False
        except HostPausedError as paused:
            log.info("check of %s postponed: %s", source_id, paused)
            return paused.until
        except MonitorError as exc:
            self._status.failures += 1
            log.error("check of %s could not be recorded: %s", source_id, exc)
        except Exception:
            # A bug in one check must not kill the job (APScheduler would only log it).
            self._status.failures += 1
            log.exception("check of %s failed unexpectedly", source_id)
        finally:
            self.queued.discard(task)
            self.running.discard(task)
            self._status.in_flight = len(self.running)
            gen.active -= 1
            self._generations.release(gen)
        return True

    def _record(self, report: CheckReport) -> None:
        self._status.checks += 1
        self._status.last_check_at = self._clock()
        if report.outcome in ("failed", "error"):
            self._status.failures += 1
        if report.events:
            self._on_events(report)
            log.info("%s", report.line())
        else:
            log.debug("%s", report.line())
        if self._on_report is not None:
            self._on_report(report)

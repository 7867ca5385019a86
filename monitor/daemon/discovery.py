"""The daemon's ``[[discover]]`` passes: each entry on its interval, its finds scheduled.

* each entry gets a pass every ``interval``, counted from its last recorded pass, so a
  restart does not repeat a recent one; an entry a reload removed gets no more passes;
* the sources a pass registers join the installed generation and the schedule at once;
* a pass that fails is logged and tried again at the next interval; it never stops
  the daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta

from monitor.daemon.context import RunContext
from monitor.daemon.generations import Generation, Generations
from monitor.daemon.scheduling import Schedule
from monitor.daemon.status import log
from monitor.discover.runner import DiscoveryRunner
from monitor.errors import MonitorError
from monitor.events import parse_time

DISCOVERY_POLL_SECONDS = 60.0  # the discovery loop looks again at least this often


class Discovery:
    """The task that runs discovery passes while the daemon runs."""

    def __init__(
        self,
        ctx: RunContext,
        generations: Generations,
        schedule: Schedule,
        *,
        on_events: Callable[[], None],
    ) -> None:
        self._ctx = ctx
        self._clock = ctx.clock
        self._generations = generations
        self._schedule = schedule
        self._on_events = on_events  # the notifier follows new events
        self._runner: DiscoveryRunner | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _loop(self) -> None:
        """Run each ``[[discover]]`` entry's pass every ``interval`` from its last recorded one."""
        stop = self._ctx.control.stop
        due: dict[str, datetime] = {}
        while not stop.is_set():
            gen = self._generations.current
            assert gen is not None
            runner = self._runner_for(gen)
            entries = {entry.id: entry for entry in gen.settings.discover}
            for entry_id in list(due):
                if entry_id not in entries:
                    del due[entry_id]  # removed from the configuration by a reload
            now = self._clock()
            for entry in entries.values():
                if entry.id not in due:
                    state = await runner.state(entry.id)
                    last = parse_time(state.last_pass_at) if state.last_pass_at else None
                    due[entry.id] = (
                        now if last is None else last + timedelta(seconds=entry.interval)
                    )
            for entry in entries.values():
                if due[entry.id] > self._clock() or stop.is_set():
                    continue
                await self._pass(gen, runner, entry.id)
                due[entry.id] = self._clock() + timedelta(seconds=entry.interval)
            wait = DISCOVERY_POLL_SECONDS
            if due:
                wait = min(wait, (min(due.values()) - self._clock()).total_seconds())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(wait, 0.05)):
                    await stop.wait()

    def _runner_for(self, gen: Generation) -> DiscoveryRunner:
        # One runner for the daemon's life: its listings' validators outlive reloads.
        if self._runner is None:
            self._runner = DiscoveryRunner(gen.runner)
        self._runner.checks = gen.runner
        return self._runner

    async def _pass(self, gen: Generation, runner: DiscoveryRunner, entry_id: str) -> None:
        entry = next((d for d in gen.settings.discover if d.id == entry_id), None)
        if entry is None:
            return
        try:
            async with self._ctx.one_worker_at_a_time("discover"):
                report = await runner.run_pass(entry)
        except MonitorError as exc:
            log.error("discovery pass of %s could not be recorded: %s", entry_id, exc)
            return
        except Exception:
            log.exception("discovery pass of %s failed unexpectedly", entry_id)
            return
        if report.events:
            log.info("%s", report.line())
            self._on_events()
        else:
            log.debug("%s", report.line())
        if report.registered and self._generations.current is gen:
            self._generations.adopt_discovered(gen)
            await self._schedule.catch_up(gen)

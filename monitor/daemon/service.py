"""The long-running monitor: its components built, run and stopped in the right order.

One job: keep every configured source checked on time and every alert sent, for
months, through config edits and restarts, and stop cleanly. The decisions live in
the components, one module each; this module only wires them:

* ``control`` — stop, hurry and reload requests, from signals or callers;
* ``generations`` — the fetcher, browser and check runner of one configuration;
* ``checking`` — one due check, with its host's slot before a global one;
* ``scheduling`` — which scheduler says a source is due (local, or leases);
* ``reload`` — a valid edited config applied completely, an invalid one not at all;
* ``notifying`` — the notifier task (and, on PostgreSQL, its leadership);
* ``checkpoints`` — signed checkpoints, time stamps and Save Page Now;
* ``discovery`` — ``[[discover]]`` passes on their interval;
* ``drain`` — the clean stop within the grace period; ``status`` — health figures.

Invariants:

* start-up and shutdown go through one ``AsyncExitStack``: the store is opened
  first and closed last, after the notifier, the scheduler and every fetcher; the
  last checkpoint is signed after the notifier stopped, over the log as the drain
  and the notifier left it;
* the web view binds before anything is scheduled: a port in use fails the start-up
  cleanly, with no check half done;
* a stop (SIGTERM/SIGINT) drains (``drain``) and ``run`` returns normally — the CLI
  exits 0; a bug in a reload is logged and the previous configuration kept.

On PostgreSQL several daemons share one log (``monitor.daemon.workers``): sources are
claimed through leases (``LeaseScheduler``) instead of being scheduled locally, and
only the daemon holding the notifier lock (``Leadership``) runs the notifier, woken by
any worker's appends; on SQLite and memory stores one daemon does everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from monitor.check.pipeline import CheckReport
from monitor.check.pool import ExtractionPool, workers_for
from monitor.clock import Clock, utc_now
from monitor.config.settings import Settings
from monitor.daemon.checking import Checks
from monitor.daemon.checkpoints import Checkpoints
from monitor.daemon.context import RunContext, shares_work
from monitor.daemon.control import Control
from monitor.daemon.discovery import Discovery
from monitor.daemon.drain import drain
from monitor.daemon.generations import Generations
from monitor.daemon.memory import STARTUP_SETTLE_SECONDS, settle
from monitor.daemon.notifying import Notifying
from monitor.daemon.reload import ConfigFile, Reloader
from monitor.daemon.scheduling import Schedule, last_checks_from_log
from monitor.daemon.status import DaemonStatus, log
from monitor.events import ChangeDetected
from monitor.store import EventStore, describe_url, open_store
from monitor.store.tail import require_intact_tail

CONFIG_POLL_SECONDS = 2.0

Listen = tuple[str, int]


@dataclass(frozen=True)
class _Components:
    """One run's components, built once the store is open (see the module docstring)."""

    ctx: RunContext
    generations: Generations
    checks: Checks
    schedule: Schedule
    notifying: Notifying
    checkpoints: Checkpoints
    discovery: Discovery
    reloader: Reloader


class Daemon:
    """``monitor run``: build it with loaded settings and ``await run()``; signals steer it."""

    def __init__(
        self,
        settings: Settings,
        *,
        database: str,
        config_path: str | os.PathLike[str] | None = None,
        environ: Mapping[str, str] | None = None,
        web: Listen | None = None,
        clock: Clock = utc_now,
        rng: random.Random | None = None,
        poll_interval: float = CONFIG_POLL_SECONDS,
        handle_signals: bool = True,
        on_settings: Callable[[Settings], None] | None = None,
        on_report: Callable[[CheckReport], None] | None = None,
        notifier_retry_base: float | None = None,
    ) -> None:
        self.database = database
        self.config_path = os.fspath(config_path) if config_path is not None else None
        self.environ = environ if environ is not None else os.environ
        self.web = web
        self.clock = clock
        self.status = DaemonStatus()
        self.web_url: str | None = None
        self.ready = asyncio.Event()  # set once checks are scheduled
        self._settings = settings  # until run() installs them in its generations
        self._rng = rng or random.Random()
        self._poll_interval = poll_interval
        self._handle_signals = handle_signals
        self._on_settings = on_settings
        self._on_report = on_report
        self._notifier_retry_base = notifier_retry_base
        self._control = Control()
        self._config = ConfigFile(self.config_path)
        self._parts: _Components | None = None

    @property
    def settings(self) -> Settings:
        """The configuration running now (discovered sources included), or the one given."""
        return self._settings if self._parts is None else self._parts.generations.settings

    @property
    def shares_work(self) -> bool:
        """True on PostgreSQL: several daemons share the sources and elect one notifier."""
        return shares_work(self.database)

    # ------------------------------------------------------------------ control

    def request_stop(self) -> None:
        """Begin a clean stop; a second request skips the rest of the grace period."""
        self._control.request_stop()

    def request_reload(self) -> None:
        self._control.request_reload()

    async def reload(self) -> bool:
        """Apply the config file again; False (old config kept) when it is invalid."""
        if self._parts is None:
            raise RuntimeError("only a running daemon reloads its configuration")
        return await self._parts.reloader.reload()

    # ------------------------------------------------------------------ lifetime

    async def run(self) -> None:
        """Run until a stop is requested, then stop cleanly (see the module invariants)."""
        loop = asyncio.get_running_loop()
        control = self._control
        self.status.started_at = self.clock()
        async with contextlib.AsyncExitStack() as stack:
            if self._handle_signals:
                control.install_signals(loop)
                stack.callback(control.remove_signals, loop)
            if self._on_settings is not None:
                self._on_settings(self._settings)
            self._config.mark()
            store = await stack.enter_async_context(open_store(self.database))
            await require_intact_tail(store, describe_url(self.database))
            workers = workers_for(self._settings.monitor.extract_workers)
            pool = ExtractionPool(workers) if workers else None
            parts = self._parts = self._build(store, pool)
            stack.push_async_callback(parts.generations.aclose)
            if pool is not None:
                stack.push_async_callback(pool.aclose)
                log.info("reading pages in %d worker processes", workers)
            gen = parts.generations.build(self._settings, previous=None)
            parts.generations.install(gen, previous=None)
            async with parts.ctx.one_worker_at_a_time("reconcile"):
                appended = await gen.runner.reconcile()
            if appended:
                log.info("configuration recorded: %d source events", len(appended))
            parts.generations.adopt_discovered(gen)
            last = await last_checks_from_log(gen)
            if self.web is not None:
                from monitor.web.app import serve

                host, port = self.web
                self.web_url = await stack.enter_async_context(
                    serve(store, self.settings, host, port, health=self.status.as_dict)
                )
            parts.schedule.start(stack)
            parts.schedule.sync(last)
            # Registered before the notifier's stop, so it runs after it: the last
            # checkpoint signs the log as the drain and the notifier left it.
            parts.checkpoints.start()
            stack.push_async_callback(parts.checkpoints.stop)
            parts.notifying.start(self.settings)
            stack.push_async_callback(parts.notifying.stop)
            parts.discovery.start()
            stack.push_async_callback(parts.discovery.stop)
            log.info(
                "monitor running: %d sources, database %s, concurrency %d, per host %d",
                len(self.settings.sources),
                self.database.split("://", 1)[0],
                self.settings.monitor.concurrency,
                self.settings.monitor.per_host,
            )
            self.ready.set()
            stop_started: float | None = None
            try:
                await self._main_loop(parts.reloader)
                stop_started = time.monotonic()
            finally:
                deadline = (stop_started or time.monotonic()) + self.settings.monitor.grace_period
                await drain(
                    deadline,
                    control=control,
                    schedule=parts.schedule,
                    checks=parts.checks,
                    notifying=parts.notifying,
                )
        log.info("stopped")

    def _build(self, store: EventStore, pool: ExtractionPool | None) -> _Components:
        """The components of one run, wired to each other; none of them started yet."""
        ctx = RunContext(store, self.database, self.clock, self._control, self.status, self.environ)
        generations = Generations(ctx, self._settings, pool)
        notifying = Notifying(ctx, retry_base=self._notifier_retry_base)
        checkpoints = Checkpoints(
            ctx, settings=lambda: generations.settings, config_path=self.config_path
        )

        def recorded(report: CheckReport) -> None:
            notifying.wake()
            if any(isinstance(event.event, ChangeDetected) for event in report.events):
                checkpoints.change_recorded()  # evidence of a change gets signed promptly

        checks = Checks(ctx, generations, on_events=recorded, on_report=self._on_report)
        schedule = Schedule(ctx, generations, checks, self._rng)
        discovery = Discovery(ctx, generations, schedule, on_events=notifying.wake)
        reloader = Reloader(
            ctx, self._config, generations, schedule, notifying, on_settings=self._on_settings
        )
        return _Components(
            ctx, generations, checks, schedule, notifying, checkpoints, discovery, reloader
        )

    async def _main_loop(self, reloader: Reloader) -> None:
        """Wake on a request or every poll: settle memory once, reload an edited config."""
        control = self._control
        settle_at: float | None = time.monotonic() + STARTUP_SETTLE_SECONDS
        while not control.stop.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll_interval):
                    await control.wakeup.wait()
            control.wakeup.clear()
            if control.stop.is_set():
                return
            if settle_at is not None and time.monotonic() >= settle_at:
                settle_at = None
                settle()
            changed = self._config.changed()
            if control.take_reload_request() or changed:
                try:
                    await reloader.reload()
                except Exception:
                    # The daemon outlives a bug in a reload: it keeps the configuration it has.
                    log.exception("reloading the configuration failed; keeping the previous one")

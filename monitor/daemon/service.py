"""The long-running monitor: scheduler + checks + notifier (+ web view), wired together.

One job: keep every configured source checked on time and every alert sent, for
months, through config edits and restarts, and stop cleanly. The decisions live
elsewhere (``scheduler`` says when, ``pipeline`` checks, ``notify`` follows the log);
this module owns their lifetimes and the order things happen in.

Invariants:

* start-up and shutdown go through one ``AsyncExitStack``: the store is opened
  first and closed last, after the notifier, the scheduler and every fetcher;
* a check runs with a slot of its host (``Fetcher.reserve_host``, which also waits
  out a ``Retry-After``) *before* one of the ``concurrency`` global slots, so checks
  queued behind a slow, hung or rate-limiting site hold nothing the other sites need;
  the pause is kept in the store (``monitor.store.pauses``), so a restarted daemon
  and the other workers wait it out too instead of asking the host again at once
  (with leases a check is not held for a long pause: its lease is freed, due when
  the pause ends, so the worker's claims keep serving other hosts);
* a reload (SIGHUP, or a change of the config file's mtime, size or inode seen by
  polling) applies a valid config completely — ``SourceRegistered`` /
  ``SourceUpdated`` / ``SourceRemoved`` appended, jobs added / retimed / removed, a
  new fetcher if ``[monitor]`` changed, the notifier reconfigured — or, if the new
  config is invalid, not at all: every problem is logged and the old one keeps running;
* a stop (SIGTERM/SIGINT) stops scheduling at once, drops checks still queued,
  lets checks in flight finish and gives the notifier a last pass, all within
  ``grace_period`` seconds of the signal (a second signal skips the wait), cancels
  what is left, and returns normally — the CLI exits 0;
* the notifier follows the log, so an alert for a change recorded just before a
  crash is sent after the restart; nothing here keeps alert state;
* each ``[[discover]]`` entry gets a pass every ``interval`` (counted from its last
  recorded pass, so a restart does not repeat a recent one); the sources a pass
  registers join the schedule at once, and the generation's settings include
  every discovered source (``CheckRunner.effective_settings``).

On PostgreSQL several daemons share one log (``monitor.daemon.workers``): sources are
claimed through leases (``LeaseScheduler``) instead of being scheduled locally, and
only the daemon holding the notifier lock (``Leadership``) runs the notifier, woken by
any worker's appends; on SQLite and memory stores one daemon does everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import gc
import logging
import os
import random
import signal
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from monitor.audit.checkpoint import Checkpointer
from monitor.audit.home import audit_home
from monitor.check.browser import BrowserPool
from monitor.check.fetch import RETRY_AFTER_INLINE, Fetcher
from monitor.check.netpolicy import NetworkPolicy
from monitor.check.pipeline import CheckReport, CheckRunner, render_mode
from monitor.check.pool import ExtractionPool, workers_for
from monitor.clock import Clock, utc_now
from monitor.config.parse import load_config
from monitor.config.settings import Settings
from monitor.core.projections import SourceState
from monitor.daemon.scheduler import CheckScheduler
from monitor.discover.runner import DiscoveryRunner
from monitor.errors import ConfigError, HostPausedError, MonitorError
from monitor.events import ChangeDetected, parse_time
from monitor.notify.notifier import Notifier
from monitor.store import EventStore, describe_url, open_store, url_scheme
from monitor.store.pauses import pauses_of
from monitor.store.tail import require_intact_tail

if TYPE_CHECKING:  # monitor.daemon.workers needs asyncpg, which SQLite users need not install
    from monitor.audit.service import AuditService
    from monitor.daemon.workers import Leadership, LeaseScheduler

log = logging.getLogger(__name__)

CONFIG_POLL_SECONDS = 2.0
DISCOVERY_POLL_SECONDS = 60.0  # the discovery loop looks again at least this often
STARTUP_SETTLE_SECONDS = 5.0
NOTIFIER_RESTART_SECONDS = 5.0
CHECKPOINT_STOP_SECONDS = 10.0  # the last checkpoint at a stop waits at most this long

Listen = tuple[str, int]


def release_free_memory() -> None:
    """Hand the C allocator's free pages back to the system (glibc only; else nothing).

    Freed Python objects larger than pymalloc's blocks (decoded event data, rows) leave
    glibc's heap fragmented after start-up folds every stream; trimming once returns
    ~12 MB at 10,000 sources that the daemon would otherwise hold for months.
    """
    name = ctypes.util.find_library("c")
    if name is None:
        return
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return
    trim(0)


def network_policy(settings: Settings) -> NetworkPolicy:
    m = settings.monitor
    return NetworkPolicy.from_strings(
        allow_private=m.allow_private, allow=m.allow_networks, deny=m.deny_networks
    )


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


@dataclass
class _Generation:
    """What one configuration's checks run with; retired (not closed) by a reload."""

    settings: Settings
    fetcher: Fetcher
    runner: CheckRunner
    limit: asyncio.Semaphore
    browser: BrowserPool | None = None  # only when some source needs a browser
    active: int = 0
    retired: bool = False


@dataclass(frozen=True)
class _ConfigStamp:
    mtime_ns: int
    size: int
    inode: int


@dataclass
class DaemonStatus:
    """Liveness figures for the web view's /healthz and for tests."""

    started_at: datetime | None = None
    checks: int = 0
    failures: int = 0
    last_check_at: datetime | None = None
    reloads: int = 0
    rejected_reloads: int = 0
    in_flight: int = 0
    sources: int = 0
    extra: dict[str, object] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        def when(moment: datetime | None) -> str | None:
            return moment.isoformat() if moment else None

        return {
            "daemon": "running",
            "started_at": when(self.started_at),
            "sources": self.sources,
            "checks": self.checks,
            "check_failures": self.failures,
            "checks_in_flight": self.in_flight,
            "last_check_at": when(self.last_check_at),
            "reloads": self.reloads,
            "rejected_reloads": self.rejected_reloads,
            **self.extra,
        }


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
        self.settings = settings
        self.database = database
        self.config_path = os.fspath(config_path) if config_path is not None else None
        self.environ = environ if environ is not None else os.environ
        self.web = web
        self.clock = clock
        self.status = DaemonStatus()
        self._rng = rng or random.Random()
        self._poll_interval = poll_interval
        self._handle_signals = handle_signals
        self._on_settings = on_settings
        self._on_report = on_report
        self._notifier_retry_base = notifier_retry_base
        self._stop = asyncio.Event()
        self._hurry = asyncio.Event()
        self._wakeup = asyncio.Event()
        self._reload_requested = False
        self._stopping = False
        self._stamp: _ConfigStamp | None = None
        self._store: EventStore | None = None
        self._gen: _Generation | None = None
        self._fetchers: list[Fetcher] = []
        self._browsers: list[BrowserPool] = []
        self._pool: ExtractionPool | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self._scheduler: CheckScheduler | LeaseScheduler | None = None
        self._leases: LeaseScheduler | None = None  # PostgreSQL: sources shared by leases
        self._leadership: Leadership | None = None  # PostgreSQL: who runs the notifier
        self._final_deadline: float | None = None
        self._queued: set[asyncio.Task[Any]] = set()
        self._running: set[asyncio.Task[Any]] = set()
        self._last_checked: dict[str, datetime] = {}
        self._notifier: Notifier | None = None
        self._notify_wake = asyncio.Event()
        self._notifier_stop = asyncio.Event()
        self._notifier_round = asyncio.Event()
        self._pending_notifier_settings: Settings | None = None
        self._notifier_task: asyncio.Task[None] | None = None
        self.web_url: str | None = None
        self.ready = asyncio.Event()  # set once checks are scheduled
        self._checkpointer: Checkpointer | None = None
        self._checkpoint_wake = asyncio.Event()
        self._checkpoint_task: asyncio.Task[None] | None = None
        self._discovery: DiscoveryRunner | None = None
        self._discovery_task: asyncio.Task[None] | None = None
        self._audit: AuditService | None = None  # time stamps and Save Page Now, if configured

    @property
    def shares_work(self) -> bool:
        """True on PostgreSQL: several daemons share the sources and elect one notifier."""
        return url_scheme(self.database) in ("postgresql", "postgres")

    # ------------------------------------------------------------------ control

    def request_stop(self) -> None:
        """Begin a clean stop; a second request skips the rest of the grace period."""
        if self._stop.is_set():
            if not self._hurry.is_set():
                log.warning("second stop request: cancelling what is still running")
            self._hurry.set()
        else:
            log.info("stopping: no new checks; finishing those in flight")
        self._stop.set()
        self._wakeup.set()

    def request_reload(self) -> None:
        self._reload_requested = True
        self._wakeup.set()

    # ------------------------------------------------------------------ lifetime

    async def run(self) -> None:
        """Run until a stop is requested, then stop cleanly (see the module invariants)."""
        loop = asyncio.get_running_loop()
        self.status.started_at = self.clock()
        async with contextlib.AsyncExitStack() as stack:
            if self._handle_signals:
                self._install_signals(loop)
                stack.callback(self._remove_signals, loop)
            if self._on_settings is not None:
                self._on_settings(self.settings)
            self._stamp = self._config_stamp()
            store = await stack.enter_async_context(open_store(self.database))
            await require_intact_tail(store, describe_url(self.database))
            self._store = store
            stack.push_async_callback(self._close_fetchers)
            workers = workers_for(self.settings.monitor.extract_workers)
            if workers:
                self._pool = ExtractionPool(workers)
                stack.push_async_callback(self._pool.aclose)
                log.info("reading pages in %d worker processes", workers)
            gen = self._generation(self.settings, previous=None)
            self._install(gen, previous=None)
            async with self._one_worker_at_a_time("reconcile"):
                appended = await gen.runner.reconcile()
            if appended:
                log.info("configuration recorded: %d source events", len(appended))
            self._adopt_discovered(gen)
            last = await self._last_checks_from_log(gen)
            # The web view binds before anything is scheduled: a port in use fails the
            # start-up cleanly, with no check half done.
            if self.web is not None:
                from monitor.web.app import serve

                host, port = self.web
                self.web_url = await stack.enter_async_context(
                    serve(store, self.settings, host, port, health=self.status.as_dict)
                )
            if self.shares_work:
                from monitor.daemon.workers import LeaseScheduler, lease_period_from

                leases = LeaseScheduler(
                    self._check_due,
                    store=store,
                    clock=self.clock,
                    rng=self._rng,
                    lease_period=lease_period_from(self.environ),
                    capacity=self.settings.monitor.concurrency,
                    on_claim=self._forget,
                )
                self._scheduler = self._leases = leases
                leases.start()
                stack.push_async_callback(leases.aclose)
            else:
                scheduler = CheckScheduler(self._on_due, clock=self.clock, rng=self._rng)
                self._scheduler = scheduler
                scheduler.start()
                stack.callback(scheduler.shutdown)
            self._sync_schedule(last)
            # Registered before the notifier's stop, so it runs after it: the last
            # checkpoint signs the log as the drain and the notifier left it.
            self._start_checkpoints(store)
            stack.push_async_callback(self._stop_checkpoints)
            self._start_notifier(store)
            stack.push_async_callback(self._stop_notifier_task)
            self._start_discovery()
            stack.push_async_callback(self._stop_discovery)
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
                await self._main_loop()
                stop_started = time.monotonic()
            finally:
                deadline = (stop_started or time.monotonic()) + self.settings.monitor.grace_period
                await self._drain(deadline)
        log.info("stopped")

    async def _main_loop(self) -> None:
        collect_at: float | None = time.monotonic() + STARTUP_SETTLE_SECONDS
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll_interval):
                    await self._wakeup.wait()
            self._wakeup.clear()
            if self._stop.is_set():
                return
            if collect_at is not None and time.monotonic() >= collect_at:
                # Start-up (folding every stream, the notifier's first pass) leaves cyclic
                # garbage behind; collecting it once lets those memory arenas go back to
                # the system before the daemon settles into months of running (~7 MB at
                # 10,000 sources). Later garbage is the normal collector's business.
                collect_at = None
                gc.collect()
                # What survived start-up lives as long as the daemon: keep it out of
                # the full collections that otherwise stall the loop for up to 0.5 s.
                gc.freeze()
                release_free_memory()
            changed = self._config_changed()
            if self._reload_requested or changed:
                self._reload_requested = False
                try:
                    await self.reload()
                except Exception:
                    # The daemon outlives a bug in a reload: it keeps the configuration it has.
                    log.exception("reloading the configuration failed; keeping the previous one")

    async def _drain(self, deadline: float) -> None:
        """Stop scheduling; let running checks and a last notifier pass finish by ``deadline``."""
        self._stopping = True
        if self._scheduler is not None:
            self._scheduler.pause()
        for task in list(self._queued - self._running):
            task.cancel()  # it has not started fetching: nothing is lost by dropping it
        running = set(self._running)
        if running:
            log.info(
                "waiting up to %.0fs for %d checks in flight",
                max(0.0, deadline - time.monotonic()),
                len(running),
            )
            left = await self._wait_until(running, deadline)
            if left:
                log.warning("grace period over: cancelling %d checks in flight", len(left))
                for future in left:
                    future.cancel()
        pending = list(self._queued)
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        await self._final_notifier_pass(deadline)

    async def _wait_until(
        self, tasks: Iterable[asyncio.Future[Any]], deadline: float
    ) -> set[asyncio.Future[Any]]:
        """Wait for ``tasks`` until ``deadline`` or a second stop request; returns those left."""
        left: set[asyncio.Future[Any]] = set(tasks)
        hurry = asyncio.ensure_future(self._hurry.wait())
        try:
            while left and not self._hurry.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                done, _ = await asyncio.wait(
                    left | {hurry}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                )
                left -= done
        finally:
            hurry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await hurry
        return {t for t in left if not t.done()}

    # ------------------------------------------------------------------ checks

    def _generation(self, settings: Settings, previous: _Generation | None) -> _Generation:
        """The objects ``settings`` needs; shares the fetcher while ``[monitor]`` is unchanged."""
        assert self._store is not None
        if previous is not None and previous.settings.monitor == settings.monitor:
            fetcher, limit, browser = previous.fetcher, previous.limit, previous.browser
        else:
            # The store's pause book: a Retry-After another worker (or this daemon before a
            # restart) was sent is waited out here too, holding no global slot meanwhile.
            # With leases a check waiting on a pause would hold one of this worker's
            # claims for up to an hour; it is postponed to the pause's end instead.
            fetcher = Fetcher(
                settings.monitor,
                network_policy(settings),
                pauses=pauses_of(self._store),
                max_wait=RETRY_AFTER_INLINE if self.shares_work else None,
            )
            self._fetchers.append(fetcher)
            limit = asyncio.Semaphore(settings.monitor.concurrency)
            browser = None
        templates = [d.source for d in settings.discover if d.source is not None]
        if browser is None and any(
            render_mode(s) != "http" for s in (*settings.sources, *templates)
        ):
            # Chromium itself starts only when a page first needs it.
            browser = BrowserPool(settings.monitor, network_policy(settings))
            self._browsers.append(browser)
        if previous is None:
            runner = CheckRunner(
                store=self._store,
                fetcher=fetcher,
                settings=settings,
                clock=self.clock,
                browser=browser,
                pool=self._pool,
            )
        else:
            runner = previous.runner.reconfigured(settings, fetcher, browser)
        return _Generation(
            settings=settings, fetcher=fetcher, runner=runner, limit=limit, browser=browser
        )

    def _install(self, gen: _Generation, previous: _Generation | None) -> None:
        """Make ``gen`` the one new checks use; the previous one's fetcher closes when idle."""
        self._gen = gen
        self.settings = gen.settings
        self.status.sources = len(gen.settings.sources)
        if previous is not None and previous.fetcher is not gen.fetcher:
            previous.retired = True
            self._maybe_close(previous)

    def _discard(self, gen: _Generation, previous: _Generation) -> None:
        """Forget a generation that was never installed."""
        if gen.fetcher is not previous.fetcher:
            gen.retired = True
            self._maybe_close(gen)

    async def _on_due(self, source_id: str) -> None:
        """A scheduled check (an APScheduler job body, one at a time per source)."""
        await self._check_due(source_id)

    def _one_worker_or_skip(self, purpose: str) -> contextlib.AbstractAsyncContextManager[bool]:
        """On PostgreSQL, True for the one worker that may run ``purpose`` now."""
        if not self.shares_work or self._store is None:
            return contextlib.nullcontext(True)
        from monitor.daemon.workers import exclusive_or_skip

        return exclusive_or_skip(self._store, purpose)

    def _one_worker_at_a_time(self, purpose: str) -> contextlib.AbstractAsyncContextManager[None]:
        """On PostgreSQL, one worker records a configuration at a time (``workers.exclusive``)."""
        if not self.shares_work or self._store is None:
            return contextlib.nullcontext()
        from monitor.daemon.workers import exclusive

        return exclusive(self._store, purpose)

    def _forget(self, source_id: str) -> None:
        """Another worker checked this source last: re-read its state from the log."""
        if self._gen is not None:
            self._gen.runner.forget(source_id)

    async def _check_due(self, source_id: str) -> bool | datetime:
        """Check a due source; False if it was not checked (stopping, or no longer configured).

        With leases, a source whose host asked for quiet beyond the fetcher's
        ``max_wait`` is not checked: the end of the pause is returned, and the lease
        scheduler makes the source due then.
        """
        gen = self._gen
        if self._stopping or gen is None:
            return False
        source = gen.settings.source(source_id)
        if source is None:
            return False  # removed by a reload that raced with this run
        task = asyncio.current_task()
        assert task is not None
        self._queued.add(task)
        gen.active += 1
        try:
            async with gen.fetcher.reserve_host(source.url), gen.limit:
                if self._stopping:
                    return False
                self._running.add(task)
                self.status.in_flight = len(self._running)
                report = await gen.runner.check(source)
            self._last_checked[source_id] = self.clock()
            self._record(report)
        except asyncio.CancelledError:
            if not self._stopping:
                raise
            if task in self._running:
                log.warning("check of %s cancelled: the grace period ended", source_id)
            return False
        except HostPausedError as paused:
            log.info("check of %s postponed: %s", source_id, paused)
            return paused.until
        except MonitorError as exc:
            self.status.failures += 1
            log.error("check of %s could not be recorded: %s", source_id, exc)
        except Exception:
            # A bug in one check must not kill the job (APScheduler would only log it).
            self.status.failures += 1
            log.exception("check of %s failed unexpectedly", source_id)
        finally:
            self._queued.discard(task)
            self._running.discard(task)
            self.status.in_flight = len(self._running)
            gen.active -= 1
            self._maybe_close(gen)
        return True

    def _record(self, report: CheckReport) -> None:
        self.status.checks += 1
        self.status.last_check_at = self.clock()
        if report.outcome in ("failed", "error"):
            self.status.failures += 1
        if report.events:
            self._notify_wake.set()
            if any(isinstance(event.event, ChangeDetected) for event in report.events):
                self._checkpoint_wake.set()  # evidence of a change gets signed promptly
                if self._audit is not None:
                    self._audit.change_recorded()
            log.info("%s", report.line())
        else:
            log.debug("%s", report.line())
        if self._on_report is not None:
            self._on_report(report)

    def _maybe_close(self, gen: _Generation) -> None:
        """Close a retired generation's fetcher (and browser) once its last check has finished."""
        if gen.retired and gen.active == 0 and gen.fetcher is not self._current_fetcher():
            closing = [gen.fetcher.close()]
            current_browser = None if self._gen is None else self._gen.browser
            if gen.browser is not None and gen.browser is not current_browser:
                closing.append(gen.browser.close())
            for closer in closing:
                task = asyncio.get_running_loop().create_task(closer)
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)

    def _current_fetcher(self) -> Fetcher | None:
        return None if self._gen is None else self._gen.fetcher

    async def _close_fetchers(self) -> None:
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
        for fetcher in self._fetchers:
            await fetcher.close()
        for browser in self._browsers:
            await browser.close()  # after the checks that used it: they are drained by now

    async def _last_checks_from_log(self, gen: _Generation) -> dict[str, datetime]:
        found: dict[str, datetime] = {}
        for source in gen.settings.sources:
            moment = last_check_time(await gen.runner.state(source.id))
            if moment is not None:
                found[source.id] = moment
        return found

    def _sync_schedule(self, last_checked: Mapping[str, datetime]) -> None:
        assert self._scheduler is not None and self._gen is not None
        monitor = self._gen.settings.monitor
        if self._leases is not None:
            self._leases.capacity = monitor.concurrency
        changes = self._scheduler.sync(
            self._gen.settings.sources,
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

    # ------------------------------------------------------------------ discovery

    def _adopt_discovered(self, gen: _Generation) -> None:
        """Let ``gen`` schedule and check the sources discovery registered, too."""
        gen.settings = gen.runner.effective_settings()
        if gen is self._gen:
            self.settings = gen.settings
            self.status.sources = len(gen.settings.sources)

    def _start_discovery(self) -> None:
        if self._discovery_task is None:
            self._discovery_task = asyncio.get_running_loop().create_task(self._discovery_loop())

    async def _stop_discovery(self) -> None:
        task, self._discovery_task = self._discovery_task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _discovery_loop(self) -> None:
        """Run each ``[[discover]]`` entry's pass every ``interval`` from its last recorded one."""
        due: dict[str, datetime] = {}
        while not self._stop.is_set():
            gen = self._gen
            assert gen is not None
            runner = self._discovery_runner(gen)
            entries = {entry.id: entry for entry in gen.settings.discover}
            for entry_id in list(due):
                if entry_id not in entries:
                    del due[entry_id]  # removed from the configuration by a reload
            now = self.clock()
            for entry in entries.values():
                if entry.id not in due:
                    state = await runner.state(entry.id)
                    last = parse_time(state.last_pass_at) if state.last_pass_at else None
                    due[entry.id] = (
                        now if last is None else last + timedelta(seconds=entry.interval)
                    )
            for entry in entries.values():
                if due[entry.id] > self.clock() or self._stop.is_set():
                    continue
                await self._discovery_pass(gen, runner, entry.id)
                due[entry.id] = self.clock() + timedelta(seconds=entry.interval)
            wait = DISCOVERY_POLL_SECONDS
            if due:
                wait = min(wait, (min(due.values()) - self.clock()).total_seconds())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(wait, 0.05)):
                    await self._stop.wait()

    def _discovery_runner(self, gen: _Generation) -> DiscoveryRunner:
        # One runner for the daemon's life: its listings' validators outlive reloads.
        if self._discovery is None:
            self._discovery = DiscoveryRunner(gen.runner)
        self._discovery.checks = gen.runner
        return self._discovery

    async def _discovery_pass(
        self, gen: _Generation, runner: DiscoveryRunner, entry_id: str
    ) -> None:
        entry = next((d for d in gen.settings.discover if d.id == entry_id), None)
        if entry is None:
            return
        try:
            async with self._one_worker_at_a_time("discover"):
                report = await runner.run_pass(entry)
        except MonitorError as exc:
            log.error("discovery pass of %s could not be recorded: %s", entry_id, exc)
            return
        except Exception:
            log.exception("discovery pass of %s failed unexpectedly", entry_id)
            return
        if report.events:
            log.info("%s", report.line())
        else:
            log.debug("%s", report.line())
        if report.events:
            self._notify_wake.set()
        if report.registered and self._gen is gen:
            self._adopt_discovered(gen)
            self._sync_schedule({**await self._last_checks_from_log(gen), **self._last_checked})

    # ------------------------------------------------------------------ reload

    async def reload(self) -> bool:
        """Apply the config file again; False (old config kept) when it is invalid."""
        if self.config_path is None:
            log.warning("reload requested, but this daemon was not started from a config file")
            return False
        try:
            new = load_config(self.config_path, environ=self.environ)
        except ConfigError as exc:
            self.status.rejected_reloads += 1
            log.error(
                "the edited configuration is invalid; still running the previous one. "
                "%d problem%s:\n  %s",
                len(exc.problems),
                "" if len(exc.problems) == 1 else "s",
                "\n  ".join(str(p) for p in exc.problems),
            )
            return False
        if self._on_settings is not None:
            self._on_settings(new)  # new secrets are redacted before anything can log them
        old, previous = self.settings, self._gen
        assert previous is not None
        if new.monitor.database != old.monitor.database:
            log.warning("the database setting changed; it takes effect at the next start")
        gen = self._generation(new, previous=previous)
        try:
            async with self._one_worker_at_a_time("reconcile"):
                appended = await gen.runner.reconcile()
        except MonitorError as exc:
            # Typically a check of the same source appended first; the next poll tries again.
            log.error("could not record the new configuration, will try again: %s", exc)
            self._discard(gen, previous)
            self._stamp = None
            return False
        self._adopt_discovered(gen)
        self._install(gen, previous)
        last = {**await self._last_checks_from_log(gen), **self._last_checked}
        self._sync_schedule(last)
        if (new.channels, new.rules, new.monitor, new.web) != (
            old.channels,
            old.rules,
            old.monitor,
            old.web,
        ):
            self._pending_notifier_settings = new
            self._notifier_round.set()
        self.status.reloads += 1
        log.info(
            "configuration reloaded: %d sources; %d source events recorded",
            len(new.sources),
            len(appended),
        )
        return True

    def _config_stamp(self) -> _ConfigStamp | None:
        if self.config_path is None:
            return None
        try:
            st = os.stat(self.config_path)
        except OSError:
            return None  # e.g. an editor replacing the file: look again at the next poll
        return _ConfigStamp(mtime_ns=st.st_mtime_ns, size=st.st_size, inode=st.st_ino)

    def _config_changed(self) -> bool:
        stamp = self._config_stamp()
        if stamp is None or stamp == self._stamp:
            return False
        self._stamp = stamp
        return True

    # ------------------------------------------------------------------ notifier

    def _start_checkpoints(self, store: EventStore) -> None:
        """Sign checkpoints every ``checkpoint_every`` and soon after each change.

        A key that cannot be created or read turns checkpoints off with a clear error;
        it never stops the daemon from watching pages.
        """
        home = audit_home(self.settings, self.database, config_path=self.config_path)
        try:
            signer = home.signer()
        except MonitorError as exc:
            log.error("checkpoints are off: %s", exc)
            return
        self._checkpointer = Checkpointer(store, signer, journal=home)
        self._checkpoint_task = asyncio.create_task(self._checkpoint_loop(), name="checkpoints")
        self._start_audit(store)

    def _start_audit(self, store: EventStore) -> None:
        """Trusted time stamps and Save Page Now, each in its own task (never in a check)."""
        audit = self.settings.audit
        if not (audit.timestamp_authorities or audit.wayback):
            return
        from monitor.audit.service import AuditService

        self._audit = AuditService(
            store, audit, clock=self.clock, exclusive=self._one_worker_or_skip
        )
        if self._checkpointer is not None:
            self._checkpointer.on_signed.append(self._audit.checkpoint_signed)
        self._audit.start()

    async def _checkpoint_loop(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.monitor.checkpoint_every):
                    await self._checkpoint_wake.wait()
            self._checkpoint_wake.clear()
            if not self._stop.is_set():
                await self._sign_checkpoint()

    async def _sign_checkpoint(self) -> None:
        if self._checkpointer is None:
            return
        try:
            async with self._one_worker_at_a_time("checkpoint"):
                if self._store is not None:
                    # A signature over a log altered since start-up would vouch for it.
                    await require_intact_tail(self._store, describe_url(self.database))
                signed = await self._checkpointer.checkpoint(self.clock())
        except MonitorError as exc:
            log.error("could not sign a checkpoint: %s", exc)
            return
        log.debug("checkpoint: %d events signed", signed.tree_size)

    async def _stop_checkpoints(self) -> None:
        audit, self._audit = self._audit, None
        if audit is not None:
            await audit.stop()
        task, self._checkpoint_task = self._checkpoint_task, None
        if task is None:
            return
        self._checkpoint_wake.set()
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(task, CHECKPOINT_STOP_SECONDS)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._sign_checkpoint(), CHECKPOINT_STOP_SECONDS)

    def _start_notifier(self, store: EventStore) -> None:
        if self._notifier_retry_base is None:
            self._notifier = Notifier(store, self.settings, clock=self.clock)
        else:
            self._notifier = Notifier(
                store, self.settings, clock=self.clock, retry_base=self._notifier_retry_base
            )
        if self.shares_work:
            from monitor.daemon.workers import Leadership

            self._leadership = Leadership(store, "notifier")
            self._notifier_task = asyncio.create_task(
                self._leadership.run(self._notifier_term, self._notifier_stop), name="notifier"
            )
        else:
            self._notifier_task = asyncio.create_task(self._supervise_notifier(), name="notifier")

    async def _notifier_term(self, term_over: asyncio.Event) -> None:
        """One term as the notifier of several workers (PostgreSQL; see ``Leadership``).

        Starts from the log (another worker may have sent alerts since this one last
        led), wakes on any worker's appends, ends at once if the lock is lost, and on a
        stop makes the last pass while still holding the lock, so no successor sends
        the same alerts meanwhile.
        """
        from monitor.daemon.workers import follow_log

        notifier, store = self._notifier, self._store
        assert notifier is not None and store is not None
        notifier.reconfigure(self._pending_notifier_settings or notifier.settings)
        self._pending_notifier_settings = None
        done_following = asyncio.Event()
        following = asyncio.create_task(follow_log(store, self._notify_wake, done_following))
        supervising = asyncio.create_task(self._supervise_notifier())
        lost = asyncio.ensure_future(term_over.wait())
        try:
            await asyncio.wait({supervising, lost}, return_when=asyncio.FIRST_COMPLETED)
            if term_over.is_set():
                supervising.cancel()  # another worker may lead now: stop sending at once
            with contextlib.suppress(asyncio.CancelledError):
                await supervising
            if self._notifier_stop.is_set() and not term_over.is_set():
                await self._last_notifier_pass(notifier, self._final_deadline)
        finally:
            done_following.set()
            for task in (following, lost):
                task.cancel()
            await asyncio.gather(following, lost, return_exceptions=True)

    async def _supervise_notifier(self) -> None:
        """Run the notifier; reconfigure it between rounds; restart it if it ever dies."""
        notifier = self._notifier
        assert notifier is not None
        while not self._notifier_stop.is_set():
            self._notifier_round.clear()  # before reading: a reload after this starts a new round
            pending = self._pending_notifier_settings
            if pending is not None:
                self._pending_notifier_settings = None
                notifier.reconfigure(pending)
            round_stop = asyncio.Event()
            relay = asyncio.ensure_future(self._relay_stop(round_stop))
            try:
                await notifier.run(round_stop, self._notify_wake)
            except Exception:
                log.exception("the notifier stopped unexpectedly; restarting it")
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(NOTIFIER_RESTART_SECONDS):
                        await self._notifier_stop.wait()
            finally:
                relay.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await relay

    async def _relay_stop(self, round_stop: asyncio.Event) -> None:
        """End the notifier's round on a daemon stop or a reconfiguration."""
        stop = asyncio.ensure_future(self._notifier_stop.wait())
        again = asyncio.ensure_future(self._notifier_round.wait())
        try:
            await asyncio.wait({stop, again}, return_when=asyncio.FIRST_COMPLETED)
            round_stop.set()
        finally:
            for waiter in (stop, again):
                waiter.cancel()

    async def _final_notifier_pass(self, deadline: float) -> None:
        """Stop the notifier after one more pass, so alerts of the last checks go out now."""
        task, notifier = self._notifier_task, self._notifier
        if task is None or notifier is None:
            return
        self._final_deadline = deadline
        self._notifier_stop.set()
        self._notify_wake.set()
        if await self._wait_until({task}, deadline):
            return  # still in a send at the deadline: cancelled on the way out
        if self._leadership is None:  # a leader made its last pass inside its term
            await self._last_notifier_pass(notifier, deadline)

    async def _last_notifier_pass(self, notifier: Notifier, deadline: float | None) -> None:
        if deadline is None:
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0 or self._hurry.is_set():
            return
        try:
            async with asyncio.timeout(remaining):
                await notifier.drain()
        except TimeoutError:
            log.warning(
                "grace period over during the last notifier pass; unsent alerts go out at the "
                "next start (one being sent right now may then be sent twice)"
            )
        except MonitorError as exc:
            log.error("last notifier pass failed: %s", exc)

    async def _stop_notifier_task(self) -> None:
        task = self._notifier_task
        if task is None:
            return
        self._notifier_stop.set()
        if not task.done():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    # ------------------------------------------------------------------ signals

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.add_signal_handler(signal.SIGTERM, self.request_stop)
        loop.add_signal_handler(signal.SIGINT, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, self.request_reload)

    @staticmethod
    def _remove_signals(loop: asyncio.AbstractEventLoop) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)

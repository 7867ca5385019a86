"""What one configuration's checks run with, and the handover from one to the next.

A *generation* is the fetcher, the browser pool, the global concurrency limit and the
check runner built for one ``Settings``. A reload builds a new generation and installs
it; checks already running finish with the old one.

* the fetcher (with its per-host slots and limit) is shared while ``[monitor]`` is
  unchanged, so a reload that only edits sources keeps every host's state;
* a retired generation's fetcher (and browser) closes once its last check finishes,
  never under a running check; everything left closes at the daemon's stop;
* the installed generation's settings include every source discovery registered
  (``CheckRunner.effective_settings``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from monitor.check.browser import BrowserPool
from monitor.check.fetch import RETRY_AFTER_INLINE, Fetcher
from monitor.check.netpolicy import NetworkPolicy
from monitor.check.pipeline import CheckRunner, render_mode
from monitor.check.pool import ExtractionPool
from monitor.config.settings import Settings
from monitor.daemon.context import RunContext
from monitor.store.pauses import pauses_of


def network_policy(settings: Settings) -> NetworkPolicy:
    m = settings.monitor
    return NetworkPolicy.from_strings(
        allow_private=m.allow_private, allow=m.allow_networks, deny=m.deny_networks
    )


@dataclass
class Generation:
    """What one configuration's checks run with; retired (not closed) by a reload."""

    settings: Settings
    fetcher: Fetcher
    runner: CheckRunner
    limit: asyncio.Semaphore
    browser: BrowserPool | None = None  # only when some source needs a browser
    active: int = 0
    retired: bool = False


class Generations:
    """Builds generations, keeps the installed one, and closes retired ones when idle."""

    def __init__(self, ctx: RunContext, settings: Settings, pool: ExtractionPool | None) -> None:
        self.settings = settings  # the installed generation's, discovered sources included
        self.current: Generation | None = None
        self._ctx = ctx
        self._pool = pool
        self._fetchers: list[Fetcher] = []
        self._browsers: list[BrowserPool] = []
        self._closing: set[asyncio.Task[None]] = set()

    def build(self, settings: Settings, previous: Generation | None) -> Generation:
        """The objects ``settings`` needs; shares the fetcher while ``[monitor]`` is unchanged."""
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
                pauses=pauses_of(self._ctx.store),
                max_wait=RETRY_AFTER_INLINE if self._ctx.shares_work else None,
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
                store=self._ctx.store,
                fetcher=fetcher,
                settings=settings,
                clock=self._ctx.clock,
                browser=browser,
                pool=self._pool,
            )
        else:
            runner = previous.runner.reconfigured(settings, fetcher, browser)
        return Generation(
            settings=settings, fetcher=fetcher, runner=runner, limit=limit, browser=browser
        )

    def install(self, gen: Generation, previous: Generation | None) -> None:
        """Make ``gen`` the one new checks use; the previous one's fetcher closes when idle."""
        self.current = gen
        self.settings = gen.settings
        self._ctx.status.sources = len(gen.settings.sources)
        if previous is not None and previous.fetcher is not gen.fetcher:
            previous.retired = True
            self.release(previous)

    def discard(self, gen: Generation, previous: Generation) -> None:
        """Forget a generation that was never installed."""
        if gen.fetcher is not previous.fetcher:
            gen.retired = True
            self.release(gen)

    def adopt_discovered(self, gen: Generation) -> None:
        """Let ``gen`` schedule and check the sources discovery registered, too."""
        gen.settings = gen.runner.effective_settings()
        if gen is self.current:
            self.settings = gen.settings
            self._ctx.status.sources = len(gen.settings.sources)

    def release(self, gen: Generation) -> None:
        """Close a retired generation's fetcher (and browser) once its last check has finished."""
        current = self.current
        if (
            gen.retired
            and gen.active == 0
            and (current is None or gen.fetcher is not current.fetcher)
        ):
            closing = [gen.fetcher.close()]
            current_browser = None if current is None else current.browser
            if gen.browser is not None and gen.browser is not current_browser:
                closing.append(gen.browser.close())
            for closer in closing:
                task = asyncio.get_running_loop().create_task(closer)
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)

    async def aclose(self) -> None:
        """Close every fetcher and browser this daemon made (at its stop, after the drain)."""
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
        for fetcher in self._fetchers:
            await fetcher.close()
        for browser in self._browsers:
            await browser.close()  # after the checks that used it: they are drained by now

"""Render pages in headless Chromium (Playwright): the browser edge of a check.

``BrowserPool.render(source, now=…)`` loads one page in Debian's Chromium and
returns a ``FetchResult`` whose body is the rendered DOM (plus, on request, a
full-page PNG), so a page that builds its text with JavaScript goes through the
same extraction as any other page.

Invariants a check relies on:

* every failure is a ``FetchError`` with a short stable ``kind``:
  ``browser_unavailable`` (Chromium or Playwright is not installed),
  ``browser_crash`` (the browser or the page's renderer died), ``timeout``,
  ``navigation`` (the page could not be loaded), ``http`` (an error status),
  ``tls``, ``too_large``, and the kinds of ``monitor.check.fetch`` for what the policy
  proxy refused or could not reach (``forbidden_address``, ``redirect_scheme``,
  ``dns``, ``connect``) — never a raw Playwright error;
* one browser process serves every source through at most ``size`` browser
  contexts (one page each) used one check at a time and reused, since starting
  a page's renderer is most of a check's cost; between checks the page is
  unloaded and the cookies and storage of every origin it touched are cleared,
  so each check is a first visit (a context whose check failed is closed, not
  reused, and each is replaced after ``CONTEXT_USES`` checks);
* a crashed browser is noticed and a new one launched by the next ``render``;
  the browser is also replaced (once its pages in flight finish) when the
  memory of its process tree passes ``memory_limit`` or after
  ``restart_after`` pages, so a leak cannot grow without bound;
* the network policy of ``monitor.check.fetch`` applies to every connection the page
  makes — redirects, subresources, WebSockets — because Chromium reaches the
  network only through ``monitor.check.browser_proxy``, which resolves and checks each
  host itself; schemes other than http(s) are refused by request interception,
  and service workers are blocked so that none of their requests escape it;
* a source's ``headers`` (which may hold secrets) go only to requests for the
  source's own origin, never to the third parties a page loads;
* images, fonts and media are not downloaded unless a screenshot is wanted;
* Playwright is imported only when a browser is first needed, so the package
  works without the ``[browser]`` extra for sources that never render.

Here: the pool — launching, reusing, retiring and replacing browsers and their
contexts. One page's load, wait and routing is ``browser_page``; reading the
processes' tree and memory from /proc is ``browser_process``; the policy proxy is
``browser_proxy``. Why this is one module (about 540 lines): the pool's state — the
current browser, the retired ones still finishing pages, idle contexts, the crash
and restart counts — changes in every method here, and reads best in one place.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import os
import signal
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from monitor.check.browser_page import (
    Job,
    Rendered,
    first_line,
    is_main_document,
    left_ms,
    load_page,
    route_request,
    scheme_refusal,
)
from monitor.check.browser_process import find_marked_process, is_marked, tree_memory
from monitor.check.browser_proxy import PolicyProxy
from monitor.check.netpolicy import NetworkPolicy
from monitor.config.settings import MonitorSettings, SourceSettings
from monitor.core.moves import origin
from monitor.errors import FetchError

if TYPE_CHECKING:
    from playwright.async_api import (
        Browser,
        BrowserContext,
        CDPSession,
        Page,
        Playwright,
        Request,
        Route,
    )

log = logging.getLogger(__name__)

CHROMIUM_PATH = "/usr/bin/chromium"
# Headless, no GPU, and no background traffic: a closed network refuses Chromium's
# own connections (updates, sync, field trials), which would otherwise slow every start.
# --no-sandbox: Debian's Chromium cannot set up its sandbox as root or in most
# containers; run the monitor as an unprivileged user (see docs/browser.md).
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-breakpad",
    "--dns-prefetch-disable",
    # WebRTC's UDP would bypass the policy proxy; with no proxied UDP it sends none.
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
)
INSTALL_HINT = (
    "install Chromium (apt-get install chromium) and Playwright "
    "(pip install 'policy-monitor[browser]'); Playwright's own browser download is not needed"
)
IDLE_CAP = 5.0  # seconds to wait for a page without `select` to go quiet
LAUNCH_TIMEOUT = 30.0
CLOSE_TIMEOUT = 10.0
CONTEXT_USES = 50  # checks per browser context before a fresh one replaces it
MEMORY_CHECK_SECONDS = 2.0
VIEWPORT_WIDTH, VIEWPORT_HEIGHT = 1280, 800


def unavailable_reason(executable: str = CHROMIUM_PATH) -> str | None:
    """Why no browser can be launched here (with how to fix it), or None when one can."""
    missing = []
    if importlib.util.find_spec("playwright") is None:
        missing.append("the Python package playwright is not installed")
    if not os.access(executable, os.X_OK):
        missing.append(f"{executable} is not an executable file")
    if not missing:
        return None
    return f"no browser for rendering: {' and '.join(missing)}; {INSTALL_HINT}"


# --------------------------------------------------------------------------- the pool


@dataclass(eq=False)
class _Slot:
    """A browser context with one page, reused check after check (one at a time)."""

    context: BrowserContext
    page: Page
    cdp: CDPSession
    pooled: bool = True
    uses: int = 0
    job: Job | None = None


@dataclass(eq=False)
class _Instance:
    """One launched browser process and what the pool knows about it."""

    browser: Browser
    pid: int | None
    marker: str
    pages: int = 0
    active: int = 0
    retired: bool = False
    crashed: bool = False
    memory: int = 0
    memory_checked: float = 0.0  # monotonic time of the last measurement
    idle: list[_Slot] = field(default_factory=list)  # contexts waiting for the next check


class BrowserPool:
    """A shared headless Chromium for every source; use as an async context manager.

    Chromium is launched on the first ``render`` (a pool that is never asked to
    render costs nothing) and replaced when it crashes or grows; ``close`` ends
    it and the Playwright driver.
    """

    def __init__(
        self,
        settings: MonitorSettings,
        policy: NetworkPolicy | None = None,
        *,
        size: int | None = None,
        executable: str = CHROMIUM_PATH,
        memory_limit: int | None = None,
        restart_after: int | None = None,
        idle_cap: float = IDLE_CAP,
        memory_check_every: float = MEMORY_CHECK_SECONDS,
    ) -> None:
        # Unset limits come from [monitor] browser_pages / browser_memory / browser_restart_after.
        size = settings.browser_pages if size is None else size
        memory_limit = settings.browser_memory if memory_limit is None else memory_limit
        restart_after = settings.browser_restart_after if restart_after is None else restart_after
        if size < 1:
            raise ValueError("a browser pool needs at least one page slot")
        self.settings = settings
        self.policy = policy or NetworkPolicy()
        self.size = size
        self.executable = executable
        self.memory_limit = memory_limit
        self.restart_after = restart_after
        self.idle_cap = idle_cap
        self.memory_check_every = memory_check_every  # seconds between /proc readings
        self.launches = 0
        self.restarts = 0  # replacements for memory or page count (crashes not included)
        self.crashes = 0
        self.pages = 0
        self.peak_memory = 0
        self._slots = asyncio.Semaphore(size)
        self._launch_lock = asyncio.Lock()
        self._playwright: Playwright | None = None
        self._current: _Instance | None = None
        self._instances: list[_Instance] = []  # every instance not yet closed
        self._closing: set[asyncio.Task[None]] = set()
        self._proxy = PolicyProxy(self.policy, connect_timeout=float(settings.timeout))
        self._closed = False

    async def __aenter__(self) -> BrowserPool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def browser_pid(self) -> int | None:
        """The pid of the running browser's main process, if one is running."""
        current = self._current
        if current is None or current.crashed or current.retired:
            return None
        return current.pid

    @property
    def browser_pages(self) -> int:
        """Pages the running browser has rendered (it is replaced at ``restart_after``)."""
        current = self._current
        return 0 if current is None else current.pages

    def memory(self) -> int:
        """Bytes used now by the process trees of every browser this pool has running."""
        return sum(tree_memory(i.pid) for i in self._instances if i.pid is not None)

    # ----------------------------------------------------------------- render

    async def render(
        self, source: SourceSettings, *, now: datetime, screenshot: bool = False
    ) -> Rendered:
        """Load ``source.url`` in the browser; raises ``FetchError`` (see the module docstring)."""
        if self._closed:
            raise FetchError("browser_unavailable", "the browser pool has been closed")
        reason = unavailable_reason(self.executable)
        if reason is not None:
            raise FetchError("browser_unavailable", reason)
        timeout_s = source.timeout or self.settings.timeout
        async with self._slots:
            instance = await self._instance()
            instance.active += 1
            started = time.monotonic()
            slot: _Slot | None = None
            try:
                async with asyncio.timeout(timeout_s):
                    slot = await self._slot(instance, insecure=not source.verify_tls)
                    rendered = await self._render(slot, source, now, screenshot, started)
                await self._release(instance, slot)
                return rendered
            except TimeoutError:
                if instance.crashed:
                    raise self._crash_error(source) from None
                raise FetchError(
                    "timeout",
                    f"the page at {source.url} did not finish loading within {timeout_s}s "
                    "in the browser",
                ) from None
            except FetchError:
                raise
            except Exception as exc:
                raise self._translate(exc, instance, source) from exc
            finally:
                if slot is not None and slot.job is not None:
                    # The page failed or ran out of time in an unknown state: not reused.
                    await self._close_context(slot.context)
                instance.active -= 1
                instance.pages += 1
                self.pages += 1
                await self._after_page(instance)

    async def _slot(self, instance: _Instance, *, insecure: bool) -> _Slot:
        """An idle context of ``instance`` (or a new one). Insecure ones are never pooled."""
        if not insecure and instance.idle:
            return instance.idle.pop()
        context = await instance.browser.new_context(
            user_agent=self.settings.user_agent,
            ignore_https_errors=insecure,
            service_workers="block",
            viewport={"width": VIEWPORT_WIDTH, "height": VIEWPORT_HEIGHT},
            device_scale_factor=1,
            accept_downloads=False,
        )
        try:
            page = await context.new_page()
            slot = _Slot(
                context=context,
                page=page,
                cdp=await context.new_cdp_session(page),
                pooled=not insecure,
            )

            async def route(route: Route, request: Request) -> None:
                await route_request(route, request, slot.job)

            def requested(request: Request) -> None:
                if slot.job is not None and is_main_document(request):
                    slot.job.documents.append(request.url)

            await context.route("**/*", route)
            page.on("request", requested)
        except BaseException:
            await self._close_context(context)
            raise
        return slot

    async def _release(self, instance: _Instance, slot: _Slot) -> None:
        """Forget everything the page left behind, then keep the context for the next check.

        Reusing a context saves starting a renderer process, most of a check's
        CPU time; clearing cookies and every origin's storage keeps each check a
        first visit, as with a fresh context. (The HTTP cache is off: Playwright
        disables it for contexts with request interception.)
        """
        job, slot.job = slot.job, None
        slot.uses += 1
        keep = (
            slot.pooled
            and slot.uses < CONTEXT_USES
            and instance is self._current
            and not instance.crashed
        )
        if keep:
            try:
                async with asyncio.timeout(CLOSE_TIMEOUT):
                    await slot.page.goto("about:blank")  # stops the page's scripts and sockets
                    await slot.context.clear_cookies()
                    for site in sorted(job.origins if job is not None else ()):
                        await slot.cdp.send(
                            "Storage.clearDataForOrigin",
                            {"origin": site, "storageTypes": "all"},
                        )
            except Exception as exc:
                log.debug("browser context not reusable: %s", first_line(exc))
                keep = False
        if keep:
            instance.idle.append(slot)
        else:
            await self._close_context(slot.context)

    async def _render(
        self,
        slot: _Slot,
        source: SourceSettings,
        now: datetime,
        screenshot: bool,
        started: float,
    ) -> Rendered:
        deadline = started + (source.timeout or self.settings.timeout)
        job = slot.job = Job(
            block=not screenshot,
            headers=dict(source.headers),
            origin=origin(source.url),
        )
        slot.context.set_default_timeout(left_ms(deadline))
        return await load_page(
            slot.page,
            job,
            source,
            now,
            screenshot=screenshot,
            started=started,
            deadline=deadline,
            idle_cap=self.idle_cap,
            max_bytes=source.max_bytes or self.settings.max_bytes,
            proxy_problem=self._proxy_problem,
        )

    async def _close_context(self, context: BrowserContext) -> None:
        # A dead browser can make close() hang or fail; the check's outcome is already decided.
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await context.close()

    def _proxy_problem(self, urls: list[str], since: float) -> FetchError | None:
        """Why the policy proxy failed one of ``urls`` during this render, if it did."""
        for url in reversed(urls):  # the last hop is the one that failed
            refusal = scheme_refusal(url)
            if refusal is not None:
                return refusal
            problem = self._proxy.problem(urlsplit(url).hostname or "", since)
            if problem is not None:
                return FetchError(problem.kind, f"{url}: {problem.message}")
        return None

    # ----------------------------------------------------------------- lifetime

    async def _instance(self) -> _Instance:
        async with self._launch_lock:
            current = self._current
            if current is not None and not current.crashed and current.browser.is_connected():
                return current
            if current is not None:
                if not current.crashed:
                    current.crashed = True
                    self.crashes += 1
                self._retire(current)
            if self._closed:
                raise FetchError("browser_unavailable", "the browser pool has been closed")
            self._current = await self._launch()
            return self._current

    async def _launch(self) -> _Instance:
        from playwright.async_api import async_playwright

        marker = f"--policy-monitor-browser={os.getpid()}-{id(self):x}-{self.launches}"
        self.launches += 1
        try:
            proxy = await self._proxy.start()
            if self._playwright is None:
                self._playwright = await async_playwright().start()
            browser = await self._playwright.chromium.launch(
                executable_path=self.executable,
                headless=True,
                args=[*CHROMIUM_FLAGS, marker],
                # Playwright adds "<-loopback>": even loopback goes through the proxy.
                proxy={"server": proxy},
                timeout=LAUNCH_TIMEOUT * 1000,
                # The daemon handles signals itself and closes the browser in order.
                handle_sigint=False,
                handle_sigterm=False,
                handle_sighup=False,
            )
        except Exception as exc:
            await self._stop_playwright()  # a broken driver is started afresh next time
            raise FetchError(
                "browser_unavailable",
                f"Chromium could not be started from {self.executable}: "
                f"{first_line(exc)}; {INSTALL_HINT}",
            ) from exc
        instance = _Instance(browser=browser, pid=find_marked_process(marker), marker=marker)

        def disconnected(_: Browser) -> None:
            if not instance.retired and not self._closed and not instance.crashed:
                instance.crashed = True
                self.crashes += 1
                log.warning("the browser (pid %s) exited unexpectedly", instance.pid)

        browser.on("disconnected", disconnected)
        self._instances.append(instance)
        log.info("browser started: %s, pid %s", browser.version, instance.pid)
        return instance

    async def _after_page(self, instance: _Instance) -> None:
        """Replace the browser when it has grown too big or old; close retired ones when idle."""
        if instance is self._current and not instance.crashed:
            reason = None
            if instance.pages >= self.restart_after:
                reason = f"it rendered {instance.pages} pages"
            elif (
                instance.pid is not None
                and time.monotonic() - instance.memory_checked >= self.memory_check_every
            ):
                instance.memory_checked = time.monotonic()
                # Reading /proc for a dozen processes takes tens of milliseconds.
                instance.memory = await asyncio.to_thread(tree_memory, instance.pid)
                self.peak_memory = max(self.peak_memory, instance.memory)
                if instance.memory > self.memory_limit:
                    reason = (
                        f"its processes use {instance.memory // 2**20} MiB "
                        f"(limit {self.memory_limit // 2**20} MiB)"
                    )
            if reason is not None and instance is self._current:
                log.info("replacing the browser (pid %s): %s", instance.pid, reason)
                self.restarts += 1
                self._retire(instance)
                return
        if instance.retired and instance.active == 0:
            self._close_later(instance)

    def _retire(self, instance: _Instance) -> None:
        """Stop giving ``instance`` new pages; close it once its pages in flight are done."""
        instance.retired = True
        if instance is self._current:
            self._current = None
        if instance.active == 0:
            self._close_later(instance)

    def _close_later(self, instance: _Instance) -> None:
        if instance not in self._instances:
            return
        self._instances.remove(instance)
        task = asyncio.get_running_loop().create_task(self._close_instance(instance))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _close_instance(self, instance: _Instance) -> None:
        instance.retired = True
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await instance.browser.close()
        except Exception as exc:
            log.debug("closing browser pid %s: %s", instance.pid, exc)
        # A browser that would not close in time is ended the hard way (if the pid
        # still is that browser: a pid can be reused once its process is gone).
        if instance.pid is not None and is_marked(instance.pid, instance.marker):
            with contextlib.suppress(OSError):
                os.kill(instance.pid, signal.SIGKILL)

    async def _stop_playwright(self) -> None:
        playwright, self._playwright = self._playwright, None
        if playwright is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(CLOSE_TIMEOUT):
                    await playwright.stop()

    async def close(self) -> None:
        """Close every browser and the Playwright driver; later renders fail."""
        self._closed = True
        self._current = None
        instances, self._instances = self._instances, []
        await asyncio.gather(*(self._close_instance(i) for i in instances))
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
        await self._stop_playwright()
        await self._proxy.close()

    # ----------------------------------------------------------------- errors

    def _crash_error(self, source: SourceSettings) -> FetchError:
        return FetchError(
            "browser_crash",
            f"the browser exited while loading {source.url}; a new one starts with the next check",
        )

    def _translate(self, exc: Exception, instance: _Instance, source: SourceSettings) -> FetchError:
        from playwright.async_api import TimeoutError as PlaywrightTimeout

        if instance.crashed or not instance.browser.is_connected():
            if not instance.crashed:
                instance.crashed = True
                self.crashes += 1
            return self._crash_error(source)
        message = first_line(exc)
        if isinstance(exc, PlaywrightTimeout):
            return FetchError("timeout", f"{source.url}: {message}")
        if "net::ERR_CERT_" in message or "net::ERR_SSL_" in message:
            return FetchError("tls", f"TLS with {source.url} failed in the browser: {message}")
        if "crash" in message.lower():
            # The page's renderer died (out of memory, a Chromium bug): only this page is lost.
            return FetchError("browser_crash", f"the page renderer crashed on {source.url}")
        return FetchError("navigation", f"the browser could not load {source.url}: {message}")

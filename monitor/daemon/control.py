"""What the daemon is asked from outside: stop, hurry, reload — by signals or by callers.

One job: turn SIGTERM/SIGINT/SIGHUP (or ``request_stop``/``request_reload``) into the
events the components wait on, so none of them knows about signals.

* a first stop request sets ``stop``: no new checks, those in flight may finish;
* a second one also sets ``hurry``: whatever still waits for the grace period stops
  waiting (``wait_until`` returns at once);
* a reload request is a flag the main loop takes on its next turn; both requests
  set ``wakeup`` so that turn comes at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Iterable
from typing import Any

from monitor.daemon.status import log


class Control:
    """The stop, hurry and reload requests, and the signal handlers that make them."""

    def __init__(self) -> None:
        self.stop = asyncio.Event()
        self.hurry = asyncio.Event()
        self.wakeup = asyncio.Event()
        self.reload_requested = False

    def request_stop(self) -> None:
        """Begin a clean stop; a second request skips the rest of the grace period."""
        if self.stop.is_set():
            if not self.hurry.is_set():
                log.warning("second stop request: cancelling what is still running")
            self.hurry.set()
        else:
            log.info("stopping: no new checks; finishing those in flight")
        self.stop.set()
        self.wakeup.set()

    def request_reload(self) -> None:
        self.reload_requested = True
        self.wakeup.set()

    def take_reload_request(self) -> bool:
        """True once for each reload requested since the last call."""
        requested, self.reload_requested = self.reload_requested, False
        return requested

    def install_signals(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.add_signal_handler(signal.SIGTERM, self.request_stop)
        loop.add_signal_handler(signal.SIGINT, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, self.request_reload)

    @staticmethod
    def remove_signals(loop: asyncio.AbstractEventLoop) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)

    async def wait_until(
        self, tasks: Iterable[asyncio.Future[Any]], deadline: float
    ) -> set[asyncio.Future[Any]]:
        """Wait for ``tasks`` until ``deadline`` or a second stop request; returns those left."""
        left: set[asyncio.Future[Any]] = set(tasks)
        hurry = asyncio.ensure_future(self.hurry.wait())
        try:
            while left and not self.hurry.is_set():
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

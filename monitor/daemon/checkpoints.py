"""The daemon's audit tasks: signed checkpoints, trusted time stamps, Save Page Now.

* a checkpoint is signed every ``checkpoint_every`` seconds and soon after each
  recorded change, so evidence of a change is vouched for promptly;
* a checkpoint is signed only over an intact log (``require_intact_tail``): a
  signature over a log altered since start-up would vouch for the alteration;
* a key that cannot be created or read turns checkpoints off with a clear error; it
  never stops the daemon from watching pages;
* time stamps and Save Page Now (``[audit]``) run in their own task, never inside a
  check;
* at the stop the audit tasks end first, then one last checkpoint signs the log as
  the drain and the notifier left it (each wait bounded by ``CHECKPOINT_STOP_SECONDS``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from monitor.audit.checkpoint import Checkpointer
from monitor.audit.home import audit_home
from monitor.config.settings import Settings
from monitor.daemon.context import RunContext
from monitor.daemon.status import log
from monitor.errors import MonitorError
from monitor.store import describe_url
from monitor.store.tail import require_intact_tail

if TYPE_CHECKING:
    from monitor.audit.service import AuditService

CHECKPOINT_STOP_SECONDS = 10.0  # the last checkpoint at a stop waits at most this long


class Checkpoints:
    """Signs checkpoints of the log and runs the configured audit services."""

    def __init__(
        self, ctx: RunContext, *, settings: Callable[[], Settings], config_path: str | None
    ) -> None:
        self._ctx = ctx
        self._settings = settings  # the installed configuration's, which a reload replaces
        self._config_path = config_path
        self._checkpointer: Checkpointer | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._audit: AuditService | None = None  # time stamps and Save Page Now, if configured

    def start(self) -> None:
        """Sign checkpoints every ``checkpoint_every`` and soon after each change.

        A key that cannot be created or read turns checkpoints off with a clear error;
        it never stops the daemon from watching pages.
        """
        home = audit_home(self._settings(), self._ctx.database, config_path=self._config_path)
        try:
            signer = home.signer()
        except MonitorError as exc:
            log.error("checkpoints are off: %s", exc)
            return
        self._checkpointer = Checkpointer(self._ctx.store, signer, journal=home)
        self._task = asyncio.create_task(self._loop(), name="checkpoints")
        self._start_audit()

    def _start_audit(self) -> None:
        """Trusted time stamps and Save Page Now, each in its own task (never in a check)."""
        audit = self._settings().audit
        if not (audit.timestamp_authorities or audit.wayback):
            return
        from monitor.audit.service import AuditService

        ctx = self._ctx
        self._audit = AuditService(
            ctx.store, audit, clock=ctx.clock, exclusive=ctx.one_worker_or_skip
        )
        if self._checkpointer is not None:
            self._checkpointer.on_signed.append(self._audit.checkpoint_signed)
        self._audit.start()

    def change_recorded(self) -> None:
        """A check recorded a change: sign its evidence promptly, and stamp it if configured."""
        self._wake.set()
        if self._audit is not None:
            self._audit.change_recorded()

    async def _loop(self) -> None:
        stop = self._ctx.control.stop
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._settings().monitor.checkpoint_every):
                    await self._wake.wait()
            self._wake.clear()
            if not stop.is_set():
                await self._sign()

    async def _sign(self) -> None:
        if self._checkpointer is None:
            return
        ctx = self._ctx
        try:
            async with ctx.one_worker_at_a_time("checkpoint"):
                # A signature over a log altered since start-up would vouch for it.
                await require_intact_tail(ctx.store, describe_url(ctx.database))
                signed = await self._checkpointer.checkpoint(ctx.clock())
        except MonitorError as exc:
            log.error("could not sign a checkpoint: %s", exc)
            return
        log.debug("checkpoint: %d events signed", signed.tree_size)

    async def stop(self) -> None:
        audit, self._audit = self._audit, None
        if audit is not None:
            await audit.stop()
        task, self._task = self._task, None
        if task is None:
            return
        self._wake.set()
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(task, CHECKPOINT_STOP_SECONDS)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._sign(), CHECKPOINT_STOP_SECONDS)

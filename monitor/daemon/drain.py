"""A clean stop: what happens between the stop signal and the daemon's exit stack.

Within ``grace_period`` seconds of the signal (a second signal skips the wait):
scheduling stops at once, checks still queued for a slot are dropped (they fetched
nothing, so nothing is lost), checks in flight finish or are cancelled at the
deadline, and the notifier makes a last pass so the alerts of the last checks go out
now. The exit stack then closes the rest in the reverse order it was opened.
"""

from __future__ import annotations

import asyncio
import time

from monitor.daemon.checking import Checks
from monitor.daemon.control import Control
from monitor.daemon.notifying import Notifying
from monitor.daemon.scheduling import Schedule
from monitor.daemon.status import log


async def drain(
    deadline: float,
    *,
    control: Control,
    schedule: Schedule,
    checks: Checks,
    notifying: Notifying,
) -> None:
    """Stop scheduling; let running checks and a last notifier pass finish by ``deadline``."""
    checks.stopping = True
    schedule.pause()
    for task in list(checks.queued - checks.running):
        task.cancel()  # it has not started fetching: nothing is lost by dropping it
    running = set(checks.running)
    if running:
        log.info(
            "waiting up to %.0fs for %d checks in flight",
            max(0.0, deadline - time.monotonic()),
            len(running),
        )
        left = await control.wait_until(running, deadline)
        if left:
            log.warning("grace period over: cancelling %d checks in flight", len(left))
            for future in left:
                future.cancel()
    pending = list(checks.queued)
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)
    await notifying.final_pass(deadline)

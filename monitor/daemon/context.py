"""What the components of one run share, and the turns workers take when they share a log.

A run's components all use the same store, clock, stop and reload requests
(``Control``) and health figures (``DaemonStatus``); ``RunContext`` carries them, so
each component's constructor names only what is its own.

On PostgreSQL several ``monitor run`` workers share one log (``monitor.daemon.workers``):
recording a configuration, signing a checkpoint or running a discovery pass is done by
one worker at a time, and an audit task by whichever worker gets to it first. On SQLite
and memory stores one daemon does everything and these turns cost nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass

from monitor.clock import Clock
from monitor.daemon.control import Control
from monitor.daemon.status import DaemonStatus
from monitor.daemon.workers import exclusive, exclusive_or_skip
from monitor.store import EventStore, url_scheme


def shares_work(database: str) -> bool:
    """True on PostgreSQL: several daemons share the sources and elect one notifier."""
    return url_scheme(database) in ("postgresql", "postgres")


@dataclass(frozen=True)
class RunContext:
    """One run's store and surroundings, handed to each of its components."""

    store: EventStore
    database: str
    clock: Clock
    control: Control
    status: DaemonStatus
    environ: Mapping[str, str]

    @property
    def shares_work(self) -> bool:
        return shares_work(self.database)

    def one_worker_or_skip(self, purpose: str) -> contextlib.AbstractAsyncContextManager[bool]:
        """On PostgreSQL, True for the one worker that may run ``purpose`` now."""
        if not self.shares_work:
            return contextlib.nullcontext(True)
        return exclusive_or_skip(self.store, purpose)

    def one_worker_at_a_time(self, purpose: str) -> contextlib.AbstractAsyncContextManager[None]:
        """On PostgreSQL, one worker records a configuration at a time (``workers.exclusive``)."""
        if not self.shares_work:
            return contextlib.nullcontext()
        return exclusive(self.store, purpose)

"""Whether this daemon shares its log with other workers, and the turns they then take.

On PostgreSQL several ``monitor run`` workers share one log (``monitor.daemon.workers``):
recording a configuration, signing a checkpoint or running a discovery pass is done by
one worker at a time, and an audit task by whichever worker gets to it first. On SQLite
and memory stores one daemon does everything and these turns cost nothing.
"""

from __future__ import annotations

import contextlib

from monitor.store import EventStore, url_scheme


def shares_work(database: str) -> bool:
    """True on PostgreSQL: several daemons share the sources and elect one notifier."""
    return url_scheme(database) in ("postgresql", "postgres")


class WorkerTurns:
    """The cross-worker locks of one daemon's store (no-ops when it works alone)."""

    def __init__(self, store: EventStore, *, shared: bool) -> None:
        self.store = store
        self.shared = shared

    def one_worker_or_skip(self, purpose: str) -> contextlib.AbstractAsyncContextManager[bool]:
        """On PostgreSQL, True for the one worker that may run ``purpose`` now."""
        if not self.shared:
            return contextlib.nullcontext(True)
        from monitor.daemon.workers import exclusive_or_skip

        return exclusive_or_skip(self.store, purpose)

    def one_worker_at_a_time(self, purpose: str) -> contextlib.AbstractAsyncContextManager[None]:
        """On PostgreSQL, one worker records a configuration at a time (``workers.exclusive``)."""
        if not self.shared:
            return contextlib.nullcontext()
        from monitor.daemon.workers import exclusive

        return exclusive(self.store, purpose)

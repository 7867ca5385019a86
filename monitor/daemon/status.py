"""What the daemon tells its operator: the health figures and the one logger it logs under.

``DaemonStatus`` is the daemon's liveness, served by the web view's ``/healthz`` and read
by tests; components update it as they work. ``log`` is the logger every component of
the daemon writes to: the daemon was one module, and operators filter its lines by that
module's name (``monitor.daemon.service``), so the split into components keeps it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

log = logging.getLogger("monitor.daemon.service")


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

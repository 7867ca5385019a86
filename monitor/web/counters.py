"""Totals the read model derives from the log for ``/metrics``: counts and a duration histogram."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

# Upper bounds (milliseconds) of the check-duration histogram buckets.
DURATION_BUCKETS_MS: tuple[int, ...] = (50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000)


@dataclass
class Histogram:
    """Cumulative-bucket histogram of check durations, in milliseconds."""

    buckets: tuple[int, ...] = DURATION_BUCKETS_MS
    counts: list[int] = field(default_factory=lambda: [0] * len(DURATION_BUCKETS_MS))
    count: int = 0
    total_ms: int = 0

    def observe(self, ms: int) -> None:
        self.count += 1
        self.total_ms += ms
        for index, bound in enumerate(self.buckets):
            if ms <= bound:
                self.counts[index] += 1


@dataclass
class Counters:
    """Totals derived from the log, for ``/metrics``."""

    events: Counter[str] = field(default_factory=Counter)
    checks: Counter[str] = field(default_factory=Counter)
    fetch_failures: Counter[str] = field(default_factory=Counter)
    changes: Counter[str] = field(default_factory=Counter)
    changes_by_severity: Counter[str] = field(default_factory=Counter)
    notifications: Counter[tuple[str, str]] = field(default_factory=Counter)  # (outcome, channel)
    durations: Histogram = field(default_factory=Histogram)
    unreadable: int = 0
    # Third parties vouching for the log: (outcome, TSA url) and (outcome, archive).
    timestamps: Counter[tuple[str, str]] = field(default_factory=Counter)
    third_party: Counter[tuple[str, str]] = field(default_factory=Counter)

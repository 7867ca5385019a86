"""What the web view's read model holds per source, capture, timeline line, change and alert.

Frozen values (``SourceView`` aside, which the fold extends) that the pages, feeds
and API read; ``monitor.web.model.ReadModel`` builds them from the log. Only small
summaries: a page reads full event data from the store by ``seq``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from monitor.core.projections import SourceState

STATUSES = ("ok", "failing", "suspect", "new", "removed", "gone")


@dataclass(frozen=True, kw_only=True)
class GoodCapture:
    """A baseline or change: a text the source had from ``recorded_at`` on."""

    seq: int
    kind: str  # "baseline" | "change"
    recorded_at: str
    fetched_at: str
    text_sha256: str
    raw_sha256: str
    screenshot_sha256: str = ""  # "" when the source takes no screenshots


@dataclass(frozen=True, kw_only=True)
class TimelineEntry:
    """One line of a source's timeline."""

    seq: int
    type: str
    recorded_at: str
    headline: str
    detail: str = ""
    severity: str | None = None
    change_seq: int | None = None  # the change this entry is (or notifies) about


@dataclass(frozen=True, kw_only=True)
class ChangeRecord:
    """What lists, filters and feeds need about one ``ChangeDetected``."""

    seq: int
    event_id: str
    source_id: str
    recorded_at: str
    fetched_at: str
    classification: str
    severity: str
    rules: tuple[str, ...]
    summary: str
    stats: Mapping[str, int]
    text_sha256: str
    previous: str
    search_text: str  # casefolded summary, matched sentences and changed blocks
    silent: bool = False  # a quiet class (volatile, dated, chrome): shown folded, not in feeds


@dataclass(frozen=True, kw_only=True)
class NotificationRecord:
    """A delivery attempt of an alert about event ``for_seq``."""

    seq: int
    recorded_at: str
    sent: bool
    channel: str
    attempt: int
    error: str = ""
    final: bool = False


@dataclass
class SourceView:
    """One source as the web view shows it."""

    source_id: str
    state: SourceState
    captures: list[GoodCapture] = field(default_factory=list)
    timeline: list[TimelineEntry] = field(default_factory=list)
    change_seqs: list[int] = field(default_factory=list)
    last_check_at: str | None = None

    @property
    def settings(self) -> Mapping[str, Any]:
        return self.state.settings

    @property
    def company(self) -> str:
        return str(self.settings.get("company") or "")

    @property
    def title(self) -> str:
        return str(self.settings.get("title") or self.source_id)

    @property
    def url(self) -> str:
        return str(self.settings.get("url") or "")

    @property
    def tags(self) -> tuple[str, ...]:
        tags = self.settings.get("tags") or ()
        return tuple(str(t) for t in tags) if isinstance(tags, list | tuple) else ()

    @property
    def status(self) -> str:
        return self.state.status

    def capture_at(self, at: str | None) -> GoodCapture | None:
        """The good capture current at ``at`` (a formatted UTC time; None: the latest)."""
        found = None
        for capture in self.captures:
            if at is not None and capture.recorded_at > at:
                break
            found = capture
        return found

"""The figures projection: a fold of one source's log into what its report published when. Pure.

``fold_history(events)`` reads a source stream's events in seq order (others are
ignored): the figures settings (``SourceRegistered`` / ``SourceUpdated``), every
good capture (``BaselineCaptured`` / ``ChangeDetected``: the raw body holds the
table), and the facts (``FiguresPublished`` / ``Restated`` / ``Withdrawn``). It
is the only source of what ``monitor figures``, the API and the web chart show,
so a replay of the log (or a copy of it) shows exactly the same figures.
``until`` (a formatted time) folds only the events recorded by then: what the
monitor knew at that time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from monitor.config.settings import FiguresSettings
from monitor.events import StoredEvent

Key = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CaptureMark:
    """A good capture: where the table of that moment is."""

    seq: int
    type: str  # BaselineCaptured | ChangeDetected
    recorded_at: str
    fetched_at: str
    raw_sha256: str
    content_type: str | None


@dataclass(frozen=True, slots=True)
class Restated:
    """One recorded restatement of a figure."""

    seq: int
    change_seq: int
    recorded_at: str
    column: str
    old: str
    new: str


@dataclass(frozen=True, slots=True)
class Withdrawn:
    seq: int
    change_seq: int
    recorded_at: str
    values: dict[str, str]


@dataclass
class FiguresHistory:
    """What the log says about one source's figures."""

    source_id: str
    settings: dict[str, Any] = field(default_factory=dict)  # the source's recorded settings
    captures: list[CaptureMark] = field(default_factory=list)
    published: dict[str, int] = field(default_factory=dict)  # period → change_seq
    restated: dict[tuple[Key, str], list[Restated]] = field(default_factory=dict)
    withdrawn: dict[tuple[Key, str], Withdrawn] = field(default_factory=dict)
    last_seq: int = 0

    @property
    def figures(self) -> FiguresSettings | None:
        raw = self.settings.get("figures")
        return FiguresSettings.from_dict(raw) if isinstance(raw, dict) else None

    def capture(self, seq: int) -> CaptureMark | None:
        return next((c for c in self.captures if c.seq == seq), None)

    @property
    def current(self) -> CaptureMark | None:
        return self.captures[-1] if self.captures else None


def apply_event(history: FiguresHistory, event: StoredEvent) -> None:
    """Fold one event of the source's stream into ``history``."""
    data = event.data
    kind = event.type
    history.last_seq = event.seq
    if kind in ("SourceRegistered", "SourceUpdated"):
        history.settings = dict(data.get("settings") or {})
    elif kind in ("BaselineCaptured", "ChangeDetected"):
        capture = data["capture"]
        history.captures.append(
            CaptureMark(
                seq=event.seq,
                type=kind,
                recorded_at=event.recorded_at,
                fetched_at=str(capture.get("fetched_at") or event.recorded_at),
                raw_sha256=str(capture["raw_sha256"]),
                content_type=(capture.get("headers") or {}).get("content-type"),
            )
        )
    elif kind == "FiguresPublished":
        history.published.setdefault(str(data["period"]), int(data["change_seq"]))
    elif kind == "FiguresRestated":
        row = (tuple(data["key"]), str(data["period"]))
        history.restated.setdefault(row, []).append(
            Restated(
                seq=event.seq,
                change_seq=int(data["change_seq"]),
                recorded_at=event.recorded_at,
                column=str(data["column"]),
                old=str(data["old"]),
                new=str(data["new"]),
            )
        )
        history.withdrawn.pop(row, None)  # back in the report
    elif kind == "FiguresWithdrawn":
        row = (tuple(data["key"]), str(data["period"]))
        history.withdrawn[row] = Withdrawn(
            seq=event.seq,
            change_seq=int(data["change_seq"]),
            recorded_at=event.recorded_at,
            values={str(k): str(v) for k, v in (data.get("values") or {}).items()},
        )


def describe_fact(kind: str, data: dict[str, Any]) -> tuple[str, str]:
    """A figures event in words: (headline, detail), for timelines and ``monitor log``."""
    row = " · ".join([*map(str, data.get("key") or ()), str(data.get("period", ""))])
    if kind == "FiguresPublished":
        return f"Figures published: {data.get('period', '')}", f"{data.get('rows', 0)} rows"
    if kind == "FiguresRestated":
        old, new = data.get("old") or "not reported", data.get("new") or "not reported"
        return f"Figure restated: {row}", f"{data.get('column', '')}: {old} → {new}"
    values = data.get("values") or {}
    shown = "; ".join(f"{k}: {v}" for k, v in values.items() if v)
    return f"Figures withdrawn: {row}", shown


def fold_history(
    source_id: str, events: Iterable[StoredEvent], *, until: str | None = None
) -> FiguresHistory:
    """The figures projection of ``source_id`` from its events (recorded by ``until``)."""
    history = FiguresHistory(source_id=source_id)
    for event in events:
        if event.stream != source_id:
            continue
        if until is not None and event.recorded_at > until:
            break  # recorded_at never decreases along the log
        apply_event(history, event)
    return history

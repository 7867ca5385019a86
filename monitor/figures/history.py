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
from monitor.events import (
    BaselineCaptured,
    ChangeDetected,
    FiguresPublished,
    FiguresRestated,
    FiguresWithdrawn,
    SourceRegistered,
    SourceUpdated,
    StoredEvent,
)

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


def apply_event(history: FiguresHistory, stored: StoredEvent) -> None:
    """Fold one event of the source's stream into ``history``."""
    history.last_seq = stored.seq
    match stored.event:
        case SourceRegistered(settings=settings) | SourceUpdated(settings=settings):
            history.settings = dict(settings)
        case BaselineCaptured(capture=capture) | ChangeDetected(capture=capture):
            history.captures.append(
                CaptureMark(
                    seq=stored.seq,
                    type=stored.type,
                    recorded_at=stored.recorded_at,
                    fetched_at=capture.fetched_at or stored.recorded_at,
                    raw_sha256=capture.raw_sha256,
                    content_type=capture.headers.get("content-type"),
                )
            )
        case FiguresPublished() as fact:
            history.published.setdefault(fact.period, fact.change_seq)
        case FiguresRestated() as fact:
            row = (tuple(fact.key), fact.period)
            history.restated.setdefault(row, []).append(
                Restated(
                    seq=stored.seq,
                    change_seq=fact.change_seq,
                    recorded_at=stored.recorded_at,
                    column=fact.column,
                    old=fact.old,
                    new=fact.new,
                )
            )
            history.withdrawn.pop(row, None)  # back in the report
        case FiguresWithdrawn() as fact:
            row = (tuple(fact.key), fact.period)
            history.withdrawn[row] = Withdrawn(
                seq=stored.seq,
                change_seq=fact.change_seq,
                recorded_at=stored.recorded_at,
                values={str(k): str(v) for k, v in fact.values.items()},
            )


FiguresFact = FiguresPublished | FiguresRestated | FiguresWithdrawn


def describe_fact(fact: FiguresFact) -> tuple[str, str]:
    """A figures event in words: (headline, detail), for timelines and ``monitor log``."""
    if isinstance(fact, FiguresPublished):
        return f"Figures published: {fact.period}", f"{fact.rows} rows"
    row = " · ".join([*map(str, fact.key), fact.period])
    if isinstance(fact, FiguresRestated):
        old, new = fact.old or "not reported", fact.new or "not reported"
        return f"Figure restated: {row}", f"{fact.column}: {old} → {new}"
    shown = "; ".join(f"{k}: {v}" for k, v in fact.values.items() if v)
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

"""Pure folds over the event log: what the monitor knows about each source.

``apply(state, event)`` is the only way state changes, so the live state and a
replay of the log are the same function of the same events. Nothing here does
I/O; texts are referred to by their blob hashes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar, cast

from monitor.events import (
    FETCH_DEFERRED,
    BaselineCaptured,
    Capture,
    ChangeDetected,
    ChangePending,
    ContentConfirmed,
    ContentSuspect,
    FetchFailed,
    SourceGone,
    SourceMoved,
    SourceRecovered,
    SourceRegistered,
    SourceRemoved,
    SourceUpdated,
    StoredEvent,
    VolatilityLearned,
    VolatilityUnlearned,
)

GONE_STATUSES = (404, 410)  # answers that say a page is not there (rather than failing)


@dataclass(frozen=True, kw_only=True, slots=True)
class CaptureRef:
    """The last good capture of a source, by hash."""

    text_sha256: str
    raw_sha256: str
    fetched_at: str
    seen_until: str  # the last time this text was seen (a capture or a confirmation)
    seq: int
    etag: str | None = None
    last_modified: str | None = None
    extractor: str = ""
    extraction_key: str = ""  # extractor version + the source settings that shape the text
    text_chars: int = 0
    words_sha256: str = ""  # hash of the text's words without layout ("" in older captures)
    chrome: tuple[tuple[int, int], ...] = ()  # line ranges of page chrome (monitor.noise)


@dataclass(frozen=True, kw_only=True, slots=True)
class PendingChange:
    """A new text seen on ``seen`` consecutive checks, not yet on the ``confirm`` needed."""

    text_sha256: str
    words_sha256: str | None  # layout variants of the text count as the same text
    seen: int
    since: str  # when it was first seen


@dataclass(frozen=True, kw_only=True, slots=True)
class LearnedRegion:
    """A block learned as volatile for a source (``VolatilityLearned``)."""

    region: str
    before: str
    after: str
    example: str
    since: str  # when it was learned
    quiet: int = 0  # checks since then on which it did not change (as the log tells)


@dataclass(frozen=True, kw_only=True, slots=True)
class SourceState:
    """Everything the check pipeline needs to decide about the next capture of one source."""

    source_id: str
    version: int = 0  # stream version: the expected version of the next append
    registered: bool = False
    removed: bool = False
    settings: Mapping[str, Any] = field(default_factory=dict)
    last_good: CaptureRef | None = None
    # Text hashes of every good capture so far, and the words hashes of those captures
    # (those that have one), sorted: tuples, not sets, so that the state stays plain JSON
    # data for ``monitor replay --json`` — and small: a daemon holds one per source.
    known_texts: tuple[str, ...] = ()
    known_words: tuple[str, ...] = ()
    suspect_text: str | None = None  # text hash of the current suspect capture, if any
    suspect_since: str | None = None  # when that suspect text was first recorded
    consecutive_failures: int = 0
    failing_since: str | None = None
    last_event_at: str | None = None
    last_change_at: str | None = None
    last_change_seq: int | None = None
    changes: int = 0
    suspects: int = 0
    failures: int = 0
    pending: PendingChange | None = None  # a new text waiting for confirmation
    moved_to: str | None = None  # where the document lives since its last SourceMoved
    discovered_by: str | None = None  # the [[discover]] entry that registered the source
    canonical: str = ""  # the <link rel="canonical"> of the last good capture

    def current_url(self, configured: str) -> str:
        """The URL to check: the configured one, unless the document moved since."""
        return self.moved_to or configured

    # Learned volatility (monitor.noise.learned): the learned regions, and the region the
    # last consecutive changes were confined to with their count.
    learned: tuple[LearnedRegion, ...] = ()
    streak: tuple[str, int] | None = None
    # Removals: consecutive 404/410 answers so far, and since when the page is gone
    # (a SourceGone was recorded; a SourceRecovered or a good capture clears it).
    consecutive_gone: int = 0
    gone_since: str | None = None

    @property
    def status(self) -> str:
        if self.removed:
            return "removed"
        if self.gone_since is not None:
            return "gone"
        if self.consecutive_failures:
            return "failing"
        if self.suspect_text is not None:
            return "suspect"
        if self.last_good is None:
            return "new"
        return "ok"


def _capture_ref(capture: Capture, seq: int, when: str) -> CaptureRef:
    headers = capture.headers
    return CaptureRef(
        text_sha256=capture.text_sha256,
        raw_sha256=capture.raw_sha256,
        fetched_at=capture.fetched_at or when,
        seen_until=capture.fetched_at or when,
        seq=seq,
        etag=headers.get("etag"),
        last_modified=headers.get("last-modified"),
        extractor=capture.extractor,
        extraction_key=capture.extraction_key,
        text_chars=capture.text_chars,
        words_sha256=capture.words_sha256 or "",
        chrome=_shared_chrome(tuple((int(a), int(b)) for a, b in capture.chrome)),
    )


# Pages built from one template have the same chrome lines: one tuple for all of them (a
# daemon keeps one per source). Bounded: past this many shapes, tuples are kept as made.
_CHROMES: dict[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]] = {}
_CHROME_SHAPES = 4096


def _shared_chrome(chrome: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
    shared = _CHROMES.get(chrome)
    if shared is not None:
        return shared
    if len(_CHROMES) < _CHROME_SHAPES:
        _CHROMES[chrome] = chrome
    return chrome


def _with(known: tuple[str, ...], item: str, *, empty: bool = False) -> tuple[str, ...]:
    """``known`` with ``item`` (sorted); an empty ``item`` only if ``empty``."""
    if (not item and not empty) or item in known:
        return known
    return tuple(sorted((*known, item)))


_Frozen = TypeVar("_Frozen", "SourceState", "CaptureRef", "LearnedRegion")


def _evolver(cls: type[_Frozen]) -> Callable[[_Frozen, dict[str, Any]], _Frozen]:
    """A ``dataclasses.replace`` for ``cls`` that does not re-run ``__init__``.

    The fold runs once per event on replay, and the daemon keeps one state per source:
    the classes have slots (a state in a quarter of the memory of one with a
    ``__dict__``), and this function, written out for the class's fields, sets each
    slot through its descriptor — about three times as fast as ``replace``. Only for
    this module's own dataclasses, whose fields have no ``__post_init__`` to skip.
    """
    names = [f.name for f in fields(cls)]
    scope: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    lines = ["def evolve(state, changes):", "    new = _new(_cls)"]
    for i, name in enumerate(names):
        scope[f"_set{i}"] = getattr(cls, name).__set__  # the slot's member descriptor
        lines.append(
            f"    _set{i}(new, changes[{name!r}] if {name!r} in changes else state.{name})"
        )
    lines.append("    return new")
    exec("\n".join(lines), scope)  # the code is built above from field names only
    return cast(Callable[[_Frozen, dict[str, Any]], _Frozen], scope["evolve"])


_EVOLVERS: dict[type, Callable[[Any, dict[str, Any]], Any]] = {}


def _evolve(state: _Frozen, **changes: Any) -> _Frozen:
    """``state`` with ``changes`` (see ``_evolver``)."""
    cls = type(state)
    evolve = _EVOLVERS.get(cls)
    if evolve is None:
        evolve = _EVOLVERS[cls] = _evolver(cls)
    return cast(_Frozen, evolve(state, changes))


def apply(state: SourceState, stored: StoredEvent) -> SourceState:
    """The state after ``stored`` (an event of this source's stream).

    Reads the typed event (``stored.event``: upcast to the current schema of its type),
    so an upcaster that renames a field reaches the live state and replay alike.
    """
    common: dict[str, Any] = {"version": stored.version, "last_event_at": stored.recorded_at}
    match stored.event:
        case SourceRegistered() as e:
            return _evolve(
                state,
                registered=True,
                removed=False,
                settings=e.settings,
                moved_to=None,
                discovered_by=e.discovered_by,
                **common,
            )
        case SourceUpdated() as e:
            moved_to = state.moved_to
            if e.settings.get("url") != state.settings.get("url"):
                moved_to = None  # a URL edited in the config overrides where a move led
            # Learned regions were learned under the old settings: forget them.
            return _evolve(
                state, settings=e.settings, moved_to=moved_to, learned=(), streak=None, **common
            )
        case SourceMoved() as e:
            canonical = e.to_url if e.how == "canonical" else state.canonical
            return _evolve(state, moved_to=e.to_url, canonical=canonical, **common)
        case SourceRemoved():
            return _evolve(state, removed=True, **common)
        case BaselineCaptured() | ChangeDetected() as e:
            ref = _capture_ref(e.capture, stored.seq, stored.recorded_at)
            changed = isinstance(e, ChangeDetected)
            noise = (
                _noise_after_change(state, e)
                if isinstance(e, ChangeDetected)
                else {"learned": (), "streak": None}
            )
            return _evolve(
                state,
                last_good=ref,
                canonical=e.capture.canonical,
                known_texts=_with(state.known_texts, ref.text_sha256, empty=True),
                known_words=_with(state.known_words, ref.words_sha256),
                suspect_text=None,
                suspect_since=None,
                consecutive_failures=0,
                failing_since=None,
                changes=state.changes + (1 if changed else 0),
                last_change_at=stored.recorded_at if changed else state.last_change_at,
                last_change_seq=stored.seq if changed else state.last_change_seq,
                pending=None,
                consecutive_gone=0,
                gone_since=None,
                **noise,
                **common,
            )
        case ChangePending() as e:
            since = e.capture.fetched_at or stored.recorded_at
            if e.seen > 1 and state.pending is not None:
                since = state.pending.since  # the same text again: it was first seen back then
            pending = PendingChange(
                text_sha256=e.text_sha256,
                words_sha256=e.capture.words_sha256,
                seen=e.seen,
                since=since,
            )
            return _evolve(
                state,
                pending=pending,
                suspect_text=None,
                suspect_since=None,
                consecutive_failures=0,
                failing_since=None,
                **common,
            )
        case VolatilityLearned() | VolatilityUnlearned() as e:
            return _evolve(state, **_learning(state, e, stored.recorded_at), **common)
        case ContentConfirmed() as e:
            last = state.last_good
            if last is not None and last.text_sha256 == e.text_sha256:
                last = _evolve(last, seen_until=e.fetched_at)
            # The last good text was seen again: a change waiting for confirmation was a flicker.
            return _evolve(
                state,
                last_good=last,
                suspect_text=None,
                suspect_since=None,
                consecutive_failures=0,
                failing_since=None,
                pending=None,
                learned=_quiet(state.learned, e.checks_since_last_event),
                streak=None,
                **common,
            )
        case ContentSuspect() as e:
            return _evolve(
                state,
                suspect_text=e.capture.text_sha256,
                suspect_since=stored.recorded_at,
                consecutive_failures=0,
                consecutive_gone=0,
                failing_since=None,
                suspects=state.suspects + 1,
                **common,
            )
        case FetchFailed(error=error) if error == FETCH_DEFERRED:
            # Its host asked for quiet and nothing was sent: no failure of the source.
            return _evolve(state, **common)
        case FetchFailed() as e:
            gone = e.status in GONE_STATUSES
            return _evolve(
                state,
                consecutive_gone=state.consecutive_gone + 1 if gone else 0,
                consecutive_failures=state.consecutive_failures + 1,
                failing_since=state.failing_since or e.fetched_at or stored.recorded_at,
                failures=state.failures + 1,
                **common,
            )
        case SourceRecovered():
            return _evolve(
                state,
                consecutive_failures=0,
                failing_since=None,
                consecutive_gone=0,
                gone_since=None,
                **common,
            )
        case SourceGone() as e:
            return _evolve(state, gone_since=e.since or stored.recorded_at, **common)
    # Notifications, and types of a later version, leave the detection state alone.
    return _evolve(state, **common)


def _quiet(learned: tuple[LearnedRegion, ...], checks: int) -> tuple[LearnedRegion, ...]:
    if not learned:
        return learned
    return tuple(_evolve(r, quiet=r.quiet + checks) for r in learned)


def _noise_after_change(state: SourceState, change: ChangeDetected) -> dict[str, Any]:
    """Learned regions and streak after a ``ChangeDetected``."""
    region = change.region
    learned = tuple(
        _evolve(r, quiet=0) if r.region == region else _evolve(r, quiet=r.quiet + 1)
        for r in state.learned
    )
    streak_count = change.region_streak
    streak = (region, streak_count) if region and streak_count else None
    return {"learned": learned, "streak": streak}


def _learning(
    state: SourceState, event: VolatilityLearned | VolatilityUnlearned, when: str
) -> dict[str, Any]:
    kept = tuple(r for r in state.learned if r.region != event.region)
    if isinstance(event, VolatilityUnlearned):
        return {"learned": kept}
    region = LearnedRegion(
        region=event.region,
        before=event.before,
        after=event.after,
        example=event.example,
        since=when,
    )
    return {"learned": (*kept, region), "streak": None}


def fold(source_id: str, events: Iterable[StoredEvent]) -> SourceState:
    state = SourceState(source_id=source_id)
    for event in events:
        state = apply(state, event)
    return state


def replay(events: Iterable[StoredEvent]) -> dict[str, SourceState]:
    """Every source's state from the whole log (system streams are skipped)."""
    states: dict[str, SourceState] = {}
    for event in events:
        if event.stream.startswith("$"):
            continue
        current = states.get(event.stream) or SourceState(source_id=event.stream)
        states[event.stream] = apply(current, event)
    return states


def state_digest(states: dict[str, SourceState]) -> str:
    """A stable hash of a set of states, to compare a replay with the live projection."""
    rows = []
    for source_id in sorted(states):
        s = states[source_id]
        row: list[Any] = [
            source_id,
            s.version,
            s.status,
            s.last_good.text_sha256 if s.last_good else None,
            s.last_good.seen_until if s.last_good else None,
            sorted(s.known_texts),
            s.consecutive_failures,
            s.changes,
            s.suspects,
            s.failures,
            s.last_change_seq,
        ]
        if s.pending is not None:
            # Only when a change is pending, so digests of logs without one never change.
            row.append([s.pending.text_sha256, s.pending.seen, s.pending.since])
        if s.moved_to is not None:
            # Likewise only for a moved source: digests of logs without moves stay put.
            row.append(["moved_to", s.moved_to])
        if s.gone_since is not None:
            row.append(["gone", s.gone_since])  # likewise only for a page that is gone
        rows.append(row)
    blob = json.dumps(rows, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()

"""Run one check of one source: load state → observe → decide → record.

The shell around the pure core. ``observe`` looks at the page (fetch, browser or
parts) and ``capture`` turns what it saw into a capture; here the state is loaded,
``classify.decide`` is asked, and the events are recorded. The order of writes is
what makes a crash harmless: blobs first (content-addressed, idempotent), then the
events that name them in one atomic batch with deterministic ids and an expected
stream version. A check interrupted at any point is simply redone.

A source with ``screenshot = true`` is always loaded in the browser, so its
picture and its text come from the same load. The capture records which one
was used (``renderer``) and names the screenshot blob (``screenshot_sha256``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from monitor.audit.identity import certificate_blob
from monitor.check.capture import (
    ReadCaptured,
    ScreenshotCaptured,
    extraction_key,
    plain_text_suffices,
    render_mode,
)
from monitor.check.fetch import Fetcher
from monitor.check.observe import Observer
from monitor.check.parts import PartsCaptured
from monitor.check.reader import LastText, PageReader, SameTextMemo
from monitor.check.report import CheckReport, report_of
from monitor.check.statecache import compact
from monitor.clock import utc_now
from monitor.config.settings import Settings, SourceSettings
from monitor.core.classify import Captured, Outcome, decide
from monitor.core.moves import (
    off_site_move,
    permanent_target,
    safe_move,
    same_site,
)
from monitor.core.projections import SourceState, apply, fold
from monitor.core.reconcile import reconcile
from monitor.core.rules import CompiledRule, compile_rules
from monitor.core.suspect import lands_on_wall
from monitor.desk.story_detector import StoryDetector
from monitor.discover.sources import with_discovered
from monitor.errors import (
    BlobMissingError,
    ConcurrencyError,
    HostPausedError,
    MonitorError,
)
from monitor.events import (
    CONFIGURATION_EVENTS,
    ChangeDetected,
    ContentSuspect,
    Event,
    NewEvent,
    SourceMoved,
    StoredEvent,
    names,
)
from monitor.gcpause import Paused
from monitor.store import EventStore

if TYPE_CHECKING:
    # Loaded when used: the browser by whoever starts one, the pool by the daemon, the
    # figures by the first figures source.
    from monitor.check.browser import BrowserPool
    from monitor.check.pool import ExtractionPool
    from monitor.figures.runner import FiguresCache

__all__ = [
    "CheckReport",
    "CheckRunner",
    "at_current_url",
    "extraction_key",
    "plain_text_suffices",
    "render_mode",
    "with_move",
]

log = logging.getLogger(__name__)


@dataclass
class CheckRunner:
    """Checks sources against one store with one fetcher; keeps a cache of source states."""

    store: EventStore
    fetcher: Fetcher
    settings: Settings
    clock: Callable[[], datetime] = utc_now
    rules: tuple[CompiledRule, ...] = ()
    browser: BrowserPool | None = None  # needed by sources whose render is not "http"
    stories: StoryDetector | None = None  # records StoryDetected after changes that match rules
    # Decide "same text" from a fingerprint of the page's tree (extract.fingerprint)
    # before reading it; False reads every page (records the same; for comparison).
    fast_path: bool = True
    # Worker processes that read pages (the daemon's, sized to the machine); None: here.
    pool: ExtractionPool | None = None
    # States kept compact (check.statecache) for as long as a daemon runs; a one-pass
    # check exits first, so it keeps them as folded (same content, less CPU).
    compact_states: bool = True
    _states: dict[str, SourceState] = field(default_factory=dict)
    # After ``reconcile(checking=…)``: every stream's state as its configuration events
    # make it (``_configuration_view``), while ``_states`` holds the checked ones only.
    _registrations: dict[str, SourceState] | None = None
    _unchanged_checks: dict[str, int] = field(default_factory=dict)
    # Servers' leaf certificates by sha256, stored as blobs with the captures naming them.
    _certificates: dict[str, bytes] = field(default_factory=dict)
    _figures: FiguresCache | None = None  # made for the first figures source (_figures_of)
    _reader: PageReader | None = None
    _observer: Observer = field(init=False)

    def __post_init__(self) -> None:
        if not self.rules:
            self.rules = compile_rules(self.settings.rules)
        if self._reader is None:
            self._reader = PageReader(SameTextMemo(self.store), self.pool)
        if self.stories is None:
            self.stories = StoryDetector(self.settings.stories)
        # The observer sees pages with this runner's fetcher, browser and reader, and
        # leaves the servers' certificates where _store_blobs finds them.
        self._observer = Observer(
            self.store, self.fetcher, self.settings, self.clock, self._reader,
            self.browser, self.fast_path, self._certificates,
        )  # fmt: skip

    async def state(self, source_id: str) -> SourceState:
        cached = self._states.get(source_id)
        if cached is not None:
            return cached
        state = self._compact(fold(source_id, await self.store.read(stream=source_id)))
        self._states[source_id] = state
        return state

    def _compact(self, state: SourceState) -> SourceState:
        return compact(state) if self.compact_states else state

    def _figures_of(self) -> FiguresCache:
        """The figures cache, made (and ``figures.runner`` loaded) when first needed."""
        if self._figures is None:
            from monitor.figures.runner import FiguresCache

            self._figures = FiguresCache()
        return self._figures

    def forget(self, source_id: str) -> None:
        """Drop a cached state (another writer appended to its stream)."""
        self._states.pop(source_id, None)

    def reconfigured(
        self,
        settings: Settings,
        fetcher: Fetcher | None = None,
        browser: BrowserPool | None = None,
    ) -> CheckRunner:
        """A runner for reloaded settings that shares this one's state cache.

        The cache is a fold of the log, which a reload does not change, so the
        daemon need not re-read every stream after each edit of ``sources.toml``.
        """
        return CheckRunner(
            store=self.store,
            fetcher=fetcher or self.fetcher,
            settings=settings,
            clock=self.clock,
            browser=browser or self.browser,
            stories=self._reconfigured_stories(settings),
            fast_path=self.fast_path,
            pool=self.pool,
            _states=self._states,
            _registrations=self._registrations,
            _unchanged_checks=self._unchanged_checks,
            _figures=self._figures_of(),  # one cache for the runners of every reload
            _reader=self._reader,
        )

    def _reconfigured_stories(self, settings: Settings) -> StoryDetector | None:
        if self.stories is not None:
            self.stories.reconfigure(settings.stories)
        return self.stories

    async def _detect_stories(self, stored: Sequence[StoredEvent]) -> None:
        """After a change that matched a rule: does it make (or grow) a story?"""
        if self.stories is None or not any(
            isinstance(e.event, ChangeDetected) and e.event.rules for e in stored
        ):
            return
        try:
            await self.stories.run(self.store, self.clock())
        except MonitorError as exc:  # the change is recorded; the next one retries the story
            log.error("story detection failed: %s", exc)

    async def _with_documents(
        self, source: SourceSettings, state: SourceState, outcome: Outcome, events: list[Event]
    ) -> list[Event]:
        """A change of an HTML page that does not watch links records the document links
        (PDFs, reports …) it added or removed, read from the two raw captures."""
        change = next((e for e in events if isinstance(e, ChangeDetected)), None)
        last = state.last_good
        if (
            change is None
            or source.watch_links
            or last is None
            or not isinstance(outcome, Captured)
            or change.capture.format != "html"
        ):
            return events
        try:
            old_body = await self.store.get_blob(last.raw_sha256)
        except BlobMissingError:
            return events
        capture = change.capture
        content_type = capture.headers.get("content-type")
        from monitor.desk.links import document_links, documents_diff  # for changes only

        base = capture.final_url or source.url  # one base: only links differ
        old, new = await asyncio.to_thread(
            lambda: (
                document_links(old_body, content_type, base),
                document_links(outcome.body, content_type, base),
            )
        )
        found = documents_diff(old, new)
        if found is None:
            return events
        recorded = replace(change, diff={**change.diff, "documents": found})
        return [recorded if e is change else e for e in events]

    async def reconcile(self, *, checking: Collection[str] | None = None) -> list[StoredEvent]:
        """Record config changes (registered / updated / removed sources) in the log.

        One scan of the log loads every source's state (not one query per source), and
        every decision goes into one atomic batch, so starting with 10,000 sources
        costs one transaction, and a crash leaves the config either recorded or not.

        ``checking``: the only sources this runner will check (``monitor check ID…``).
        Then the scan reads the configuration's events alone (registrations, updates,
        removals: all that deciding needs), and a checked source's state is folded
        when it is checked — unless the configuration changed, which is recorded
        from the whole fold as without it.
        """
        if checking is not None and not self._states:
            view = await self._configuration_view()
            if not reconcile(view, with_discovered(self.settings, view).sources):
                self._registrations = view
                return []
        self._registrations = None
        for _ in range(3):
            try:
                return await self._reconcile_once()
            except ConcurrencyError:
                # Another worker recorded config or checks meanwhile: reload and decide again.
                self._states.clear()
        return await self._reconcile_once()

    async def _configuration_view(self) -> dict[str, SourceState]:
        """Every source stream's state as its configuration events alone make it.

        Registered, removed, settings and ``discovered_by`` are as the whole fold has
        them; the version and everything a check reads are not (``state`` folds those).
        """
        view: dict[str, SourceState] = {}
        await self._fold_log(view, types=names(CONFIGURATION_EVENTS))
        for sid in await self.store.streams():  # streams with no configuration event too
            if not sid.startswith("$"):
                view.setdefault(sid, SourceState(source_id=sid))
        return view

    async def _fold_log(self, states: dict[str, SourceState], **filters: Any) -> None:
        """Fold the log's source events (``filters`` as ``iterate`` takes them) into ``states``."""
        # States kept as long as the runner, and no garbage to look for (monitor.gcpause).
        with Paused():
            async for event in self.store.iterate(**filters):
                if not event.stream.startswith("$"):
                    current = states.get(event.stream) or SourceState(source_id=event.stream)
                    states[event.stream] = apply(current, event)

    async def _reconcile_once(self) -> list[StoredEvent]:
        folded = not self._states
        if folded:
            await self._fold_log(self._states)
        states = {
            sid: await self.state(sid)
            for sid in await self.store.streams()
            if not sid.startswith("$")
        }
        # Sources a [[discover]] entry registered are configured through it, not removed.
        decisions = reconcile(states, with_discovered(self.settings, states).sources)
        # Compacted once compared: comparing compact settings costs more.
        if folded and self.compact_states:
            compacted = (compact(state) for state in self._states.values())
            self._states = {state.source_id: state for state in compacted}  # interned ids
        batch: list[NewEvent] = []
        for decision in decisions:
            batch += NewEvent.after(decision.stream, decision.expected, decision.events)
        if not batch:
            return []
        stored = await self.store.append(batch, expected={d.stream: d.expected for d in decisions})
        self._fold_in(stored)
        return stored

    def _configured(self) -> Mapping[str, SourceState]:
        """Every source stream's state as far as the configuration goes."""
        return self._states if self._registrations is None else self._registrations

    def effective_settings(self) -> Settings:
        """The settings with the sources discovery registered (after ``reconcile``)."""
        return with_discovered(self.settings, self._configured())

    def absorb(self, stored: Sequence[StoredEvent]) -> None:
        """Fold events another writer of this process (discovery) appended into the cache."""
        self._fold_in(stored)

    def known_streams(self) -> set[str]:
        """Every source stream this runner has folded (ids a new source must not reuse)."""
        return set(self._configured()) | set(self._states)

    async def check(
        self, source: SourceSettings, *, attempts: int = 1, known: Outcome | None = None
    ) -> CheckReport:
        """One check of ``source``; never raises for a page problem (those become events).

        ``known``: the outcome is already decided (a deferral), nothing is fetched.
        """
        configured = source
        if source.figures is not None:
            await self._figures_of().catch_up(self, source)
        for _ in range(3):
            state = await self.state(source.id)
            source = at_current_url(configured, state)
            outcome = known or await self._observer.observe(source, state, attempts)
            old_text_missing = False
            try:
                old_text = await self._old_text(state, outcome)
            except BlobMissingError as exc:
                # Recorded by decide() as a suspect capture plus a new reference.
                log.error("check %s cannot diff against its last good text: %s", source.id, exc)
                old_text, old_text_missing = None, True
            figures = None
            if source.figures is not None:
                figures = await self._figures_of().compare(self, source, state, outcome)
            now = self.clock()
            events = decide(
                state,
                outcome,
                source=source,
                rules=self.rules,
                now=now,
                old_text=old_text,
                confirm_every=self.settings.monitor.confirm_every,
                checks_since_event=self._unchanged_checks.get(source.id, 0) + 1,
                old_text_missing=old_text_missing,
                figure_matches=figures.matches if figures is not None else (),
                gone_after=source.gone_after or self.settings.monitor.gone_after,
            )
            if isinstance(outcome, Captured) and not source.urls:
                events = with_move(
                    state, outcome, events, source.url, sends_headers=bool(source.headers)
                )
            events = await self._with_documents(source, state, outcome, events)
            await self._store_blobs(outcome, events)
            try:
                stored = await self._append(source.id, state.version, tuple(events))
            except ConcurrencyError:
                # Another process checked this source meanwhile: decide again on fresh state.
                self.forget(source.id)
                continue
            if figures is not None:
                stored += await self._figures_of().record(self, source.id, stored, figures)
            if stored:
                self._unchanged_checks[source.id] = 0
                await self._detect_stories(stored)
            else:
                self._unchanged_checks[source.id] = self._unchanged_checks.get(source.id, 0) + 1
            if isinstance(outcome, ReadCaptured):
                await self._remember_text(source.id, outcome)
            return report_of(source.id, outcome, stored)
        raise ConcurrencyError(source.id, -1, -1)

    async def defer(self, source: SourceSettings, paused: HostPausedError) -> CheckReport:
        """Record that ``source`` was not asked: its host wants quiet until ``paused.until``.

        A ``FetchFailed`` of kind ``deferred`` (no failure in a row, no alert), so the log
        shows that the check was due and why it was not made.
        """
        return await self.check(source, known=self._observer.failed(source, paused, 1))

    @property
    def _capture(self) -> Callable[..., Awaitable[Captured]]:
        """The observer's ``capture`` of an answer already fetched (tests build on it)."""
        return self._observer.capture

    async def _remember_text(self, source_id: str, outcome: ReadCaptured) -> None:
        """Record the page's fingerprint with its text if that text is the last good one.

        Then the next check of a page with this fingerprint — whatever its bytes —
        finds the same text without reading it.
        """
        last = (await self.state(source_id)).last_good
        text = LastText(str(outcome.capture["extraction_key"]), outcome.capture["text_sha256"])
        if last is None or LastText(last.extraction_key, last.text_sha256) != text:
            return
        assert self._reader is not None
        await self._reader.memo.remember(source_id, outcome.fingerprint, text)

    async def _old_text(self, state: SourceState, outcome: Outcome) -> str | None:
        last = state.last_good
        if not isinstance(outcome, Captured) or last is None:
            return None
        if outcome.capture["text_sha256"] == last.text_sha256:
            return None
        return (await self.store.get_blob(last.text_sha256)).decode("utf-8")

    async def _store_blobs(self, outcome: Outcome, events: Sequence[Event]) -> None:
        """Blobs go in before the events that name them."""
        if not isinstance(outcome, Captured):
            return
        if not any(hasattr(e, "capture") for e in events):
            return
        raw_sha = await self.store.put_blob(outcome.body)
        text_sha = await self.store.put_blob(outcome.text.encode("utf-8"))
        certificate = certificate_blob(outcome.capture.get("server"))
        if certificate is not None and certificate in self._certificates:
            await self.store.put_blob(self._certificates[certificate])
        if (raw_sha, text_sha) != (outcome.capture["raw_sha256"], outcome.capture["text_sha256"]):
            raise AssertionError("blob hashes disagree with the capture")  # a bug, not a page
        if isinstance(outcome, PartsCaptured):
            for body, part in zip(outcome.parts, outcome.capture["parts"], strict=True):
                if await self.store.put_blob(body) != part["raw_sha256"]:
                    raise AssertionError("a part's blob hash disagrees with the capture")
        if isinstance(outcome, ScreenshotCaptured):
            shot_sha = await self.store.put_blob(outcome.screenshot)
            if shot_sha != outcome.capture["screenshot_sha256"]:
                raise AssertionError("screenshot hash disagrees with the capture")

    async def _append(
        self, stream: str, expected: int, events: Sequence[Event]
    ) -> list[StoredEvent]:
        if not events:
            return []
        stored = await self.store.append(
            NewEvent.after(stream, expected, events), expected={stream: expected}
        )
        self._fold_in(stored)
        return stored

    async def append_events(self, stream: str, events: Sequence[Event]) -> list[StoredEvent]:
        """Append ``events`` to a source's stream at its cached version (raises
        ``ConcurrencyError`` if another writer appended first)."""
        return await self._append(stream, (await self.state(stream)).version, events)

    def _fold_in(self, stored: Sequence[StoredEvent]) -> None:
        """Bring the cached states up to date with events this runner appended."""
        for item in stored:
            state = self._states.get(item.stream)
            if self._registrations is not None:
                if isinstance(item.event, CONFIGURATION_EVENTS):
                    configured = self._registrations.get(item.stream)
                    self._registrations[item.stream] = apply(
                        configured or SourceState(source_id=item.stream), item
                    )
                if state is None:
                    continue  # not folded yet: ``state`` reads the whole stream when asked
            state = state or SourceState(source_id=item.stream)
            self._states[item.stream] = self._compact(apply(state, item))


def with_move(
    state: SourceState,
    captured: Captured,
    events: Sequence[Event],
    current_url: str,
    *,
    sends_headers: bool = False,
) -> list[Event]:
    """A check's events with the move its capture shows (if any) in front. Pure.

    ``events`` are what ``classify.decide`` made of the capture. A suspect capture is
    no move (a redirect to a login or home page, or off the site with another text);
    nor is a permanent redirect off the site whose text reads the same, nor one that
    ``moves.safe_move`` refuses (from https to http; to another origin for a source
    that ``sends_headers``, which may carry credentials meant for its own origin).
    """
    capture = captured.capture
    if any(isinstance(e, ContentSuspect) for e in events) or (
        # A suspect capture seen again records nothing, and is no more a move than before.
        state.suspect_text is not None and state.suspect_text == capture.get("text_sha256")
    ):
        return list(events)
    if off_site_move(capture) is not None:
        return list(events)
    move: SourceMoved | None = None
    found = permanent_target(capture)
    if found is not None:
        final = str(capture.get("final_url") or found[0])
        if lands_on_wall(current_url, found[0]) or lands_on_wall(current_url, final):
            return list(events)  # a login, error or home page: suspect, never a new address
        move = SourceMoved(from_url=current_url, to_url=found[0], how="redirect", status=found[1])
    else:
        canonical = str(capture.get("canonical") or "")
        if (
            canonical
            and state.canonical
            and canonical != state.canonical
            and canonical != current_url
            and same_site(current_url, canonical)
            and not lands_on_wall(current_url, canonical)
        ):
            move = SourceMoved(from_url=current_url, to_url=canonical, how="canonical")
    if move is None or not safe_move(current_url, move.to_url, sends_headers=sends_headers):
        return list(events)
    return [move, *events]


def at_current_url(source: SourceSettings, state: SourceState) -> SourceSettings:
    """``source`` aimed at where its document lives now (its last ``SourceMoved``)."""
    url = state.current_url(source.url)
    return source if url == source.url else replace(source, url=url)

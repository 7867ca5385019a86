"""Run one check of one source: load state → fetch → extract → classify → append.

The shell around the pure core. The order of writes is what makes a crash
harmless: blobs first (content-addressed, idempotent), then the events that
name them in one atomic batch with deterministic ids and an expected stream
version. A check interrupted at any point is simply redone.

How a page is loaded follows the source's ``render``: ``http`` (plain fetch),
``browser`` (the shared ``BrowserPool``), or ``auto`` (plain first, the browser
when the plain page has no meaningful text or its ``select`` matched nothing).
A source with ``screenshot = true`` is always loaded in the browser, so its
picture and its text come from the same load. The capture records which one
was used (``renderer``) and names the screenshot blob (``screenshot_sha256``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial

from monitor.audit.identity import certificate_blob
from monitor.check.browser import INSTALL_HINT, BrowserPool
from monitor.check.fetch import Fetcher, FetchResult, Validators
from monitor.check.parts import PartFailed, PartsCaptured, fetch_parts, parts_capture
from monitor.check.pool import ExtractionPool
from monitor.check.reader import LastText, PageReader, PageText, SameTextMemo
from monitor.check.statecache import compact
from monitor.clock import utc_now
from monitor.config.settings import Settings, SourceSettings
from monitor.core.classify import Captured, Failed, NotModified, Outcome, decide, lands_on_wall
from monitor.core.moves import (
    canonical_link,
    off_site_move,
    permanent_target,
    safe_move,
    same_site,
)
from monitor.core.projections import SourceState, apply, fold
from monitor.core.reconcile import reconcile
from monitor.core.rules import CompiledRule, compile_rules
from monitor.desk.links import document_links, documents_diff
from monitor.desk.story_detector import StoryDetector
from monitor.discover.sources import with_discovered
from monitor.errors import (
    ArchiveError,
    BlobMissingError,
    ConcurrencyError,
    FetchError,
    HostPausedError,
    MonitorError,
)
from monitor.events import (
    FETCH_DEFERRED,
    BaselineCaptured,
    ChangeDetected,
    ChangePending,
    ContentSuspect,
    Event,
    FiguresPublished,
    FiguresRestated,
    FiguresWithdrawn,
    JsonObject,
    NewEvent,
    SourceMoved,
    SourceRecovered,
    StoredEvent,
    capture_of,
    format_time,
)
from monitor.extract.document import EXTRACTOR_VERSION, Extraction, extract
from monitor.figures.read import text_body
from monitor.figures.runner import FiguresCache
from monitor.store import EventStore

log = logging.getLogger(__name__)

# Extraction of very large bodies runs in a worker thread so the event loop
# keeps serving other checks (and timers) meanwhile.
THREAD_EXTRACT_BYTES = 512 * 1024

# render = "auto": a plain page with less text than this is an app shell; use the browser.
AUTO_MIN_CHARS = 200
AUTO_NOTICE_MAX_CHARS = 600  # a short page that asks for JavaScript is a shell too
_JAVASCRIPT_NOTICE = re.compile(
    r"enable javascript|javascript is (disabled|required|not enabled)|requires javascript"
    r"|turn on javascript|javascript must be enabled",
    re.IGNORECASE,
)


def render_mode(source: SourceSettings) -> str:
    """How the source's page is loaded: ``http``, ``browser`` or ``auto``."""
    return "browser" if source.screenshot else source.render


def extraction_key(source: SourceSettings) -> str:
    """Fingerprint of everything that shapes the extracted text of a source."""
    parts: tuple[object, ...] = (
        EXTRACTOR_VERSION,
        source.select,
        source.remove,
        source.ignore,
        source.format,
        source.watch_links,
        source.json_path,
        source.csv_key,
    )
    if not source.remove_consent:
        parts += ("keep-consent",)  # only when set: other sources keep their keys
    mode = render_mode(source)
    if mode != "http":
        # A rendered DOM is a different text source; plain sources keep their old keys.
        parts += (mode,)
    if source.urls:
        # Other parts make another document: a new reference, not a change of the text.
        parts += (source.urls,)
    if source.figures is not None and (source.figures.member or source.figures.sheet):
        # The text of a ZIP member or a workbook's sheet (monitor.figures.read.text_body).
        parts += (source.figures.member, source.figures.sheet)
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


@dataclass(frozen=True, kw_only=True)
class ScreenshotCaptured(Captured):
    """A capture made in the browser with a full-page PNG, stored beside the body."""

    screenshot: bytes


@dataclass(frozen=True, kw_only=True)
class ReadCaptured(Captured):
    """A capture whose text was read from an HTML tree with a same-text fingerprint."""

    fingerprint: bytes


def plain_text_suffices(captured: Captured) -> bool:
    """Whether a plain-HTTP capture of a ``render = "auto"`` source needs no browser."""
    if not captured.select_matched:
        return False
    chars = int(captured.capture["text_chars"])
    if chars < AUTO_MIN_CHARS:
        return False
    return not (chars <= AUTO_NOTICE_MAX_CHARS and _JAVASCRIPT_NOTICE.search(captured.text))


@dataclass(frozen=True, kw_only=True)
class CheckReport:
    """What one check did, for the one-line CLI output and the daemon's log."""

    source_id: str
    # baseline | changed | reverted | volatile | dated | chrome | pending | unchanged | suspect
    # | failed | deferred
    outcome: str
    detail: str
    events: tuple[StoredEvent, ...] = ()

    def line(self) -> str:
        return f"{self.source_id:<32} {self.outcome:<10} {self.detail}"


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
    _states: dict[str, SourceState] = field(default_factory=dict)
    _unchanged_checks: dict[str, int] = field(default_factory=dict)
    # Servers' leaf certificates by sha256, stored as blobs with the captures naming them.
    _certificates: dict[str, bytes] = field(default_factory=dict)
    _figures: FiguresCache = field(default_factory=FiguresCache)
    _reader: PageReader | None = None

    def __post_init__(self) -> None:
        if not self.rules:
            self.rules = compile_rules(self.settings.rules)
        if self._reader is None:
            self._reader = PageReader(SameTextMemo(self.store), self.pool)
        if self.stories is None:
            self.stories = StoryDetector(self.settings.stories)

    async def state(self, source_id: str) -> SourceState:
        cached = self._states.get(source_id)
        if cached is not None:
            return cached
        state = _compact(fold(source_id, await self.store.read(stream=source_id)))
        self._states[source_id] = state
        return state

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
            _unchanged_checks=self._unchanged_checks,
            _figures=self._figures,
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

    async def reconcile(self) -> list[StoredEvent]:
        """Record config changes (registered / updated / removed sources) in the log.

        One scan of the log loads every source's state (not one query per source), and
        every decision goes into one atomic batch, so starting with 10,000 sources
        costs one transaction, and a crash leaves the config either recorded or not.
        """
        for _ in range(3):
            try:
                return await self._reconcile_once()
            except ConcurrencyError:
                # Another worker recorded config or checks meanwhile: reload and decide again.
                self._states.clear()
        return await self._reconcile_once()

    async def _reconcile_once(self) -> list[StoredEvent]:
        folded = not self._states
        if folded:
            async for event in self.store.iterate():
                if not event.stream.startswith("$"):
                    current = self._states.get(event.stream) or SourceState(source_id=event.stream)
                    self._states[event.stream] = apply(current, event)
        states = {
            sid: await self.state(sid)
            for sid in await self.store.streams()
            if not sid.startswith("$")
        }
        # Sources a [[discover]] entry registered are configured through it, not removed.
        decisions = reconcile(states, with_discovered(self.settings, states).sources)
        if folded:  # compacted once compared: comparing compact settings costs more
            compacted = (_compact(state) for state in self._states.values())
            self._states = {state.source_id: state for state in compacted}  # interned ids
        batch: list[NewEvent] = []
        for decision in decisions:
            batch += NewEvent.after(decision.stream, decision.expected, decision.events)
        if not batch:
            return []
        stored = await self.store.append(batch, expected={d.stream: d.expected for d in decisions})
        self._fold_in(stored)
        return stored

    def effective_settings(self) -> Settings:
        """The settings with the sources discovery registered (after ``reconcile``)."""
        return with_discovered(self.settings, self._states)

    def absorb(self, stored: Sequence[StoredEvent]) -> None:
        """Fold events another writer of this process (discovery) appended into the cache."""
        self._fold_in(stored)

    def known_streams(self) -> set[str]:
        """Every source stream this runner has folded (ids a new source must not reuse)."""
        return set(self._states)

    async def check(
        self, source: SourceSettings, *, attempts: int = 1, known: Outcome | None = None
    ) -> CheckReport:
        """One check of ``source``; never raises for a page problem (those become events).

        ``known``: the outcome is already decided (a deferral), nothing is fetched.
        """
        configured = source
        await self._figures.catch_up(self, source)
        for _ in range(3):
            state = await self.state(source.id)
            source = at_current_url(configured, state)
            outcome = known or await self._observe(source, state, attempts)
            old_text_missing = False
            try:
                old_text = await self._old_text(state, outcome)
            except BlobMissingError as exc:
                # Recorded by decide() as a suspect capture plus a new reference.
                log.error("check %s cannot diff against its last good text: %s", source.id, exc)
                old_text, old_text_missing = None, True
            figures = await self._figures.compare(self, source, state, outcome)
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
                stored += await self._figures.record(self, source.id, stored, figures)
            if stored:
                self._unchanged_checks[source.id] = 0
                await self._detect_stories(stored)
            else:
                self._unchanged_checks[source.id] = self._unchanged_checks.get(source.id, 0) + 1
            if isinstance(outcome, ReadCaptured):
                await self._remember_text(source.id, outcome)
            return _report(source.id, outcome, stored)
        raise ConcurrencyError(source.id, -1, -1)

    async def _observe(self, source: SourceSettings, state: SourceState, attempts: int) -> Outcome:
        key = extraction_key(source)
        if source.urls:
            return await self._observe_parts(source, attempts, key)
        mode = render_mode(source)
        if mode == "browser":
            return await self._observe_browser(source, state, attempts, key)
        last = state.last_good
        validators = None
        if last is not None and last.extraction_key == key and state.suspect_text is None:
            validators = Validators(etag=last.etag, last_modified=last.last_modified)
        try:
            result = await self.fetcher.fetch(source, now=self.clock(), validators=validators)
        except FetchError as exc:
            return self._failed(source, exc, attempts)
        if result.not_modified:
            if mode == "auto" and await self._last_renderer(state) == "browser":
                # An unchanged shell says nothing about the data its script loads.
                return await self._observe_browser(source, state, attempts, key)
            return NotModified(fetched_at=result.fetched_at)
        try:
            captured = await self._capture(source, result, key, state)
        except ArchiveError as exc:
            return self._failed(source, FetchError("archive", str(exc)), attempts)
        if mode == "auto" and not plain_text_suffices(captured):
            return await self._observe_browser(source, state, attempts, key)
        return captured

    async def _observe_parts(self, source: SourceSettings, attempts: int, key: str) -> Outcome:
        """Every part of a multi-page document, as one capture (``monitor.check.parts``)."""
        try:
            results = await fetch_parts(self.fetcher, source, self.clock)
        except PartFailed as exc:
            return self._failed(replace(source, url=exc.url), exc, attempts)
        extractions = []
        for result in results:
            if len(result.body) >= THREAD_EXTRACT_BYTES:
                extractions.append(
                    await asyncio.to_thread(
                        extract, result.body, content_type=result.content_type, source=source
                    )
                )
            else:
                extractions.append(
                    extract(result.body, content_type=result.content_type, source=source)
                )
        return parts_capture(source, results, extractions, key)

    async def _observe_browser(
        self, source: SourceSettings, state: SourceState, attempts: int, key: str
    ) -> Outcome:
        if self.browser is None:
            return self._failed(
                source,
                FetchError(
                    "browser_unavailable",
                    f"source {source.id!r} needs a browser (render = {source.render!r}"
                    f"{', screenshot = true' if source.screenshot else ''}) and none is "
                    f"configured; {INSTALL_HINT}",
                ),
                attempts,
            )
        try:
            # The page load counts against the host's politeness slots like a plain fetch.
            async with self.fetcher.reserve_host(source.url):
                rendered = await self.browser.render(
                    source, now=self.clock(), screenshot=source.screenshot
                )
        except FetchError as exc:
            return self._failed(source, exc, attempts)
        try:
            return await self._capture(
                source,
                rendered.result,
                key,
                state,
                renderer="browser",
                screenshot=rendered.screenshot,
            )
        except ArchiveError as exc:
            return self._failed(source, FetchError("archive", str(exc)), attempts)

    async def defer(self, source: SourceSettings, paused: HostPausedError) -> CheckReport:
        """Record that ``source`` was not asked: its host wants quiet until ``paused.until``.

        A ``FetchFailed`` of kind ``deferred`` (no failure in a row, no alert), so the log
        shows that the check was due and why it was not made.
        """
        return await self.check(source, known=self._failed(source, paused, 1))

    def _failed(self, source: SourceSettings, exc: FetchError, attempts: int) -> Failed:
        log.info("check %s failed: %s: %s", source.id, exc.kind, exc)
        return Failed(
            url=source.url,
            error=exc.kind,
            message=str(exc),
            status=exc.status,
            fetched_at=self.clock(),
            attempt=attempts,
            until=exc.until if isinstance(exc, HostPausedError) else None,
        )

    async def _last_renderer(self, state: SourceState) -> str:
        """How the last good capture was loaded (captures before renderers existed: http)."""
        last = state.last_good
        if last is None:
            return "http"
        event = await self.store.get_event(last.seq)
        if event is None:
            return "http"
        capture = capture_of(event.event)
        return capture.renderer if capture is not None else "http"

    async def _capture(
        self,
        source: SourceSettings,
        result: FetchResult,
        key: str,
        state: SourceState,
        *,
        renderer: str = "http",
        screenshot: bytes | None = None,
    ) -> Captured:
        raw_sha = hashlib.sha256(result.body).hexdigest()
        if result.server is not None and result.server.certificate:
            der = result.server.certificate
            self._certificates[hashlib.sha256(der).hexdigest()] = der
        last = state.last_good
        canonical = _canonical(result)
        if last is not None and last.raw_sha256 == raw_sha and last.extraction_key == key:
            # Same bytes, same extraction: the text is the same; skip parsing entirely.
            capture = _capture_data(
                source, result, raw_sha, last.text_sha256, last.text_chars, key, None, None
            )
            if canonical:
                capture["canonical"] = canonical
            return _captured(capture, "", True, result.body, renderer, screenshot)
        fingerprint: bytes | None = None
        extraction: Extraction | PageText
        if source.figures is not None:
            # A ZIP member or a workbook's sheet is the text (monitor.figures.read).
            limit = source.max_bytes or self.settings.monitor.max_bytes
            read = partial(_extract_figures_body, source=source, limit=limit)
            if len(result.body) >= THREAD_EXTRACT_BYTES:
                extraction = await asyncio.to_thread(
                    read, result.body, content_type=result.content_type
                )
            else:
                extraction = read(result.body, content_type=result.content_type)
        else:
            assert self._reader is not None
            reading = await self._reader.read(
                source,
                result.body,
                result.content_type,
                last=LastText(last.extraction_key, last.text_sha256) if last is not None else None,
                # Only plain pages: an `auto` source also looks at the words of its text.
                fingerprint=self.fast_path and renderer == "http" and render_mode(source) == "http",
            )
            if reading.text is None:
                # The page's fingerprint was seen with the last good text: it is that text.
                assert last is not None
                capture = _capture_data(
                    source, result, raw_sha, last.text_sha256, last.text_chars, key, None, None
                )
                if canonical:  # a document can move while its text stays the same
                    capture["canonical"] = canonical
                return _captured(capture, "", True, result.body, renderer, screenshot)
            extraction, fingerprint = reading.text, reading.fingerprint
        text = extraction.text
        text_sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
        capture = _capture_data(
            source,
            result,
            raw_sha,
            text_sha,
            len(text),
            key,
            extraction.media_type,
            extraction.format,
        )
        if extraction.title:
            capture["title"] = extraction.title[:300]
        if canonical:
            capture["canonical"] = canonical
        if extraction.format == "html" and (last is None or text_sha != last.text_sha256):
            if isinstance(extraction, PageText) and extraction.chrome is not None:
                chrome = [[start, end] for start, end in extraction.chrome]  # read with the text
            else:
                chrome = await _chrome_lines(source, result)
            if chrome:
                capture["chrome"] = chrome
        captured = _captured(
            capture, text, extraction.select_matched, result.body, renderer, screenshot
        )
        if fingerprint is None or screenshot is not None:
            return captured
        return ReadCaptured(
            capture=captured.capture,
            text=text,
            select_matched=captured.select_matched,
            body=result.body,
            fingerprint=fingerprint,
        )

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
            state = self._states.get(item.stream) or SourceState(source_id=item.stream)
            self._states[item.stream] = _compact(apply(state, item))


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


def _canonical(result: FetchResult) -> str | None:
    """The page's ``<link rel="canonical">`` (HTML only), to notice a document that moved."""
    content_type = (result.content_type or "").lower()
    if content_type and "html" not in content_type:
        return None
    return canonical_link(result.body, result.final_url)


async def _chrome_lines(source: SourceSettings, result: FetchResult) -> list[list[int]]:
    """The line ranges of a changed text that are page chrome (``monitor.noise``).

    Found by a second extraction, only when the text changed (or is a first capture),
    so that the unchanged path — nearly every check — costs nothing more.
    """
    if len(result.body) >= THREAD_EXTRACT_BYTES:
        extraction = await asyncio.to_thread(
            extract, result.body, content_type=result.content_type, source=source, chrome=True
        )
    else:
        extraction = extract(
            result.body, content_type=result.content_type, source=source, chrome=True
        )
    return [[start, end] for start, end in extraction.chrome]


def _extract_figures_body(
    body: bytes, *, content_type: str | None, source: SourceSettings, limit: int
) -> Extraction:
    """The text of a figures source; raises ``ArchiveError`` for a broken or oversized archive."""
    assert source.figures is not None
    part, part_type = text_body(body, content_type, source.figures, limit=limit)
    return extract(part, content_type=part_type, source=source)


def _compact(state: SourceState) -> SourceState:
    """``state`` for the long-lived cache: the same content in less memory (``statecache``)."""
    return compact(state)


def _captured(
    capture: JsonObject,
    text: str,
    select_matched: bool,
    body: bytes,
    renderer: str,
    screenshot: bytes | None,
) -> Captured:
    capture["renderer"] = renderer
    if screenshot is None:
        return Captured(capture=capture, text=text, select_matched=select_matched, body=body)
    capture["screenshot_sha256"] = hashlib.sha256(screenshot).hexdigest()
    return ScreenshotCaptured(
        capture=capture,
        text=text,
        select_matched=select_matched,
        body=body,
        screenshot=screenshot,
    )


def _capture_data(
    source: SourceSettings,
    result: FetchResult,
    raw_sha: str,
    text_sha: str,
    text_chars: int,
    key: str,
    media_type: str | None,
    format_: str | None,
) -> JsonObject:
    capture: JsonObject = {
        "requested_url": result.requested_url,
        "final_url": result.final_url,
        "redirects": [{"url": url, "status": status} for url, status in result.redirects],
        "status": result.status,
        "headers": dict(result.headers),
        "fetched_at": format_time(result.fetched_at),
        "elapsed_ms": result.elapsed_ms,
        "raw_sha256": raw_sha,
        "text_sha256": text_sha,
        "bytes": len(result.body),
        "text_chars": text_chars,
        "extractor": EXTRACTOR_VERSION,
        "extraction_key": key,
    }
    if media_type:
        capture["media_type"] = media_type
    if format_:
        capture["format"] = format_
    if result.server is not None:
        capture["server"] = result.server.to_data()
    return capture


def _figures_note(events: Sequence[Event]) -> str:
    """`` [figures: 1 published, 1 restated]`` when the check recorded figures facts."""
    counts = [
        f"{n} {word}"
        for kind, word in (
            (FiguresPublished, "published"),
            (FiguresRestated, "restated"),
            (FiguresWithdrawn, "withdrawn"),
        )
        if (n := sum(isinstance(e, kind) for e in events))
    ]
    return f" [figures: {', '.join(counts)}]" if counts else ""


def _capture_outcome(event: Event, typed: Sequence[Event]) -> tuple[str, str] | None:
    """(outcome, detail) of a check that recorded ``event`` about its capture, or None."""
    match event:
        case ChangeDetected() as change:
            summary = change.diff.get("summary", "")
            # A rule can match on both sides (on = "any"): name it once.
            rules = ", ".join(dict.fromkeys(r["rule_id"] for r in change.rules))
            detail = summary + (f" [rules: {rules}]" if rules else "") + _figures_note(typed)
            kind = change.classification
            return ("changed" if kind == "substantive" else kind), detail
        case ContentSuspect(reason=reason, detail=why):
            return "suspect", f"{reason}: {why}"
        case ChangePending(seen=seen, needed=needed):
            return "pending", f"new text seen {seen} of {needed} times needed to confirm it"
        case BaselineCaptured(capture=capture):
            return "baseline", f"{capture.text_chars} characters, HTTP {capture.status}"
    return None


def _report(source_id: str, outcome: Outcome, stored: Sequence[StoredEvent]) -> CheckReport:
    events = tuple(stored)
    typed = [e.event for e in events]
    if isinstance(outcome, Failed) and outcome.error == FETCH_DEFERRED:
        return CheckReport(
            source_id=source_id, outcome="deferred", detail=outcome.message, events=events
        )
    if isinstance(outcome, Failed):
        return CheckReport(
            source_id=source_id,
            outcome="failed",
            detail=f"{outcome.error}: {outcome.message}",
            events=events,
        )
    for event in typed:
        said = _capture_outcome(event, typed)
        if said is not None:
            return CheckReport(source_id=source_id, outcome=said[0], detail=said[1], events=events)
    recovered = " (recovered)" if any(isinstance(e, SourceRecovered) for e in typed) else ""
    moved = next((e for e in typed if isinstance(e, SourceMoved)), None)
    if moved is not None:
        because = f"HTTP {moved.status}" if moved.how == "redirect" else "canonical link"
        return CheckReport(
            source_id=source_id,
            outcome="moved",
            detail=f"to {moved.to_url} ({because}){recovered}",
            events=events,
        )
    detail = "304 not modified" if isinstance(outcome, NotModified) else "no text change"
    return CheckReport(
        source_id=source_id, outcome="unchanged", detail=detail + recovered, events=events
    )

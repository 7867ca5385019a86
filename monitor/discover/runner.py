"""The I/O shell of discovery: read an entry's listings, decide, append. One pass at a time.

Bounds (the sitemap protocol's own, and ours):

* each sitemap: at most ``MAX_URLS`` URLs and ``MAX_UNCOMPRESSED`` bytes of XML,
  whether the server compresses it on the wire or serves a ``.xml.gz`` file;
* a sitemap index: at most ``MAX_SITEMAPS`` sitemaps per pass, nested at most
  ``MAX_DEPTH`` deep; a sitemap named twice in one pass is an index loop;
* any of these, like any fetch error, is one ``FetchFailed`` on the entry's
  stream (``monitor check`` prints it), and the pass records nothing else;
* conditional GET: a listing that answers 304 is read from the last parse.

Only the listings are fetched: the documents they name are fetched by the
checks of the sources ``watch`` (or a review) registered, never here.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field, replace

from monitor.check.fetch import Validators
from monitor.check.pipeline import CheckRunner
from monitor.config.settings import DiscoverSettings, SourceSettings
from monitor.discover import stream_of
from monitor.discover.decide import decide_pass as decide
from monitor.discover.decide import discovered_source, source_id_for, wanted
from monitor.discover.listing import (
    MAX_UNCOMPRESSED,
    Listed,
    Sitemap,
    inflate,
    parse_index,
    parse_sitemap,
)
from monitor.discover.state import DiscoveryState, fold
from monitor.errors import ConcurrencyError, FetchError, HostPausedError, MonitorError
from monitor.events import (
    DiscoveryBaselined,
    DiscoveryReviewed,
    Event,
    FetchFailed,
    NewEvent,
    SourceDiscovered,
    SourceRegistered,
    SourceRemoved,
    SourceUnlisted,
    StoredEvent,
    format_time,
)

log = logging.getLogger(__name__)

MAX_SITEMAPS = 200  # sitemaps read in one pass of one entry
MAX_DEPTH = 3  # sitemap indexes within indexes


@dataclass(frozen=True, kw_only=True)
class DiscoverReport:
    """What one pass did, for ``monitor check`` and the daemon's log."""

    discover_id: str
    outcome: str  # baseline | discovered | unchanged | failed | deferred
    detail: str
    events: tuple[StoredEvent, ...] = ()
    registered: tuple[str, ...] = ()  # ids of the sources this pass registered

    def line(self) -> str:
        return f"{'discover:' + self.discover_id:<32} {self.outcome:<10} {self.detail}"


@dataclass
class _Cached:
    validators: Validators
    sitemap: Sitemap | None = None
    links: tuple[Listed, ...] = ()


@dataclass
class DiscoveryRunner:
    """Runs passes of ``[[discover]]`` entries through a ``CheckRunner``'s store and fetcher."""

    checks: CheckRunner
    _cache: dict[str, _Cached] = field(default_factory=dict)  # listing URL -> last parse

    async def state(self, entry_id: str) -> DiscoveryState:
        return fold(entry_id, await self.checks.store.read(stream=stream_of(entry_id)))

    async def run_pass(self, entry: DiscoverSettings) -> DiscoverReport:
        """One pass of ``entry``; never raises for a site problem (that is a FetchFailed)."""
        for _ in range(3):
            state = await self.state(entry.id)
            read: dict[str, tuple[str, str]] = {}
            try:
                listing = await self._listing(entry, state, read)
            except HostPausedError as paused:
                # The site asked for quiet beyond what this run waits: nothing was asked,
                # so nothing is recorded; the next pass reads the list.
                return DiscoverReport(discover_id=entry.id, outcome="deferred", detail=str(paused))
            except FetchError as exc:
                failed = await self._failed(entry, state, exc)
                if failed is None:
                    continue
                return failed
            if (
                listing is not None
                and state.baselined
                and state.listed
                and not any(wanted(entry, item) for item in listing)
            ):
                # A list that suddenly names none of its documents is an outage page or a
                # broken deploy, not the company withdrawing all of them at once.
                empty = FetchError(
                    "empty_listing",
                    f"the listing names none of the {len(state.listed)} matching documents "
                    "it named before; not recording them as unlisted",
                )
                refused = await self._failed(entry, state, empty)
                if refused is None:
                    continue
                return refused
            if listing is None:
                return DiscoverReport(
                    discover_id=entry.id,
                    outcome="unchanged",
                    detail="not modified since the last pass (304)",
                )
            taken = self.checks.known_streams() | {s.id for s in self.checks.settings.sources}
            decision = decide(
                state,
                entry,
                listing,
                now=self.checks.clock(),
                rules=self.checks.rules,
                taken_ids=taken,
            )
            events = list(decision.events)
            if events and read:
                # The last event of the pass carries what the next pass's conditional GET
                # sends, so even a fresh `monitor check` asks "changed since?".
                pairs = {url: list(pair) for url, pair in sorted(read.items())}
                events[-1] = replace(events[-1], validators=pairs)  # type: ignore[call-arg]
            try:
                stored = await self._append(
                    entry.id, state.version, events, list(decision.registrations)
                )
            except ConcurrencyError:
                continue
            return _report(entry, state, listing, stored, decision.registrations)
        raise ConcurrencyError(stream_of(entry.id), -1, -1)

    async def _failed(
        self, entry: DiscoverSettings, state: DiscoveryState, exc: FetchError
    ) -> DiscoverReport | None:
        """Record a pass that failed; None when another writer got there first (decide again)."""
        log.info("discovery %s failed: %s: %s", entry.id, exc.kind, exc)
        failed = FetchFailed(
            url=entry.sitemap or entry.index or "",
            error=exc.kind,
            message=str(exc),
            status=exc.status,
            consecutive_failures=state.consecutive_failures + 1,
            fetched_at=format_time(self.checks.clock()),
        )
        try:
            stored = await self._append(entry.id, state.version, [failed], [])
        except ConcurrencyError:
            return None
        detail = f"{exc.kind}: {exc}"
        return DiscoverReport(
            discover_id=entry.id, outcome="failed", detail=detail, events=tuple(stored)
        )

    async def review(
        self, entry: DiscoverSettings, url: str, *, accept: bool
    ) -> tuple[str, list[StoredEvent]]:
        """``monitor discover --accept/--ignore URL``: register the URL, or never report it.

        Returns the source id (accepted) or "" and what was appended. Ignoring a URL that
        is watched also removes its source (its history stays).
        """
        for _ in range(3):
            state = await self.state(entry.id)
            found = state.found.get(url)
            if found is None and url not in state.listed:
                raise MonitorError(
                    f"discover entry {entry.id!r} has not found {url}; `monitor discover` "
                    "lists what it found"
                )
            source_states = self.checks.known_streams()
            registrations: list[tuple[str, SourceRegistered]] = []
            removals: list[tuple[str, SourceRemoved]] = []
            source_id = found.source_id if found is not None else ""
            if accept:
                if found is not None and found.state in ("watching", "accepted"):
                    return found.source_id, []
                taken = source_states | {s.id for s in self.checks.settings.sources}
                source_id = source_id or source_id_for(entry.id, url, taken)
                title = found.title if found is not None else ""
                settings = discovered_source(entry, source_id=source_id, url=url, title=title)
                registrations.append(
                    (
                        source_id,
                        SourceRegistered(settings=settings.public_dict(), discovered_by=entry.id),
                    )
                )
                event = DiscoveryReviewed(url=url, decision="accepted", source_id=source_id)
            else:
                if url in state.ignored:
                    return "", []
                if found is not None and found.source_id:
                    removals.append(
                        (found.source_id, SourceRemoved(reason="ignored in discovery review"))
                    )
                event = DiscoveryReviewed(url=url, decision="ignored", source_id=source_id)
            try:
                stored = await self._append(
                    entry.id, state.version, [event], [*registrations, *removals]
                )
            except ConcurrencyError:
                continue
            return (source_id if accept else ""), stored
        raise ConcurrencyError(stream_of(entry.id), -1, -1)

    # ----------------------------------------------------------------- listings

    async def _listing(
        self, entry: DiscoverSettings, state: DiscoveryState, read: dict[str, tuple[str, str]]
    ) -> list[Listed] | None:
        """Everything the entry's listings name, or None when none changed since last recorded.

        Validators recorded in the log (``state.validators``) are used only while this
        process has no parse of its own; they cover plain sitemaps and index pages, never
        a sitemap index (its children may change while it does not).
        """
        roots = entry.listings
        if state.baselined and all(
            url in state.validators and url not in self._cache for url in roots
        ):
            unchanged = True
            for url in roots:
                etag, modified = state.validators[url]
                listing = self._settings(entry, url)
                result = await self.checks.fetcher.fetch(
                    listing,
                    now=self.checks.clock(),
                    validators=Validators(etag=etag or None, last_modified=modified or None),
                )
                if not result.not_modified:
                    unchanged = False
                    break
            if unchanged:
                read.update({url: state.validators[url] for url in roots})
                return None
        items: list[Listed] = []
        if entry.sitemap:
            items += await self._sitemaps(entry, entry.sitemap, read)
        if entry.index:
            items += await self._index(entry, entry.index, read)
        return items

    async def _sitemaps(
        self, entry: DiscoverSettings, root: str, read: dict[str, tuple[str, str]]
    ) -> list[Listed]:
        found: list[Listed] = []
        seen: set[str] = set()
        queue: list[tuple[str, int]] = [(root, 0)]
        while queue:
            url, depth = queue.pop(0)
            if url in seen:
                raise FetchError(
                    "sitemap_loop",
                    f"sitemap index loop: {url} is named again within one pass from {root}",
                )
            seen.add(url)
            if len(seen) > MAX_SITEMAPS:
                raise FetchError(
                    "too_large", f"{root} names more than {MAX_SITEMAPS} sitemaps; refused"
                )
            sitemap = await self._sitemap(entry, url)
            if url == root and not sitemap.children:
                read[url] = _pair(self._cache[url].validators)
            found += sitemap.urls
            for child in sitemap.children:
                if depth + 1 > MAX_DEPTH:
                    raise FetchError(
                        "sitemap_loop",
                        f"sitemap indexes nested more than {MAX_DEPTH} deep under {root}",
                    )
                queue.append((child, depth + 1))
        return found

    async def _sitemap(self, entry: DiscoverSettings, url: str) -> Sitemap:
        cached = self._cache.get(url)
        result = await self._get(entry, url, cached)
        if result is None:
            assert cached is not None and cached.sitemap is not None
            return cached.sitemap
        body, validators = result
        # Inflating and parsing 50 MB takes a while: off the event loop.
        sitemap = await asyncio.to_thread(_read_sitemap, body, url)
        self._cache[url] = _Cached(validators=validators, sitemap=sitemap)
        return sitemap

    async def _index(
        self, entry: DiscoverSettings, url: str, read: dict[str, tuple[str, str]]
    ) -> list[Listed]:
        cached = self._cache.get(url)
        result = await self._get(entry, url, cached)
        if result is None:
            assert cached is not None
            read[url] = _pair(cached.validators)
            return list(cached.links)
        body, validators = result
        links = parse_index(body, url, entry.select)
        self._cache[url] = _Cached(validators=validators, links=links)
        read[url] = _pair(validators)
        return list(links)

    @staticmethod
    def _settings(entry: DiscoverSettings, url: str) -> SourceSettings:
        return SourceSettings(
            id=f"discover.{entry.id}", url=url, max_bytes=MAX_UNCOMPRESSED, title=entry.id
        )

    async def _get(
        self, entry: DiscoverSettings, url: str, cached: _Cached | None
    ) -> tuple[bytes, Validators] | None:
        """The body of a listing, or None when it answered 304 to our last validators."""
        listing = self._settings(entry, url)
        validators = cached.validators if cached is not None else None
        result = await self.checks.fetcher.fetch(
            listing, now=self.checks.clock(), validators=validators
        )
        if result.not_modified and cached is not None:
            return None
        return result.body, result.validators()

    # ----------------------------------------------------------------- appending

    async def _append(
        self,
        entry_id: str,
        expected: int,
        events: list[Event],
        others: list[tuple[str, Event]],
    ) -> list[StoredEvent]:
        """The entry's events and the sources' registrations or removals, in one batch."""
        if not events:
            return []
        stream = stream_of(entry_id)
        batch = NewEvent.after(stream, expected, events)
        expectations = {stream: expected}
        for source_id, event in others:
            if source_id not in expectations:
                expectations[source_id] = (await self.checks.state(source_id)).version
            batch += NewEvent.after(source_id, expectations[source_id], [event])
        try:
            stored = await self.checks.store.append(batch, expected=expectations)
        except ConcurrencyError:
            # Another writer moved one of these streams: the next try folds them afresh.
            for source_id, _ in others:
                self.checks.forget(source_id)
            raise
        self.checks.absorb([e for e in stored if e.stream != stream])
        return stored


def _pair(validators: Validators) -> tuple[str, str]:
    return validators.etag or "", validators.last_modified or ""


def _read_sitemap(body: bytes, url: str) -> Sitemap:
    return parse_sitemap(inflate(body, url), url)


def _report(
    entry: DiscoverSettings,
    state: DiscoveryState,
    listing: list[Listed],
    stored: list[StoredEvent],
    registrations: tuple[tuple[str, SourceRegistered], ...],
) -> DiscoverReport:
    events = tuple(stored)
    registered = tuple(source_id for source_id, _ in registrations)
    if not state.baselined:
        first = events[0].event if events else None
        count = len(first.urls) if isinstance(first, DiscoveryBaselined) else 0
        return DiscoverReport(
            discover_id=entry.id,
            outcome="baseline",
            detail=f"{count} matching of {len(listing)} listed URLs",
            events=events,
        )
    found = [e.event for e in events if isinstance(e.event, SourceDiscovered)]
    gone = [e for e in events if isinstance(e.event, SourceUnlisted)]
    recovered = " (recovered)" if state.consecutive_failures else ""
    if not found and not gone:
        return DiscoverReport(
            discover_id=entry.id,
            outcome="unchanged",
            detail=f"{len(listing)} listed URLs, nothing new{recovered}",
            events=events,
        )
    waiting = sum(1 for e in found if e.state == "waiting")
    parts = [f"{len(found)} new"]
    if registered:
        parts.append(f"{len(registered)} now watched")
    if waiting:
        parts.append(f"{waiting} waiting for `monitor discover --accept`")
    parts.append(f"{len(gone)} unlisted")
    return DiscoverReport(
        discover_id=entry.id,
        outcome="discovered",
        detail=", ".join(parts) + recovered,
        events=events,
        registered=registered,
    )

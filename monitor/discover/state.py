"""Pure: what one ``[[discover]]`` entry knows, folded from its stream ``$discover:<id>``.

``apply(state, event)`` is the only way the state changes, so a running daemon,
``monitor discover`` and a replay of the log agree on what was found.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from monitor.events import (
    DiscoveryBaselined,
    DiscoveryReviewed,
    FetchFailed,
    SourceDiscovered,
    SourceUnlisted,
    StoredEvent,
)


@dataclass(frozen=True, kw_only=True)
class Found:
    """A URL that appeared after the baseline, and what became of it."""

    url: str
    title: str = ""
    lastmod: str = ""
    severity: str = "low"
    state: str = "listed"  # listed | waiting | watching | accepted | ignored
    source_id: str = ""
    seq: int = 0  # the SourceDiscovered
    recorded_at: str = ""
    listed: bool = True  # still in the list (False after SourceUnlisted)


@dataclass(frozen=True, kw_only=True)
class DiscoveryState:
    """One entry's knowledge: the list as last read, and every URL found since the baseline."""

    discover_id: str
    version: int = 0
    baselined_at: str | None = None
    listed: frozenset[str] = frozenset()  # matching URLs in the list, as last read
    found: dict[str, Found] = field(default_factory=dict)  # by URL, in order of discovery
    ignored: frozenset[str] = frozenset()
    gone: frozenset[str] = frozenset()  # URLs that left the list and have not come back
    consecutive_failures: int = 0
    failing_since: str | None = None
    last_pass_at: str | None = None  # the last recorded pass (baseline, finding or failure)
    # ETag / Last-Modified of the plain listings as last recorded: url -> (etag, modified).
    validators: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def baselined(self) -> bool:
        return self.baselined_at is not None

    def known(self, url: str) -> bool:
        """Whether ``url`` was listed at the baseline or found since."""
        return url in self.listed or url in self.found


def found_state(found: Found) -> str:
    """The state a person reads: what was decided, or that the URL left the list since."""
    return found.state if found.listed or found.state == "ignored" else "unlisted"


def found_json(found: Found) -> dict[str, Any]:
    """A found URL as ``monitor discover --json`` and the JSON API show it."""
    data = asdict(found)  # the fields in their order, which is the API's
    del data["listed"]  # said by the state ("unlisted")
    data["state"] = found_state(found)
    data["source_id"] = found.source_id or None
    data["found_at"] = data.pop("recorded_at")
    return data


def apply(state: DiscoveryState, stored: StoredEvent) -> DiscoveryState:
    """The state after ``stored`` (an event of this entry's stream)."""
    event = stored.event
    common: dict[str, Any] = {"version": stored.version}
    listing = DiscoveryBaselined | SourceDiscovered | SourceUnlisted
    if isinstance(event, listing) and event.validators:
        common["validators"] = {
            str(url): (str(pair[0]), str(pair[1])) for url, pair in event.validators.items()
        }
    match event:
        case DiscoveryBaselined() as baselined:
            return replace(
                state,
                baselined_at=baselined.listed_at or stored.recorded_at,
                listed=frozenset(str(u) for u in baselined.urls),
                consecutive_failures=0,
                failing_since=None,
                last_pass_at=stored.recorded_at,
                **common,
            )
        case SourceDiscovered() as discovered:
            url = discovered.url
            found = Found(
                url=url,
                title=discovered.title,
                lastmod=discovered.lastmod,
                severity=discovered.severity or "low",
                state=discovered.state or "listed",
                source_id=discovered.source_id,
                seq=stored.seq,
                recorded_at=stored.recorded_at,
            )
            previous = state.found.get(url)
            if previous is not None and previous.state in ("watching", "accepted", "ignored"):
                # Listed again after it left: what a review or a registration decided stands.
                found = replace(previous, listed=True)
            return replace(
                state,
                listed=state.listed | {url},
                gone=state.gone - {url},
                found={**state.found, url: found},
                consecutive_failures=0,
                failing_since=None,
                last_pass_at=stored.recorded_at,
                **common,
            )
        case SourceUnlisted(url=url):
            found_map = state.found
            if url in found_map:
                found_map = {**found_map, url: replace(found_map[url], listed=False)}
            return replace(
                state,
                listed=state.listed - {url},
                gone=state.gone | {url},
                found=found_map,
                consecutive_failures=0,
                failing_since=None,
                last_pass_at=stored.recorded_at,
                **common,
            )
        case DiscoveryReviewed(url=url, decision=decision) as reviewed_event:
            current = state.found.get(url) or Found(url=url, listed=url in state.listed)
            reviewed = replace(
                current,
                state="accepted" if decision == "accepted" else "ignored",
                source_id=reviewed_event.source_id or current.source_id,
            )
            ignored = state.ignored | {url} if decision == "ignored" else state.ignored - {url}
            return replace(state, found={**state.found, url: reviewed}, ignored=ignored, **common)
        case FetchFailed(fetched_at=fetched_at):
            return replace(
                state,
                consecutive_failures=state.consecutive_failures + 1,
                failing_since=state.failing_since or fetched_at or stored.recorded_at,
                last_pass_at=stored.recorded_at,
                **common,
            )
    return replace(state, **common)


def fold(discover_id: str, events: Iterable[StoredEvent]) -> DiscoveryState:
    state = DiscoveryState(discover_id=discover_id)
    for event in events:
        state = apply(state, event)
    return state

"""Pure: one discovery pass (a state and a listing) → the events it records.

The decision, per pass of one ``[[discover]]`` entry:

* the listing is narrowed to the URLs ``match`` (searched in the URL) and
  ``text_match`` (searched, case-insensitively, in the link text or title) allow;
* the first pass: ``DiscoveryBaselined`` with every matching URL (no alert);
* later passes, in listing order: a matching URL not listed before is one
  ``SourceDiscovered`` (its title, lastmod, the rules its title and link text
  match — the URL's words when it has no title — and their severity, ``low``
  without one); with ``watch`` it is registered as a source
  (``SourceRegistered`` with ``discovered_by``) until ``max_new`` in this pass,
  the rest wait for a review; a URL someone ignored is never reported again;
* a URL listed before and missing now is one ``SourceUnlisted``.

A URL that comes back after it left is reported again (``SourceDiscovered``
with ``relisted``, severity ``info``) and keeps what was decided about it.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from urllib.parse import unquote, urlsplit

from monitor.config.settings import DiscoverSettings, SourceSettings
from monitor.core.rules import CompiledRule, highest_severity, match_rules
from monitor.diff.textdiff import diff_texts
from monitor.discover.listing import Listed
from monitor.discover.state import DiscoveryState
from monitor.events import (
    DiscoveryBaselined,
    Event,
    SourceDiscovered,
    SourceRegistered,
    SourceUnlisted,
    format_time,
)
from monitor.text.patterns import UserPattern, compile_user_regex

_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True, kw_only=True)
class PassDecision:
    """Events for the entry's stream, and the sources to register (id → event)."""

    events: tuple[Event, ...] = ()
    registrations: tuple[tuple[str, SourceRegistered], ...] = ()

    @property
    def empty(self) -> bool:
        return not self.events


@dataclass
class _Pass:
    events: list[Event] = field(default_factory=list)
    registrations: list[tuple[str, SourceRegistered]] = field(default_factory=list)


@functools.lru_cache(maxsize=256)
def _pattern(pattern: str, ignore_case: bool) -> UserPattern:
    return compile_user_regex(pattern, ignore_case=ignore_case)


def wanted(entry: DiscoverSettings, item: Listed) -> bool:
    """Whether the entry's ``match`` and ``text_match`` let ``item`` through.

    Both run on RE2 (``monitor.text.patterns``), like every user pattern: a listing is page
    content, and a backtracking pattern must not cost time exponential in it.
    """
    if entry.match and not _pattern(entry.match, False).search(item.url):
        return False
    return not (entry.text_match and not _pattern(entry.text_match, True).search(item.title))


def source_id_for(entry_id: str, url: str, taken: Collection[str]) -> str:
    """A readable, stable source id for a discovered URL: ``<entry>.<last path words>-<hash>``."""
    path = unquote(urlsplit(url).path).lower()
    words = [w for w in _SLUG.split(path) if w][-6:]
    slug = "-".join(words)[-40:].strip("-") or "page"
    digest = hashlib.sha256(url.encode("utf-8")).hexdigest()
    for length in (6, 10, 16, 64):
        candidate = f"{entry_id[: 80 - 42 - length]}.{slug}-{digest[:length]}"
        if candidate not in taken:
            return candidate
    raise ValueError(f"no free source id for {url}")  # 64 hex digits of sha256 collided


def discovered_source(
    entry: DiscoverSettings, *, source_id: str, url: str, title: str
) -> SourceSettings:
    """The settings a discovered URL is watched with: the entry's template, this URL."""
    template = entry.source or SourceSettings(id=source_id, url=url)
    tags = tuple(dict.fromkeys((*template.tags, *entry.tags)))
    return replace(
        template,
        id=source_id,
        url=url,
        urls=(),
        title=template.title or title,
        company=template.company or entry.company,
        tags=tags,
    )


def rule_matches(
    entry: DiscoverSettings, rules: Sequence[CompiledRule], item: Listed, source_id: str
) -> tuple[list[dict[str, object]], str]:
    """The rules a discovered document's title (or URL words) match, and their severity."""
    text = item.title or " ".join(w for w in _SLUG.split(unquote(urlsplit(item.url).path)) if w)
    if not text.strip():
        return [], "low"
    tags = (*entry.tags, *(entry.source.tags if entry.source else ()))
    matches = match_rules(rules, diff_texts("", text), source_id=source_id, source_tags=tags)
    added = [m for m in matches if m.side == "added"]
    return [m.to_data() for m in added], highest_severity(added) if added else "low"


def decide_pass(
    state: DiscoveryState,
    entry: DiscoverSettings,
    listing: Sequence[Listed],
    *,
    now: datetime,
    rules: Sequence[CompiledRule],
    taken_ids: Collection[str],
) -> PassDecision:
    """What one pass over ``listing`` records; see the module docstring."""
    matching: dict[str, Listed] = {}
    for item in listing:
        if item.url not in matching and wanted(entry, item):
            matching[item.url] = item
    if not state.baselined:
        return PassDecision(
            events=(DiscoveryBaselined(urls=sorted(matching), listed_at=format_time(now)),)
        )
    out = _Pass()
    taken = set(taken_ids)
    registered = 0
    for url, item in matching.items():
        if url in state.listed or url in state.ignored:
            continue
        previous = state.found.get(url)
        source_id = previous.source_id if previous is not None else ""
        if not source_id:
            source_id = source_id_for(entry.id, url, taken)
        matches, severity = rule_matches(entry, rules, item, source_id)
        relisted = url in state.gone
        if relisted:
            # Back after it left (a list that flickers, a page restored): what was decided
            # about it stands, and it is news only to channels that take everything.
            severity = "info"
            what = previous.state if previous is not None else "listed"
        elif previous is not None and previous.state in ("watching", "accepted"):
            what = previous.state  # listed again: it is already watched
        elif not entry.watch:
            what = "listed"
        elif registered < entry.max_new:
            what = "watching"
            registered += 1
            taken.add(source_id)
            settings = discovered_source(entry, source_id=source_id, url=url, title=item.title)
            out.registrations.append(
                (
                    source_id,
                    SourceRegistered(settings=settings.public_dict(), discovered_by=entry.id),
                )
            )
        else:
            what = "waiting"
        out.events.append(
            SourceDiscovered(
                url=url,
                title=item.title,
                lastmod=item.lastmod,
                company=entry.company,
                tags=list(entry.tags),
                rules=matches,
                severity=severity,
                state=what,
                source_id=source_id if what in ("watching", "accepted") else "",
                relisted=relisted,
            )
        )
    for url in sorted(state.listed - matching.keys()):
        out.events.append(SourceUnlisted(url=url))
    return PassDecision(events=tuple(out.events), registrations=tuple(out.registrations))

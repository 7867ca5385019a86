"""Events of a source's life in the configuration and of ``[[discover]]`` entries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from monitor.events.base import Event, without
from monitor.events.capture import JsonObject


@dataclass(frozen=True, kw_only=True)
class SourceRegistered(Event):
    """A source appeared in the configuration for the first time (or again after removal)."""

    type: ClassVar[str] = "SourceRegistered"
    settings: JsonObject
    # The ``[[discover]]`` entry that found the source (absent for configured sources,
    # so their events keep the shape and hashes they always had).
    discovered_by: str | None = None

    def to_data(self) -> JsonObject:
        return without(super().to_data(), "discovered_by")


@dataclass(frozen=True, kw_only=True)
class SourceUpdated(Event):
    """A source's settings changed in the configuration; ``changed`` names the keys."""

    type: ClassVar[str] = "SourceUpdated"
    settings: JsonObject
    changed: list[str]


@dataclass(frozen=True, kw_only=True)
class SourceRemoved(Event):
    """A source left the configuration; its history stays in the log."""

    type: ClassVar[str] = "SourceRemoved"
    reason: str = "removed from configuration"


@dataclass(frozen=True, kw_only=True)
class SourceMoved(Event):
    """The source's document now lives at ``to_url``: checks fetch it there from now on.

    ``how``: ``redirect`` (``from_url`` answered a permanent redirect, 301 or 308, whose
    ``status`` is kept) or ``canonical`` (the page's ``<link rel="canonical">`` changed to
    ``to_url``). The source keeps its id and its history; a temporary redirect is no move,
    and a "move" to another site or to a login or home page is a ``ContentSuspect``.
    """

    type: ClassVar[str] = "SourceMoved"
    from_url: str
    to_url: str
    how: str
    status: int | None = None


@dataclass(frozen=True, kw_only=True)
class SourceGone(Event):
    """The page is gone: ``checks`` consecutive checks answered 404/410 or redirected
    to a generic page (the site's home, an error or not-found page).

    Distinct from a transient ``FetchFailed``; a ``SourceRecovered`` with
    ``gone_since`` follows when the page is back.
    """

    type: ClassVar[str] = "SourceGone"
    url: str
    reason: str  # "http_404" | "http_410" | "redirected"
    checks: int
    status: int | None = None
    final_url: str = ""
    since: str = ""  # when the first of those checks happened


@dataclass(frozen=True, kw_only=True)
class DiscoveryBaselined(Event):
    """The first pass of a ``[[discover]]`` entry: the matching URLs already listed.

    Stream ``$discover:<id>``. No alert: these documents existed before we looked.
    """

    type: ClassVar[str] = "DiscoveryBaselined"
    urls: list[str]
    listed_at: str  # when the sitemap or index page was read
    # ETag / Last-Modified of the listings read (plain sitemaps and index pages), on the
    # last event of a pass, for the conditional GET of the next one. Absent when None.
    validators: dict[str, list[str]] | None = None

    def to_data(self) -> JsonObject:
        return without(super().to_data(), "validators")


@dataclass(frozen=True, kw_only=True)
class SourceDiscovered(Event):
    """A matching URL appeared in a ``[[discover]]`` entry's sitemap or index page.

    ``title`` is the link text (index page) or the sitemap's title, ``lastmod`` the
    sitemap's date when it gives one; ``severity`` and ``rules`` come from the rules the
    title and link text match. ``state``: ``watching`` (registered as source
    ``source_id``), ``waiting`` (past ``max_new`` in one pass: ``monitor discover
    --accept`` registers it) or ``listed`` (the entry does not watch what it finds).
    """

    type: ClassVar[str] = "SourceDiscovered"
    url: str
    title: str = ""
    lastmod: str = ""
    company: str = ""
    tags: list[str] = field(default_factory=list)
    rules: list[JsonObject] = field(default_factory=list)
    severity: str = "low"
    state: str = "listed"
    source_id: str = ""
    relisted: bool = False  # it had left the list before (then ``severity`` is ``info``)
    validators: dict[str, list[str]] | None = None  # as in DiscoveryBaselined

    def to_data(self) -> JsonObject:
        return without(super().to_data(), "validators")


@dataclass(frozen=True, kw_only=True)
class SourceUnlisted(Event):
    """A URL that a ``[[discover]]`` entry had found is no longer in its list.

    The page itself may still answer; a watched source keeps being checked.
    """

    type: ClassVar[str] = "SourceUnlisted"
    url: str
    validators: dict[str, list[str]] | None = None  # as in DiscoveryBaselined

    def to_data(self) -> JsonObject:
        return without(super().to_data(), "validators")


@dataclass(frozen=True, kw_only=True)
class DiscoveryReviewed(Event):
    """Someone decided about a discovered URL with ``monitor discover``.

    ``decision``: ``accepted`` (registered as source ``source_id``) or ``ignored``
    (never registered, never alerted again).
    """

    type: ClassVar[str] = "DiscoveryReviewed"
    url: str
    decision: str
    source_id: str = ""

"""What every web handler shares: the store, the settings, the followed read model, templates.

``LogFollower`` is the only writer of the read model. Each request first asks it
for the current model; it reads the events after the model's head (one indexed
query that returns nothing most of the time) under a lock, so concurrent
requests never apply an event twice and a daemon writing to the same SQLite file
from another process is visible on the next request.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

import jinja2
from aiohttp import web

from monitor.config.settings import Settings, UserSettings
from monitor.events import parse_time
from monitor.store import EventStore
from monitor.web.model import ReadModel
from monitor.web.records import SourceView

log = logging.getLogger(__name__)

Health = Callable[[], dict[str, object]]
DIFF_CACHE_SIZE = 32  # recomputed diffs of shortened records kept, by seq


class LogFollower:
    """Keeps a ``ReadModel`` at the head of the log."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self.model = ReadModel()
        self._lock = asyncio.Lock()

    async def current(self) -> ReadModel:
        async with self._lock:
            async for event in self.store.iterate(after=self.model.head_seq):
                self.model.apply(event)
        return self.model


@dataclass
class WebContext:
    """Shared state of one web application."""

    store: EventStore
    settings: Settings
    follower: LogFollower
    templates: jinja2.Environment
    health: Health | None = None
    static: dict[str, tuple[bytes, str, str]] = field(default_factory=dict)  # body, type, etag
    diff_cache: OrderedDict[int, list[dict[str, Any]]] = field(default_factory=OrderedDict)

    def base_url(self, request: web.Request) -> str:
        """Absolute URL prefix for feeds: ``[web] base_url`` if set, else this request's origin."""
        configured = self.settings.web.base_url or self.settings.monitor.base_url
        if configured:
            return configured.rstrip("/")
        return f"{request.scheme}://{request.host}"

    def render(self, name: str, **values: Any) -> str:
        return self.templates.get_template(name).render(**values)


CONTEXT = web.AppKey("context", WebContext)
# The [[user]] whose token the request carries, or None.
USER = web.RequestKey("user", UserSettings)


def context_of(request: web.Request) -> WebContext:
    return request.app[CONTEXT]


def source_or_404(
    model: ReadModel, source_id: str, missing: str = "no source {!r} in the log"
) -> SourceView:
    """The source ``source_id``; if the log has none, 404 with ``missing`` (given the id)."""
    view = model.source(source_id)
    if view is None:
        raise web.HTTPNotFound(text=missing.format(source_id))
    return view


async def requested_source(
    request: web.Request, missing: str = "no source {!r} in the log"
) -> tuple[WebContext, ReadModel, SourceView]:
    """The context, the current model and the source the URL's ``{source_id}`` names (or 404)."""
    context = context_of(request)
    model = await context.follower.current()
    return context, model, source_or_404(model, request.match_info["source_id"], missing)


def json_fields(value: object, *names: str) -> dict[str, Any]:
    """The attributes ``names`` of ``value`` as a JSON object, keys in that order."""
    return {name: getattr(value, name) for name in names}


def path_part(value: str) -> str:
    """``value`` percent-encoded for one URL path segment."""
    return quote(value, safe="")


def html_time(stamp: str) -> str:
    """A stored time as a valid HTML ``datetime`` value (whole seconds, UTC)."""
    return parse_time(stamp).strftime("%Y-%m-%dT%H:%M:%SZ")


def short_time(stamp: str) -> str:
    return parse_time(stamp).strftime("%Y-%m-%d %H:%M UTC")


def long_time(stamp: str) -> str:
    return parse_time(stamp).strftime("%Y-%m-%d %H:%M:%S UTC")


def age_seconds(stamp: str | None, now: datetime) -> int | None:
    if not stamp:
        return None
    return max(0, int((now - parse_time(stamp)).total_seconds()))

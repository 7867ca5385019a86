"""Search across all history in the web view: ``/search`` (a page) and ``/api/search``.

Both ask the same search projection (``monitor.desk.search_index``) as
``monitor search``, brought up to the log's head on each request. The index is
opened on the first search, not at start-up, so a view nobody searches costs
nothing; it is closed with the application.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from aiohttp import web

from monitor.config.parse import parse_duration
from monitor.desk.search import SearchHit, match_expression
from monitor.desk.search_index import Index, index_for
from monitor.events import format_time, parse_time
from monitor.web.context import WebContext, context_of
from monitor.web.diff_view import Piece, mark, term_pattern
from monitor.web.params import int_param, seq_param, since_param

PAGE_HITS = 50
MAX_HITS = 200
SIDES = ("added", "removed", "capture")


@dataclass(frozen=True, kw_only=True)
class SearchQuery:
    """A search as the page and the API take it."""

    q: str = ""
    side: str = ""
    company: str = ""
    source: str = ""
    since: str = ""
    before: int | None = None
    limit: int = PAGE_HITS

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> SearchQuery:
        values = {k: query.get(k, "").strip() for k in ("q", "side", "company", "source", "since")}
        if values["side"] and values["side"] not in SIDES:
            raise web.HTTPBadRequest(text=f"side must be one of {', '.join(SIDES)}")
        if values["since"]:
            values["since"] = _since(values["since"])
        before_text, limit_text = query.get("before", ""), query.get("limit", "")
        if before_text and not before_text.isdigit():
            raise web.HTTPBadRequest(text="before must be a seq (a whole number)")
        if limit_text and (not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_HITS):
            raise web.HTTPBadRequest(text=f"limit must be a whole number from 1 to {MAX_HITS}")
        return cls(
            **values,
            before=int(before_text) if before_text else None,
            limit=int(limit_text) if limit_text else PAGE_HITS,
        )

    def params(self, **changes: str) -> dict[str, str]:
        base = {
            "q": self.q,
            "side": self.side,
            "company": self.company,
            "source": self.source,
            "since": self.since,
        }
        return {k: v for k, v in {**base, **changes}.items() if v}


def _since(text: str) -> str:
    """An ISO 8601 time or date, or a duration ago ("30d"), as a stored time."""
    try:
        if text[:1].isdigit() and text[-1:].lower() in "smhdw" and "-" not in text:
            return format_time(datetime.now(UTC) - timedelta(seconds=parse_duration(text)))
        return format_time(parse_time(text))
    except ValueError:
        raise web.HTTPBadRequest(
            text="since must be a time like 2020-07-01 or 2020-07-01T08:00:00Z, or a duration "
            "like 30d"
        ) from None


@dataclass
class _Holder:
    """The application's search index, opened on the first search."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    index: Index | None = None


_SEARCH = web.AppKey("search", _Holder)


routes = web.RouteTableDef()


def add_search_routes(app: web.Application) -> None:
    app.router.add_routes(routes)
    app[_SEARCH] = _Holder()
    app.on_cleanup.append(_close)


async def _index(request: web.Request, context: WebContext) -> Index:
    holder = request.app[_SEARCH]
    async with holder.lock:
        if holder.index is None:
            holder.index = await asyncio.to_thread(index_for, context.store)
        await holder.index.catch_up(context.store)
        return holder.index


async def _close(app: web.Application) -> None:
    index = app[_SEARCH].index
    if index is not None:
        index.close()


async def _hits(request: web.Request, search: SearchQuery) -> tuple[list[SearchHit], bool]:
    context = context_of(request)
    if match_expression(search.q) is None:
        return [], False
    index = await _index(request, context)
    found = await index.search(
        search.q,
        side=search.side or None,
        company=search.company,
        source=search.source,
        since=search.since or None,
        before=search.before,
        limit=search.limit + 1,
    )
    return found[: search.limit], len(found) > search.limit


@routes.get("/search")
async def search_page(request: web.Request) -> web.Response:
    context = context_of(request)
    model = await context.follower.current()
    search = SearchQuery.from_query(request.query)
    hits, more = await _hits(request, search)
    next_link = None
    if more and hits:
        next_link = "/search?" + urlencode(search.params(before=str(hits[-1].seq)))
    pattern = term_pattern([" ".join(search.q.split())])
    body = context.render(
        "search.html",
        head_seq=model.head_seq,
        search=search,
        hits=hits,
        sentences=[mark([Piece(0, hit.sentence)], pattern) for hit in hits],
        next_link=next_link,
        sources=model.sources,
        companies=model.companies(),
        sides=SIDES,
        searched=match_expression(search.q) is not None,
    )
    return web.Response(text=body, content_type="text/html", charset="utf-8")


def _api_query(query: Mapping[str, str]) -> dict[str, str]:
    """The API's parameters, held to its OpenAPI document (``monitor.web.params``):
    every value it allows is read, every one it forbids is a 400. The page stays lenient."""
    params = {name: query[name] for name in query}
    if not params.get("q"):
        raise web.HTTPBadRequest(text="q is required: the words to find")
    if "side" in params and params["side"] not in SIDES:
        raise web.HTTPBadRequest(text=f"side must be one of {', '.join(SIDES)}")
    before = seq_param(query, "before")
    if before is not None:
        params["before"] = str(before)
    limit = int_param(query, "limit", 1, MAX_HITS)
    if limit is not None:
        params["limit"] = str(limit)
    since = since_param(query, "since", datetime.now(UTC))
    if since is not None:
        params["since"] = since
    return params


@routes.get("/api/search")
async def search_api(request: web.Request) -> web.Response:
    search = SearchQuery.from_query(_api_query(request.query))
    if match_expression(search.q) is None:
        # Nothing in q is a word (punctuation, controls): a search that finds nothing.
        return web.json_response({"hits": [], "next": None}, dumps=_dumps)
    hits, more = await _hits(request, search)
    next_link = None
    if more and hits:
        params = search.params(before=str(hits[-1].seq), limit=str(search.limit))
        next_link = "/api/search?" + urlencode(params)
    return web.json_response(
        {"hits": [hit.to_json() for hit in hits], "next": next_link}, dumps=_dumps
    )


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

"""What ``[[discover]]`` found, in the web view (``/discover``) and the API (``/api/discoveries``).

Read only, like every route: the read model folds each entry's stream
(``$discover:<id>``) with the same pure fold ``monitor discover`` uses, so the
page, the API and the CLI agree. The entry's company comes from the
configuration when the server has one; everything else from the log.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from monitor.discover.state import DiscoveryState, found_json, found_state
from monitor.web.context import context_of
from monitor.web.model import ReadModel

JsonSchema = dict[str, Any]

FOUND_STATES = ("listed", "waiting", "watching", "accepted", "ignored", "unlisted")


routes = web.RouteTableDef()


def add_discover_routes(app: web.Application) -> None:
    app.router.add_routes(routes)


def _entries(request: web.Request, model: ReadModel) -> list[tuple[DiscoveryState, str]]:
    companies = {d.id: d.company for d in context_of(request).settings.discover}
    return [(model.discoveries[i], companies.get(i, "")) for i in sorted(model.discoveries)]


@routes.get("/api/discoveries")
async def discoveries(request: web.Request) -> web.Response:
    model = await context_of(request).follower.current()
    query = request.query
    wanted_state = query.get("state")
    if wanted_state is not None and wanted_state not in FOUND_STATES:
        raise web.HTTPBadRequest(text=f"state must be one of {', '.join(FOUND_STATES)}")
    only = query.get("entry")
    entries = []
    for state, company in _entries(request, model):
        if only is not None and state.discover_id != only:
            continue
        found = [
            found_json(f)
            for f in state.found.values()
            if wanted_state is None or found_state(f) == wanted_state
        ]
        entries.append(
            {
                "id": state.discover_id,
                "company": company,
                "baselined_at": state.baselined_at,
                "listed": len(state.listed),
                "consecutive_failures": state.consecutive_failures,
                "last_pass_at": state.last_pass_at,
                "found": found,
            }
        )
    return web.json_response({"head": model.head_seq, "entries": entries})


@routes.get("/discover")
async def discover_page(request: web.Request) -> web.Response:
    from monitor.web.views import page  # the views module registers routes that import us

    context = context_of(request)
    model = await context.follower.current()
    rows = [
        (state, company, [(f, found_state(f)) for f in reversed(list(state.found.values()))])
        for state, company in _entries(request, model)
    ]
    return page(context, model, "discover.html", entries=rows)


_TIME: JsonSchema = {"type": "string", "format": "date-time"}
_NULLABLE_TIME: JsonSchema = {"oneOf": [_TIME, {"type": "null"}]}


def _record(properties: dict[str, JsonSchema]) -> JsonSchema:
    """A JSON object with exactly these properties, every one required."""
    return {
        "type": "object",
        "additionalProperties": False,
        "required": list(properties),
        "properties": properties,
    }


SCHEMAS: dict[str, JsonSchema] = {
    "Found": _record(
        {
            "url": {"type": "string"},
            "title": {"type": "string"},
            "lastmod": {"type": "string"},
            "severity": {"type": "string", "enum": ["info", "low", "medium", "high", "critical"]},
            "state": {"type": "string", "enum": list(FOUND_STATES)},
            "source_id": {"oneOf": [{"type": "string"}, {"type": "null"}]},
            "seq": {"type": "integer", "minimum": 0},
            "found_at": {"type": "string"},
        }
    ),
    "DiscoveryEntry": _record(
        {
            "id": {"type": "string"},
            "company": {"type": "string"},
            "baselined_at": _NULLABLE_TIME,
            "listed": {"type": "integer", "minimum": 0},
            "consecutive_failures": {"type": "integer", "minimum": 0},
            "last_pass_at": _NULLABLE_TIME,
            "found": {"type": "array", "items": {"$ref": "#/components/schemas/Found"}},
        }
    ),
    "DiscoveryList": _record(
        {
            "head": {"type": "integer", "minimum": 0},
            "entries": {"type": "array", "items": {"$ref": "#/components/schemas/DiscoveryEntry"}},
        }
    ),
}

PATH: JsonSchema = {
    "get": {
        "operationId": "listDiscoveries",
        "summary": "What each [[discover]] entry found since its first pass, and its state",
        "parameters": [
            {
                "name": "entry",
                "in": "query",
                "required": False,
                "description": "Only this [[discover]] entry id.",
                "schema": {"type": "string"},
            },
            {
                "name": "state",
                "in": "query",
                "required": False,
                "description": "Only found URLs in this state.",
                "schema": {"type": "string", "enum": list(FOUND_STATES)},
            },
        ],
        "responses": {
            "200": {
                "description": "The entries and what they found.",
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/DiscoveryList"}}
                },
            },
            "400": {
                "description": "A parameter has a bad value.",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            },
            "401": {
                "description": "A token is set and none (or a wrong one) was sent.",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            },
        },
    }
}

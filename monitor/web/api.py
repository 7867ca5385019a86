"""The read-only JSON API: sources, events paged by ``seq``, changes, texts at a time.

Every answer conforms to the schemas in ``monitor.web.openapi`` (served at
``/api/openapi.json``; the tests validate each route against it). Paging is by
``seq``, never by offset, so a page boundary stays put while the daemon appends:
``/api/events`` goes forward with ``after``, ``/api/changes`` backward from the
newest with ``before``; each page carries a relative ``next`` link, or null on
the last page.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from monitor.config.settings import QUIET_CLASSES, SEVERITY_ORDER
from monitor.errors import BlobMissingError
from monitor.events import ChangeDetected
from monitor.web.context import context_of, json_fields, path_part, requested_source
from monitor.web.desk import review_json, writes_enabled
from monitor.web.figures import add_figures_routes
from monitor.web.model import Filters, ReadModel
from monitor.web.openapi import openapi_document
from monitor.web.params import seq_param, time_param
from monitor.web.records import STATUSES, ChangeRecord, GoodCapture, SourceView

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
_DIGITS = re.compile(r"[0-9]+")
# Every classification a change can have; the quiet ones (monitor.noise) are changes too.
CLASSIFICATIONS = ("substantive", "reverted", *QUIET_CLASSES)
_CHOICES: dict[str, tuple[str, ...]] = {
    "severity": tuple(SEVERITY_ORDER),
    "status": STATUSES,
    "classification": CLASSIFICATIONS,
}
SOURCE_FILTERS = ("company", "tag", "rule", "severity", "q", "status")
CHANGE_FILTERS = ("company", "tag", "rule", "severity", "q", "source", "classification")


routes = web.RouteTableDef()


def add_api_routes(app: web.Application) -> None:
    app.router.add_routes(routes)
    add_figures_routes(app)


def _json(value: Mapping[str, Any]) -> web.Response:
    return web.json_response(value, dumps=_dumps)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _int_param(query: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    # ASCII digits only: str.isdigit() also takes "¹" and "٣", which int() refuses or reads.
    # A parameter given with no value is a mistake too, not a request for the default.
    if not _DIGITS.fullmatch(raw) or not low <= int(raw) <= high:
        raise web.HTTPBadRequest(text=f"{name} must be a whole number from {low} to {high}")
    return int(raw)


def _filters(query: Mapping[str, str], names: tuple[str, ...]) -> Filters:
    """The filters of a route; each of ``names`` that takes one of a set of values is checked.

    The HTML pages read an empty value as "any" (their forms send empty fields); the API
    documents these parameters as enums, so there an empty value is refused like any other.
    """
    for name in names:
        allowed = _CHOICES.get(name)
        if allowed is not None and name in query and query[name] not in allowed:
            raise web.HTTPBadRequest(text=f"{name} must be one of {', '.join(allowed)}")
    try:
        return Filters.from_query(query)
    except ValueError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None


# --------------------------------------------------------------------------- shapes


def source_json(view: SourceView) -> dict[str, Any]:
    state = view.state
    last = state.last_good
    part = path_part(view.source_id)
    return {
        "id": view.source_id,
        "company": view.company,
        "title": view.title,
        "url": view.url,
        "tags": list(view.tags),
        "status": view.status,
        "registered": state.registered,
        "removed": state.removed,
        "last_change_at": state.last_change_at,
        "last_change_seq": state.last_change_seq,
        "last_check_at": view.last_check_at,
        "changes": state.changes,
        "suspects": state.suspects,
        "failures": state.failures,
        "consecutive_failures": state.consecutive_failures,
        "text_sha256": last.text_sha256 if last is not None else None,
        "links": {
            "self": f"/api/sources/{part}",
            "html": f"/sources/{part}",
            "feed": f"/feeds/sources/{part}.atom",
            "text": f"/api/sources/{part}/text",
        },
    }


def capture_json(capture: GoodCapture) -> dict[str, Any]:
    names = ("seq", "kind", "recorded_at", "fetched_at", "text_sha256", "raw_sha256")
    return json_fields(capture, *names)


def change_json(record: ChangeRecord, model: ReadModel) -> dict[str, Any]:
    view = model.source(record.source_id)
    return {
        "seq": record.seq,
        "event_id": record.event_id,
        "source_id": record.source_id,
        "company": view.company if view is not None else "",
        "title": view.title if view is not None else record.source_id,
        "recorded_at": record.recorded_at,
        "fetched_at": record.fetched_at,
        "classification": record.classification,
        "silent": record.silent,
        "severity": record.severity,
        "rules": list(record.rules),
        "summary": record.summary,
        "stats": dict(record.stats),
        "text_sha256": record.text_sha256,
        "previous_text_sha256": record.previous,
        "links": {
            "self": f"/api/changes/{record.seq}",
            "html": f"/changes/{record.seq}",
            "text": f"/blobs/{record.text_sha256}",
            "previous_text": f"/blobs/{record.previous}",
        },
    }


# --------------------------------------------------------------------------- handlers


@routes.get("/api/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    # What this server does: without an analyst, the write operation is not offered.
    return _json(openapi_document(writes=writes_enabled(context_of(request).settings)))


@routes.get("/api/sources")
async def sources(request: web.Request) -> web.Response:
    model = await context_of(request).follower.current()
    filters = _filters(request.query, SOURCE_FILTERS)
    found = model.filter_sources(filters)
    return _json({"head": model.head_seq, "sources": [source_json(v) for v in found]})


@routes.get("/api/sources/{source_id}")
async def source(request: web.Request) -> web.Response:
    _, _, view = await requested_source(request)
    body = source_json(view)
    body["captures"] = [capture_json(c) for c in view.captures]
    body["timeline"] = [
        {
            "seq": e.seq,
            "type": e.type,
            "recorded_at": e.recorded_at,
            "headline": e.headline,
            "detail": e.detail,
            "severity": e.severity,
            "change_seq": e.change_seq,
        }
        for e in view.timeline
    ]
    return _json(body)


@routes.get("/api/sources/{source_id}/text")
async def text_at(request: web.Request) -> web.Response:
    context, _, view = await requested_source(request)
    at = time_param(request.query, "at")
    capture = view.capture_at(at)
    if capture is None:
        raise web.HTTPNotFound(
            text=f"source {view.source_id!r} has no good capture at or before {at or 'now'}"
        )
    try:
        text = (await context.store.get_blob(capture.text_sha256)).decode("utf-8", "replace")
    except BlobMissingError:
        raise web.HTTPNotFound(text=f"the text blob {capture.text_sha256} is missing") from None
    return _json(
        {
            "source_id": view.source_id,
            "at": at,
            "capture": capture_json(capture),
            "text": text,
        }
    )


@routes.get("/api/events")
async def events(request: web.Request) -> web.Response:
    context = context_of(request)
    model = await context.follower.current()
    query = request.query
    after = seq_param(query, "after") or 0
    limit = _int_param(query, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    stream = query.get("stream") or None
    types = [t for t in query.getall("type", []) if t] or None
    page = await context.store.read(after=after, stream=stream, types=types, limit=limit)
    next_link = None
    if len(page) == limit:
        params: list[tuple[str, str | int]] = [("after", page[-1].seq), ("limit", limit)]
        if stream:
            params.append(("stream", stream))
        params += [("type", t) for t in types or ()]
        next_link = "/api/events?" + urlencode(params)
    return _json(
        {
            "head": model.head_seq,
            "events": [e.to_json() for e in page],
            "next": next_link,
        }
    )


@routes.get("/api/changes")
async def changes(request: web.Request) -> web.Response:
    model = await context_of(request).follower.current()
    query = request.query
    filters = _filters(query, CHANGE_FILTERS)
    before = seq_param(query, "before") or None
    limit = _int_param(query, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    # One more than asked tells whether a next page exists without a second scan.
    found = model.filter_changes(filters, before=before, limit=limit + 1)
    page, more = found[:limit], len(found) > limit
    next_link = None
    if more:
        params = {**filters.as_query(), "before": str(page[-1].seq), "limit": str(limit)}
        next_link = "/api/changes?" + urlencode(params)
    return _json(
        {
            "head": model.head_seq,
            "changes": [change_json(c, model) for c in page],
            "next": next_link,
        }
    )


@routes.get("/api/changes/{seq}")
async def change(request: web.Request) -> web.Response:
    context = context_of(request)
    model = await context.follower.current()
    seq_text = request.match_info["seq"]
    record = model.changes.get(int(seq_text)) if seq_text.isdigit() else None
    event = await context.store.get_event(record.seq) if record is not None else None
    if record is None or event is None:
        raise web.HTTPNotFound(text=f"no change {seq_text!r} in the log")
    detected = event.event
    if not isinstance(detected, ChangeDetected):
        raise web.HTTPNotFound(text=f"no change {seq_text!r} in the log")
    body = change_json(record, model)
    body["capture"] = detected.capture.to_data()
    body["diff"] = detected.diff
    body["matched_rules"] = list(detected.rules)
    body["previous_seen_until"] = detected.previous_seen_until
    body["reviews"] = [review_json(r) for r in model.triage.history.get(record.seq, [])]
    body["notifications"] = [
        {
            "seq": n.seq,
            "recorded_at": n.recorded_at,
            "outcome": "sent" if n.sent else "failed",
            "channel": n.channel,
            "attempt": n.attempt,
            "error": n.error,
            "final": n.final,
        }
        for n in model.notifications.get(record.seq, [])
    ]
    return _json(body)

"""The OpenAPI 3.1 document of the JSON API (served at ``/api/openapi.json``).

Written by hand, next to the code in ``monitor.web.api`` that it describes; the
tests validate the document itself and every API answer against these schemas
(JSON Schema 2020-12, as OpenAPI 3.1 uses), so the two cannot drift apart
silently. Top-level answer objects forbid unknown properties for that reason.
What describes a setting (severities, a source's identity, the settings a
``SourceRegistered`` records) is derived from the settings' declarations
(``monitor.config.schema``), never written again here.

Why this is one module: it is one document; its schemas refer to each other by name,
and reading them side by side with ``monitor.web.api`` is how a change is reviewed.
"""

from __future__ import annotations

import copy
from typing import Any

from monitor import __version__
from monitor.config.schema import SEVERITY_SCHEMA, SOURCE_IDENTITY, settings_schema
from monitor.config.settings import SourceSettings
from monitor.web.discover import PATH as DISCOVERY_PATH
from monitor.web.discover import SCHEMAS as DISCOVERY_SCHEMAS
from monitor.web.figures import WHERE_PATTERN
from monitor.web.records import STATUSES

JsonSchema = dict[str, Any]

TIME: JsonSchema = {"type": "string", "format": "date-time"}
SHA256: JsonSchema = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
SEVERITY: JsonSchema = SEVERITY_SCHEMA
STATUS: JsonSchema = {"type": "string", "enum": list(STATUSES)}


def _nullable(schema: JsonSchema) -> JsonSchema:
    return {"oneOf": [schema, {"type": "null"}]}


def _obj(properties: dict[str, JsonSchema], *, strict: bool = True) -> JsonSchema:
    schema: JsonSchema = {
        "type": "object",
        "required": sorted(properties),
        "properties": properties,
    }
    if strict:
        schema["additionalProperties"] = False
    return schema


def _ref(name: str) -> JsonSchema:
    return {"$ref": f"#/components/schemas/{name}"}


def _links(*names: str) -> JsonSchema:
    return _obj({name: {"type": "string"} for name in names})


_SOURCE_PROPERTIES: dict[str, JsonSchema] = {
    **SOURCE_IDENTITY,
    "status": STATUS,
    "registered": {"type": "boolean"},
    "removed": {"type": "boolean"},
    "last_change_at": _nullable(TIME),
    "last_change_seq": _nullable({"type": "integer", "minimum": 1}),
    "last_check_at": _nullable(TIME),
    "changes": {"type": "integer", "minimum": 0},
    "suspects": {"type": "integer", "minimum": 0},
    "failures": {"type": "integer", "minimum": 0},
    "consecutive_failures": {"type": "integer", "minimum": 0},
    "text_sha256": _nullable(SHA256),
    "links": _links("self", "html", "feed", "text"),
}

_CHANGE_PROPERTIES: dict[str, JsonSchema] = {
    "seq": {"type": "integer", "minimum": 1},
    "event_id": {"type": "string"},
    "source_id": {"type": "string"},
    "company": {"type": "string"},
    "title": {"type": "string"},
    "recorded_at": TIME,
    "fetched_at": TIME,
    "classification": {"type": "string"},
    # A quiet change (volatile, dated, chrome) recorded without an alert.
    "silent": {"type": "boolean"},
    "severity": SEVERITY,
    "rules": {"type": "array", "items": {"type": "string"}},
    "summary": {"type": "string"},
    "stats": {"type": "object", "additionalProperties": {"type": "integer"}},
    "text_sha256": SHA256,
    "previous_text_sha256": SHA256,
    "links": _links("self", "html", "text", "previous_text"),
}

SCHEMAS: dict[str, JsonSchema] = {
    # RFC 9457 problem details; "error" (the same text as "detail") predates them.
    "Error": _obj(
        {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": {"type": "string"},
            "error": {"type": "string"},
        }
    ),
    "Source": _obj(_SOURCE_PROPERTIES),
    "SourceList": _obj(
        {"head": {"type": "integer"}, "sources": {"type": "array", "items": _ref("Source")}}
    ),
    "Capture": _obj(
        {
            "seq": {"type": "integer", "minimum": 1},
            "kind": {"type": "string", "enum": ["baseline", "change"]},
            "recorded_at": TIME,
            "fetched_at": TIME,
            "text_sha256": SHA256,
            "raw_sha256": SHA256,
        }
    ),
    "TimelineEntry": _obj(
        {
            "seq": {"type": "integer", "minimum": 1},
            "type": {"type": "string"},
            "recorded_at": TIME,
            "headline": {"type": "string"},
            "detail": {"type": "string"},
            "severity": _nullable({"type": "string"}),
            "change_seq": _nullable({"type": "integer", "minimum": 1}),
        }
    ),
    "SourceDetail": _obj(
        {
            **_SOURCE_PROPERTIES,
            "captures": {"type": "array", "items": _ref("Capture")},
            "timeline": {"type": "array", "items": _ref("TimelineEntry")},
        }
    ),
    "Text": _obj(
        {
            "source_id": {"type": "string"},
            "at": _nullable(TIME),
            "capture": _ref("Capture"),
            "text": {"type": "string"},
        }
    ),
    "Event": _obj(
        {
            "seq": {"type": "integer", "minimum": 1},
            "event_id": {"type": "string"},
            "stream": {"type": "string"},
            "version": {"type": "integer", "minimum": 1},
            "type": {"type": "string"},
            "schema": {"type": "integer", "minimum": 1},
            "recorded_at": TIME,
            "data": {"type": "object"},
            "prev_hash": SHA256,
            "hash": SHA256,
        }
    ),
    "EventPage": _obj(
        {
            "head": {"type": "integer", "minimum": 0},
            "events": {"type": "array", "items": _ref("Event")},
            "next": _nullable({"type": "string"}),
        }
    ),
    "Change": _obj(_CHANGE_PROPERTIES),
    "ChangePage": _obj(
        {
            "head": {"type": "integer", "minimum": 0},
            "changes": {"type": "array", "items": _ref("Change")},
            "next": _nullable({"type": "string"}),
        }
    ),
    "Notification": _obj(
        {
            "seq": {"type": "integer", "minimum": 1},
            "recorded_at": TIME,
            "outcome": {"type": "string", "enum": ["sent", "failed"]},
            "channel": {"type": "string"},
            "attempt": {"type": "integer", "minimum": 1},
            "error": {"type": "string"},
            "final": {"type": "boolean"},
        }
    ),
    "ChangeDetail": _obj(
        {
            **_CHANGE_PROPERTIES,
            "capture": {"type": "object"},
            "diff": _obj(
                {
                    "patch": {"type": "string"},
                    "summary": {"type": "string"},
                    "stats": {"type": "object", "additionalProperties": {"type": "integer"}},
                    "changes": {"type": "array", "items": {"type": "object"}},
                },
                strict=False,
            ),
            "matched_rules": {"type": "array", "items": {"type": "object"}},
            "previous_seen_until": {"type": "string"},
            "notifications": {"type": "array", "items": _ref("Notification")},
        }
    ),
    **DISCOVERY_SCHEMAS,
    # The settings a SourceRegistered or SourceUpdated event records (its data.settings).
    "SourceSettings": {**settings_schema(SourceSettings), "additionalProperties": False},
    "Health": _obj(
        {
            "ok": {"type": "boolean"},
            "head_seq": {"type": "integer", "minimum": 0},
            "last_event_at": _nullable(TIME),
            "last_check_at": _nullable(TIME),
            "last_check_age_seconds": _nullable({"type": "integer", "minimum": 0}),
            "notifier_cursor": {"type": "integer", "minimum": 0},
            "notifier_lag": {"type": "integer", "minimum": 0},
            "scheduler": _nullable({"type": "object"}),
        }
    ),
}

_NUMBER: JsonSchema = {"type": "number"}
_FIGURE_CAPTURE = _obj(
    {"seq": {"type": "integer", "minimum": 1}, "fetched_at": TIME, "recorded_at": TIME}
)
SCHEMAS.update(
    {
        "FigureValue": {
            "type": "object",
            "required": ["text", "reported"],
            "properties": {
                "text": {"type": "string"},
                "reported": {"type": "boolean"},
                "number": _NUMBER,
                "low": _NUMBER,
                "high": _nullable(_NUMBER),
                "unit": {"type": "string"},
            },
            "additionalProperties": False,
        },
        "FigureRow": _obj(
            {
                "key": {"type": "object", "additionalProperties": {"type": "string"}},
                "period": {"type": "string"},
                "values": {"type": "object", "additionalProperties": _ref("FigureValue")},
                "first_seen": _nullable(_FIGURE_CAPTURE),
                "restated": {"type": "boolean"},
                "restatements": {
                    "type": "array",
                    "items": _obj(
                        {
                            "column": {"type": "string"},
                            "old": {"type": "string"},
                            "new": {"type": "string"},
                            "seq": {"type": "integer", "minimum": 1},
                            "change_seq": {"type": "integer", "minimum": 1},
                            "recorded_at": TIME,
                        }
                    ),
                },
                "withdrawn": _nullable(
                    _obj(
                        {
                            "seq": {"type": "integer", "minimum": 1},
                            "change_seq": {"type": "integer", "minimum": 1},
                            "recorded_at": TIME,
                        }
                    )
                ),
            }
        ),
        "Figures": _obj(
            {
                "source_id": {"type": "string"},
                "as_of": _nullable(TIME),
                "capture": _obj(
                    {
                        "seq": {"type": "integer", "minimum": 1},
                        "fetched_at": TIME,
                        "raw_sha256": SHA256,
                    }
                ),
                "key": {"type": "array", "items": {"type": "string"}},
                "period": {"type": "string"},
                "columns": {"type": "array", "items": {"type": "string"}},
                "rows": {"type": "array", "items": _ref("FigureRow")},
            }
        ),
    }
)


def _param(name: str, where: str, schema: JsonSchema, description: str) -> JsonSchema:
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "description": description,
        "schema": schema,
    }


def _answer(description: str, schema: str) -> JsonSchema:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


_ERRORS = {
    "400": _answer("A parameter has a bad value.", "Error"),
    "401": _answer("A token is set and none (or a wrong one) was sent.", "Error"),
}
_NOT_FOUND = {"404": _answer("Nothing with that id.", "Error")}
_FILTERS = [
    _param("company", "query", {"type": "string"}, "Only this company (case-insensitive)."),
    _param("tag", "query", {"type": "string"}, "Only sources with this tag."),
    _param("rule", "query", {"type": "string"}, "Only changes that matched this rule id."),
    _param("severity", "query", SEVERITY, "Only changes of at least this severity."),
    _param("q", "query", {"type": "string"}, "Words in the change summary or changed text."),
]
_SOURCE_ID = _param("source_id", "path", {"type": "string"}, "A source id.")
_LIMIT = _param(
    "limit", "query", {"type": "integer", "minimum": 1, "maximum": 1000}, "Page size (100)."
)

PATHS: dict[str, JsonSchema] = {
    "/api/sources": {
        "get": {
            "operationId": "listSources",
            "summary": "Every source in the log with its status",
            "parameters": [
                *_FILTERS,
                _param("status", "query", STATUS, "Only sources with this status."),
            ],
            "responses": {"200": _answer("The sources.", "SourceList"), **_ERRORS},
        }
    },
    "/api/sources/{source_id}": {
        "get": {
            "operationId": "getSource",
            "summary": "One source: status, good captures and timeline",
            "parameters": [_SOURCE_ID],
            "responses": {
                "200": _answer("The source.", "SourceDetail"),
                **_ERRORS,
                **_NOT_FOUND,
            },
        }
    },
    "/api/sources/{source_id}/text": {
        "get": {
            "operationId": "getSourceText",
            "summary": "The normalized text of a source as it was at a time",
            "parameters": [
                _SOURCE_ID,
                _param("at", "query", TIME, "A time (RFC 3339); default now."),
            ],
            "responses": {"200": _answer("The text.", "Text"), **_ERRORS, **_NOT_FOUND},
        }
    },
    "/api/events": {
        "get": {
            "operationId": "listEvents",
            "summary": "The log itself, in seq order, a page at a time",
            "parameters": [
                _param("after", "query", {"type": "integer", "minimum": 0}, "Events after seq."),
                _LIMIT,
                _param("stream", "query", {"type": "string"}, "Only this stream."),
                {
                    **_param("type", "query", {"type": "array", "items": {"type": "string"}}, ""),
                    "description": "Only these event types (repeat the parameter).",
                    "explode": True,
                },
            ],
            "responses": {"200": _answer("A page of events.", "EventPage"), **_ERRORS},
        }
    },
    "/api/changes": {
        "get": {
            "operationId": "listChanges",
            "summary": "Detected changes, newest first, a page at a time",
            "parameters": [
                *_FILTERS,
                _param("source", "query", {"type": "string"}, "Only this source id."),
                _param(
                    "classification",
                    "query",
                    {
                        "type": "string",
                        "enum": ["substantive", "reverted", "volatile", "dated", "chrome"],
                    },
                    "Only this kind of change.",
                ),
                _param("before", "query", {"type": "integer", "minimum": 0}, "Changes before seq."),
                _LIMIT,
            ],
            "responses": {"200": _answer("A page of changes.", "ChangePage"), **_ERRORS},
        }
    },
    "/api/changes/{seq}": {
        "get": {
            "operationId": "getChange",
            "summary": "One change with its capture, diff, matched rules and notifications",
            "parameters": [
                _param("seq", "path", {"type": "integer", "minimum": 1}, "The change's seq.")
            ],
            "responses": {
                "200": _answer("The change.", "ChangeDetail"),
                **_ERRORS,
                **_NOT_FOUND,
            },
        }
    },
    "/api/discoveries": DISCOVERY_PATH,
    "/healthz": {
        "get": {
            "operationId": "health",
            "summary": "Liveness: last check age, notifier lag, scheduler (no token needed)",
            "security": [],
            "responses": {
                "200": _answer("Healthy.", "Health"),
                "503": _answer("Not healthy.", "Health"),
            },
        }
    },
}
PATHS["/api/sources/{source_id}/figures"] = {
    "get": {
        "operationId": "getSourceFigures",
        "summary": "A source's figures: one row per key and period, with restatements",
        "parameters": [
            _SOURCE_ID,
            {
                **_param(
                    "where",
                    "query",
                    {"type": "array", "items": {"type": "string", "pattern": WHERE_PATTERN}},
                    "",
                ),
                "description": "COLUMN=VALUE on a key or period column (repeat the parameter).",
                "explode": True,
            },
            {
                **_param("column", "query", {"type": "array", "items": {"type": "string"}}, ""),
                "description": "Only these value columns (repeat the parameter).",
                "explode": True,
            },
            _param(
                "as_of", "query", TIME, "What the report said at this time (RFC 3339); default now."
            ),
        ],
        "responses": {"200": _answer("The figures.", "Figures"), **_ERRORS, **_NOT_FOUND},
    }
}

# The analyst's desk: search across all history, and reviews (the only write).
SCHEMAS.update(
    {
        "SearchHit": _obj(
            {
                "seq": {"type": "integer", "minimum": 1},
                "side": {"type": "string", "enum": ["added", "removed", "capture"]},
                "source_id": {"type": "string"},
                "company": {"type": "string"},
                "at": TIME,
                "sentence": {"type": "string"},
                "link": {"type": "string"},
            }
        ),
        "SearchPage": _obj(
            {
                "hits": {"type": "array", "items": _ref("SearchHit")},
                "next": _nullable({"type": "string"}),
            }
        ),
        "Review": _obj(
            {
                "seq": {"type": "integer", "minimum": 1},
                "change_seq": {"type": "integer", "minimum": 1},
                "status": _nullable({"type": "string", "enum": ["important", "routine", "noise"]}),
                "note": {"type": "string"},
                "by": {"type": "string"},
                "at": TIME,
            }
        ),
        "ReviewResult": _obj(
            {
                "change_seq": {"type": "integer", "minimum": 1},
                "status": _nullable({"type": "string", "enum": ["important", "routine", "noise"]}),
                "reviews": {"type": "array", "items": _ref("Review")},
            }
        ),
    }
)
# A change's reviews and notes, oldest first (the last with a status is its status).
SCHEMAS["ChangeDetail"]["properties"]["reviews"] = {"type": "array", "items": _ref("Review")}
SCHEMAS["ChangeDetail"]["required"] = sorted(SCHEMAS["ChangeDetail"]["properties"])
PATHS.update(
    {
        "/api/search": {
            "get": {
                "operationId": "search",
                "summary": "Words in the added or removed text of every change and every capture",
                "parameters": [
                    {
                        **_param("q", "query", {"type": "string", "minLength": 1}, ""),
                        "required": True,
                        "description": "Words to find together (CJK too).",
                    },
                    _param(
                        "side",
                        "query",
                        {"type": "string", "enum": ["added", "removed", "capture"]},
                        "Only text changes added, removed, or captured pages.",
                    ),
                    _param("company", "query", {"type": "string"}, "Only this company."),
                    _param("source", "query", {"type": "string"}, "Only this source id."),
                    _param(
                        "since",
                        "query",
                        {
                            "anyOf": [
                                TIME,
                                {"type": "string", "format": "date"},
                                {"type": "string", "pattern": "^[0-9]+[smhdw]$"},
                            ]
                        },
                        "Recorded at or after: an RFC 3339 time, a date, or a duration ago (30d).",
                    ),
                    _param(
                        "before", "query", {"type": "integer", "minimum": 0}, "Hits before seq."
                    ),
                    _param(
                        "limit",
                        "query",
                        {"type": "integer", "minimum": 1, "maximum": 200},
                        "Page size (50).",
                    ),
                ],
                "responses": {"200": _answer("Hits, newest first.", "SearchPage"), **_ERRORS},
            }
        },
        "/api/changes/{seq}/reviews": {
            "post": {
                "operationId": "reviewChange",
                "summary": "Review (important, routine, noise) or annotate a change",
                "description": "Needs a [[user]] token of role analyst as a bearer token.",
                "parameters": [
                    _param("seq", "path", {"type": "integer", "minimum": 1}, "The change's seq.")
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "status": {
                                        "type": "string",
                                        "enum": ["important", "routine", "noise"],
                                    },
                                    "note": {"type": "string", "maxLength": 4000},
                                },
                                "additionalProperties": False,
                            }
                        }
                    },
                },
                "security": [{"bearer": []}],
                "responses": {
                    "201": _answer("Recorded; the change's reviews.", "ReviewResult"),
                    **_ERRORS,
                    "403": _answer("Not an analyst, or not a bearer token.", "Error"),
                    "405": {
                        "description": "Writes are off: no [[user]] of role analyst is configured."
                    },
                },
            }
        },
    }
)

DOCUMENT: JsonSchema = {
    "openapi": "3.1.0",
    "info": {
        "title": "policy-monitor read-only API",
        "version": __version__,
        "description": (
            "Read-only access to the monitor's event log and what it knows about each "
            "watched page. Times are UTC (RFC 3339). Paging is by seq."
        ),
        "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
    },
    "servers": [{"url": "/"}],
    "paths": PATHS,
    "components": {
        "schemas": SCHEMAS,
        "securitySchemes": {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "Needed when the server has `[web] token` set.",
            },
            "query": {"type": "apiKey", "in": "query", "name": "token"},
        },
    },
    "security": [{}, {"bearer": []}, {"query": []}],
}


def openapi_document(*, writes: bool = True) -> JsonSchema:
    """A fresh copy of the document (callers may not mutate the shared one).

    ``writes``: whether this server takes reviews (a ``[[user]]`` analyst exists); without
    them the write operations are left out, since every call would answer 405.
    """
    document = copy.deepcopy(DOCUMENT)
    if not writes:
        paths = document["paths"]
        for path in list(paths):
            paths[path].pop("post", None)
            if not paths[path]:
                del paths[path]
    return document

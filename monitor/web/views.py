"""HTML pages of the web view: dashboard, source, change, raw captures, errors.

Handlers gather values from the read model and the store, then render a Jinja2
template with autoescape on; no handler builds HTML by string concatenation.
Raw captures are served only as attachments with ``nosniff`` and a sandboxing
CSP, so a watched page can never run in the monitor's origin. Screenshots are
the one kind of blob shown inline, and only when a capture in the log names the
blob as its ``screenshot_sha256`` and its bytes are a PNG: the route cannot be
used to serve any other stored bytes as an image.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from aiohttp import web

from monitor.clock import utc_now
from monitor.config.settings import SEVERITY_ORDER
from monitor.errors import BlobMissingError
from monitor.events import Capture, ChangeDetected, capture_of, format_time
from monitor.store.pauses import pause_of_url, running_pauses
from monitor.web.context import (
    DIFF_CACHE_SIZE,
    WebContext,
    context_of,
    path_part,
    requested_source,
)
from monitor.web.desk import review_values
from monitor.web.diff_view import all_sentences, all_terms, blocks, recomputed_changes, rule_views
from monitor.web.figures import figures_section
from monitor.web.model import Filters, ReadModel
from monitor.web.records import STATUSES, GoodCapture, SourceView

log = logging.getLogger(__name__)

SHA256 = re.compile(r"[0-9a-f]{64}")
LANGUAGE_TAG = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*")
RECENT_CHANGES = 50
TIMELINE_ROWS = 500
TEXT_CHARS = 2_000_000  # a current text longer than this is offered as a download only
HTML_TYPE = "text/html"
# A raw capture is someone else's page: if a browser ever renders one, it runs nothing.
DOWNLOAD_CSP = "default-src 'none'; sandbox"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Content-addressed: the bytes behind a screenshot URL never change.
SCREENSHOT_CACHE = "private, max-age=31536000, immutable"


@dataclass(frozen=True, kw_only=True)
class Screenshot:
    """A screenshot shown on a change page."""

    side: str  # "before" | "after"
    sha256: str
    fetched_at: str
    seq: int

    @property
    def href(self) -> str:
        return f"/screenshots/{self.sha256}.png"  # built only from names SHA256 matched


routes = web.RouteTableDef()


def add_view_routes(app: web.Application) -> None:
    app.router.add_routes(routes)


def page(context: WebContext, model: ReadModel, template: str, **values: Any) -> web.Response:
    body = context.render(template, head_seq=model.head_seq, **values)
    return web.Response(text=body, content_type=HTML_TYPE, charset="utf-8")


def render_error(
    request: web.Request, status: int, reason: str, message: str, headers: Mapping[str, str]
) -> web.Response:
    """An error answer in the form the route speaks: JSON, plain text or an HTML page."""
    keep = {k: v for k, v in headers.items() if k in ("WWW-Authenticate", "Allow")}
    path = request.path
    if path.startswith("/api/"):
        return web.json_response(
            problem_details(status, reason, message), status=status, headers=keep
        )
    if path.startswith(("/feeds/", "/blobs/", "/screenshots/", "/static/", "/metrics", "/healthz")):
        return web.Response(status=status, text=f"{status} {reason}: {message}\n", headers=keep)
    context = context_of(request)
    body = context.render(
        "error.html", status=status, reason=reason, message=message, head_seq=None
    )
    return web.Response(
        status=status, text=body, content_type=HTML_TYPE, charset="utf-8", headers=keep
    )


def problem_details(status: int, reason: str, message: str) -> dict[str, Any]:
    """An RFC 9457 problem-details object; ``error`` stays for clients written before it."""
    detail = message or reason
    return {
        "type": "about:blank",
        "title": reason,
        "status": status,
        "detail": detail,
        "error": detail,
    }


def not_found(what: str) -> web.HTTPNotFound:
    return web.HTTPNotFound(text=what)


def safe_href(url: str) -> str | None:
    """``url`` if a browser may follow it as a plain link (http or https), else None."""
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return None
    return url if scheme in ("http", "https") else None


def screenshot_href(sha256: str) -> str | None:
    """The URL of a screenshot named in a capture, or None when the name is not a sha256."""
    return f"/screenshots/{sha256}.png" if SHA256.fullmatch(sha256) else None


def page_language(capture: Capture | None) -> str:
    """The capture's Content-Language as a lang attribute value ("" = unknown)."""
    headers = capture.headers if capture is not None else {}
    value = str(headers.get("content-language") or "").split(",")[0].strip()
    return value if LANGUAGE_TAG.fullmatch(value) else ""


def query_link(filters: Filters, **changes: str) -> str:
    """The dashboard URL for ``filters`` with some values replaced."""
    values = {**filters.as_query(), **changes}
    query = urlencode({k: v for k, v in values.items() if v})
    return "/" + (f"?{query}" if query else "")


# --------------------------------------------------------------------------- dashboard


@routes.get("/")
async def dashboard(request: web.Request) -> web.Response:
    context = context_of(request)
    model = await context.follower.current()
    try:
        filters = Filters.from_query(request.query)
    except ValueError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    groups = model.grouped(filters)
    changes = model.filter_changes(filters, limit=RECENT_CHANGES)
    rule_ids = sorted(set(model.rule_ids()) | {r.id for r in context.settings.rules})
    paused = await running_pauses(context.store, utc_now())
    return page(
        context,
        model,
        "dashboard.html",
        filters=filters,
        groups=groups,
        shown=sum(len(views) for _, views in groups),
        total=len(model.sources),
        changes=changes,
        sources=model.sources,
        companies=model.companies(),
        tags=model.tags(),
        rules=rule_ids,
        severities=list(SEVERITY_ORDER),
        statuses=STATUSES,
        status_counts=model.status_counts(),
        query_link=lambda **kw: query_link(filters, **kw),
        paused=[(p, format_time(p.until)) for p in paused],
    )


# --------------------------------------------------------------------------- source


@routes.get("/sources/{source_id}")
async def source_page(request: web.Request) -> web.Response:
    context, model, view = await requested_source(request, "No source {!r} in the log.")
    current = view.capture_at(None)
    text, text_note, language = await _current_text(context, view, current)
    timeline = list(reversed(view.timeline))
    pause = pause_of_url(await running_pauses(context.store, utc_now()), view.url)
    return page(
        context,
        model,
        "source.html",
        view=view,
        url=safe_href(view.url),
        current=current,
        text=text,
        text_note=text_note,
        language=language,
        current_screenshot=screenshot_href(current.screenshot_sha256) if current else None,
        timeline=timeline[:TIMELINE_ROWS],
        hidden=max(0, len(timeline) - TIMELINE_ROWS),
        notifications=model.notifications,
        pause=pause,
        pause_until=format_time(pause.until) if pause else None,
        figures=await figures_section(context, view.source_id, view.state.settings, request.query),
    )


async def _current_text(
    context: WebContext, view: SourceView, current: GoodCapture | None
) -> tuple[str | None, str, str]:
    if current is None:
        return None, "No good capture yet.", ""
    event = await context.store.get_event(current.seq)
    language = page_language(capture_of(event.event)) if event is not None else ""
    try:
        body = await context.store.get_blob(current.text_sha256)
    except BlobMissingError:
        return None, "The text blob of this capture is missing from the store.", language
    if len(body) > TEXT_CHARS:
        return None, f"The text is {len(body)} bytes long; download it instead.", language
    return body.decode("utf-8", "replace"), "", language


# --------------------------------------------------------------------------- change


@routes.get("/changes/{seq}")
async def change_page(request: web.Request) -> web.Response:
    context = context_of(request)
    model = await context.follower.current()
    seq_text = request.match_info["seq"]
    seq = int(seq_text) if seq_text.isdigit() else 0
    event = await context.store.get_event(seq) if seq else None
    record = model.changes.get(seq)
    if event is not None and record is None and model.source(event.stream) is not None:
        # Alerts link every event they report as /changes/{seq}; a failure or a suspect
        # capture is explained on its source's timeline.
        raise web.HTTPFound(f"/sources/{path_part(event.stream)}#seq-{seq}")
    change = event.event if event is not None else None
    if event is None or not isinstance(change, ChangeDetected) or record is None:
        raise not_found(f"No change #{seq_text} in the log.")
    view = model.source(event.stream)
    capture = change.capture
    diff = change.diff
    rules = rule_views(change.rules)
    changes, diff_note = await _diff_changes(context, seq, change)
    drawn = blocks(changes, terms=all_terms(rules), sentences=all_sentences(rules))
    previous = _previous_capture(view, seq) if view is not None else None
    source_id = event.stream
    recorded = event.recorded_at
    commands = [
        f"monitor evidence {seq} evidence-{seq}",
        f"monitor show {shlex.quote(source_id)} --at {recorded}",
    ]
    if previous is not None:
        commands.append(
            f"monitor diff {shlex.quote(source_id)} --from {previous.recorded_at} --to {recorded}"
        )
        commands.append(f"monitor diff {shlex.quote(source_id)} --from {previous.seq} --to {seq}")
    return page(
        context,
        model,
        "change.html",
        seq=seq,
        event=event,
        record=record,
        view=view,
        capture=capture.data,
        redirects=capture.redirects,
        final_url=safe_href(capture.final_url),
        diff=diff,
        stats=diff.get("stats") or {},
        rules=rules,
        blocks=drawn,
        hidden_blocks=max(0, len(changes) - len(drawn)),
        diff_note=diff_note,
        previous=previous,
        screenshots=_screenshots(seq, record.fetched_at, capture, previous),
        previous_has_no_screenshot=previous is not None
        and screenshot_href(previous.screenshot_sha256) is None,
        language=page_language(capture),
        notifications=model.notifications.get(seq, []),
        commands=commands,
        **(await review_values(request, model, seq, change)),
    )


async def _diff_changes(
    context: WebContext, seq: int, change: ChangeDetected
) -> tuple[list[dict[str, Any]], str]:
    """The block list to draw and a note about where it came from."""
    diff = change.diff
    recorded = list(diff.get("changes") or [])
    if not diff.get("truncated"):
        return recorded, ""
    cached = context.diff_cache.get(seq)
    if cached is not None:
        context.diff_cache.move_to_end(seq)
        return cached, "The recorded diff was shortened; this one was recomputed from the texts."
    try:
        old = (await context.store.get_blob(change.previous)).decode("utf-8")
        new = (await context.store.get_blob(change.capture.text_sha256)).decode("utf-8")
    except BlobMissingError:
        return recorded, "The recorded diff was shortened and a text blob is missing: partial view."
    # Diffing large texts takes a while in pure Python; keep the event loop serving.
    changes = await asyncio.to_thread(recomputed_changes, old, new)
    context.diff_cache[seq] = changes
    while len(context.diff_cache) > DIFF_CACHE_SIZE:
        context.diff_cache.popitem(last=False)
    return changes, "The recorded diff was shortened; this one was recomputed from the texts."


def _screenshots(
    seq: int, fetched_at: str, capture: Capture, previous: GoodCapture | None
) -> list[Screenshot]:
    """Before (when the previous capture took one) and after, in that order."""
    shots = []
    if previous is not None and screenshot_href(previous.screenshot_sha256):
        shots.append(
            Screenshot(
                side="before",
                sha256=previous.screenshot_sha256,
                fetched_at=previous.fetched_at,
                seq=previous.seq,
            )
        )
    after = capture.screenshot_sha256
    if screenshot_href(after):
        shots.append(Screenshot(side="after", sha256=after, fetched_at=fetched_at, seq=seq))
    return shots


def _previous_capture(view: SourceView, seq: int) -> GoodCapture | None:
    found = None
    for capture in view.captures:
        if capture.seq >= seq:
            break
        found = capture
    return found


# --------------------------------------------------------------------------- blobs


@routes.get("/blobs/{sha256}")
async def blob(request: web.Request) -> web.Response:
    """A stored capture as a download: never rendered, never sniffed."""
    context = context_of(request)
    model = await context.follower.current()
    sha256 = request.match_info["sha256"]
    if not SHA256.fullmatch(sha256) or not await context.store.has_blob(sha256):
        raise not_found(f"No blob {sha256!r} in the store.")
    body = await context.store.get_blob(sha256)
    if sha256 in model.text_blobs:
        content_type, name = "text/plain; charset=utf-8", f"{sha256}.txt"
    else:
        content_type, name = "application/octet-stream", f"{sha256}.bin"
    return web.Response(
        body=body,
        headers={
            "Content-Type": content_type,
            "Content-Disposition": f'attachment; filename="{name}"',
            "Content-Security-Policy": DOWNLOAD_CSP,
            "Cache-Control": "private, max-age=86400, immutable",
        },
    )


@routes.get("/screenshots/{sha256}.png")
async def screenshot(request: web.Request) -> web.Response:
    """A screenshot named by a capture, as a PNG image; any other blob is not found here."""
    context = context_of(request)
    model = await context.follower.current()
    sha256 = request.match_info["sha256"]
    if not SHA256.fullmatch(sha256) or sha256 not in model.screenshot_blobs:
        raise not_found(f"No screenshot {sha256!r} in the log.")
    etag = f'"{sha256}"'
    headers = {"ETag": etag, "Cache-Control": SCREENSHOT_CACHE}
    if request.headers.get("If-None-Match") == etag and await context.store.has_blob(sha256):
        return web.Response(status=304, headers=headers)
    try:
        body = await context.store.get_blob(sha256)
    except BlobMissingError:
        raise not_found(f"The screenshot {sha256} is missing from the store.") from None
    if not body.startswith(PNG_SIGNATURE):
        # Named as a screenshot yet not a PNG: never let a browser guess what it is.
        log.warning("screenshot blob %s is not a PNG; not serving it", sha256)
        raise not_found(f"No screenshot {sha256!r} in the log.")
    return web.Response(
        body=body,
        headers={
            **headers,
            "Content-Type": "image/png",
            "Content-Disposition": f'inline; filename="{sha256}.png"',
            "X-Content-Type-Options": "nosniff",
        },
    )

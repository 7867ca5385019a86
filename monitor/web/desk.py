"""The analyst's desk in the web view: the review queue and the review forms.

Reading needs nothing new. Writing — the only writes the web view ever makes —
needs a ``[[user]]`` of role ``analyst``:

* the request carries that user's token (``Authorization: Bearer``, or the
  cookie a ``?token=`` visit set); without one the answer is 401, a viewer's
  token gets 403;
* a form post also carries the user's CSRF token (an HMAC of a fixed label under
  the user's own token: another site can neither read nor compute it) and, when
  the browser sends an ``Origin``, it is this site's; otherwise 403. The JSON
  route takes the bearer header only, which a cross-site form cannot send;
* with no analyst configured, POST is refused (405) like any other write.

What is written is one ``ChangeReviewed`` or ``ChangeAnnotated`` event through
``monitor.desk.review.record_review``, the same function as ``monitor review``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from monitor.config.settings import SEVERITY_ORDER, Settings, UserSettings
from monitor.desk.review import record_review, remove_line
from monitor.desk.triage import REVIEW_STATUSES, Review, ignore_line
from monitor.errors import ReviewError
from monitor.events import ChangeDetected
from monitor.web.context import USER, context_of, json_fields
from monitor.web.model import ReadModel
from monitor.web.records import ChangeRecord

WRITE_ROUTE = re.compile(r"/changes/[0-9]+/review|/api/changes/[0-9]+/reviews")
QUEUE_ROWS = 200
CSRF_FIELD = "csrf"


routes = web.RouteTableDef()


def add_desk_routes(app: web.Application) -> None:
    app.router.add_routes(routes)


def writes_enabled(settings: Settings) -> bool:
    return any(user.role == "analyst" for user in settings.users)


def csrf_token(user: UserSettings) -> str:
    """The CSRF token of a user's forms: stable, secret, useless without the user's token."""
    return hmac.new(
        user.token.encode("utf-8", "surrogatepass"),
        b"monitor csrf\x1f" + user.name.encode(),
        "sha256",
    ).hexdigest()


def request_user(request: web.Request) -> UserSettings | None:
    return request.get(USER)


async def review_values(
    request: web.Request, model: ReadModel, seq: int, change: ChangeDetected
) -> dict[str, Any]:
    """What the change page shows of the triage: status, history, forms, the noise line."""
    user = request_user(request)
    analyst = user if user is not None and user.role == "analyst" else None
    status = model.triage.status(seq)
    noise = status is not None and status.status == "noise"
    noise_line = ignore_line(change.diff) if noise else None
    if noise and noise_line is None:
        noise_line = await remove_line(context_of(request).store, change)
    return {
        "review": status,
        "review_history": list(reversed(model.triage.history.get(seq, []))),
        "reviewer": analyst,
        "csrf": csrf_token(analyst) if analyst is not None else "",
        "review_statuses": REVIEW_STATUSES,
        "noise_line": noise_line,
        "writes_enabled": writes_enabled(context_of(request).settings),
        "member_of": [
            story
            for story in model.stories.stories.values()
            if any(member.get("seq") == seq for member in story.members)
        ],
    }


def review_queue(model: ReadModel) -> list[ChangeRecord]:
    """Substantive changes nobody has reviewed: highest severity first, then newest."""
    reviewed = model.triage.reviewed()
    waiting = [
        c
        for c in model.changes.values()
        if c.classification == "substantive" and c.seq not in reviewed
    ]
    waiting.sort(key=lambda c: (-SEVERITY_ORDER.get(c.severity, 0), -c.seq))
    return waiting


@routes.get("/review")
async def queue_page(request: web.Request) -> web.Response:
    context = context_of(request)
    model = await context.follower.current()
    waiting = review_queue(model)
    latest: dict[int, Review] = {}
    for seq in model.triage.history:
        review = model.triage.status(seq)
        if review is not None:
            latest[seq] = review
    recent = sorted(latest.values(), key=lambda r: -r.seq)[:50]
    return html_page(
        context.render,
        model,
        "review.html",
        waiting=waiting[:QUEUE_ROWS],
        hidden=max(0, len(waiting) - QUEUE_ROWS),
        total=len(waiting),
        recent=recent,
        changes=model.changes,
        sources=model.sources,
    )


def html_page(render: Any, model: ReadModel, template: str, **values: Any) -> web.Response:
    body = render(template, head_seq=model.head_seq, **values)
    return web.Response(text=body, content_type="text/html", charset="utf-8")


def _writer(request: web.Request) -> UserSettings:
    user = request_user(request)
    if user is None:
        raise web.HTTPUnauthorized(
            text="Reviewing needs an analyst's token: send `Authorization: Bearer TOKEN` "
            "or open the view once with ?token=TOKEN.",
            headers={"WWW-Authenticate": 'Bearer realm="monitor"'},
        )
    if user.role != "analyst":
        raise web.HTTPForbidden(text=f"{user.name} is a viewer; only analysts may review.")
    return user


def _same_origin(request: web.Request) -> bool:
    """The browser's ``Origin`` (when it sends one) is this site: its host as asked, or
    ``base_url`` (behind an HTTPS proxy the scheme the server sees is not the browser's)."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # not sent by every browser for same-origin posts; the CSRF token decides
    settings = context_of(request).settings
    configured = settings.web.base_url or settings.monitor.base_url
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    if configured and origin == _origin_of(configured):
        return True
    return parts.scheme in ("http", "https") and parts.netloc == request.host


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


async def _record(request: web.Request, user: UserSettings, status: str, note: str) -> int:
    seq = int(request.match_info["seq"])
    context = context_of(request)
    try:
        await record_review(context.store, seq, by=user.name, status=status or None, note=note)
    except ReviewError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    return seq


@routes.post("/changes/{seq:[0-9]+}/review")
async def review_form(request: web.Request) -> web.Response:
    """POST from the change page's form; answers 303 back to the change."""
    user = _writer(request)
    form = await request.post()
    offered = str(form.get(CSRF_FIELD) or "")
    if not _same_origin(request) or not hmac.compare_digest(
        hashlib.sha256(offered.encode()).digest(),
        hashlib.sha256(csrf_token(user).encode()).digest(),
    ):
        raise web.HTTPForbidden(
            text="The form's CSRF token is missing or wrong; reload the change page and try again."
        )
    seq = await _record(request, user, str(form.get("status") or ""), str(form.get("note") or ""))
    raise web.HTTPSeeOther(f"/changes/{seq}#review")


@routes.post("/api/changes/{seq:[0-9]+}/reviews")
async def review_api(request: web.Request) -> web.Response:
    """POST JSON ``{"status": …, "note": …}`` with a bearer token; answers the recorded event."""
    user = _writer(request)
    scheme, _, _ = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        raise web.HTTPForbidden(text="The API takes writes with `Authorization: Bearer` only.")
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="the body is not JSON") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text='expected a JSON object like {"status": "important"}')
    status, note = body.get("status") or "", body.get("note") or ""
    if not isinstance(status, str) or not isinstance(note, str):
        raise web.HTTPBadRequest(text="status and note must be strings")
    seq = await _record(request, user, status, note)
    model = await context_of(request).follower.current()
    current = model.triage.status(seq)
    return web.json_response(
        {
            "change_seq": seq,
            "status": current.status if current is not None else None,
            "reviews": [review_json(r) for r in model.triage.history.get(seq, [])],
        },
        status=201,
    )


def review_json(review: Review) -> dict[str, Any]:
    return json_fields(review, "seq", "change_seq", "status", "note", "by", "at")

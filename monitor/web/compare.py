"""Compare any two captures of a source in the web view: ``/sources/{id}/compare``.

``?from=SEQ&to=SEQ`` name two good captures (baselines or changes) of the
source; both texts are read from their blobs and diffed with ``monitor.diff``
off the event loop, then drawn like a change page. The source page offers the
two lists to pick from; ``monitor diff ID --from SEQ --to SEQ`` does the same.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from monitor.diff.textdiff import diff_texts
from monitor.errors import BlobMissingError
from monitor.web.context import path_part, requested_source
from monitor.web.diff_view import blocks
from monitor.web.records import GoodCapture, SourceView

routes = web.RouteTableDef()


def add_compare_routes(app: web.Application) -> None:
    app.router.add_routes(routes)


def _pick(view: SourceView, value: str, name: str) -> GoodCapture:
    if not value.isdigit():
        raise web.HTTPBadRequest(text=f"{name} must be the seq of a capture of this source")
    seq = int(value)
    found = next((c for c in view.captures if c.seq == seq), None)
    if found is None:
        raise web.HTTPBadRequest(text=f"#{seq} is not a capture of {view.source_id!r}")
    return found


@routes.get("/sources/{source_id}/compare")
async def compare_page(request: web.Request) -> web.Response:
    context, model, view = await requested_source(request, "No source {!r} in the log.")
    source_id = view.source_id
    if len(view.captures) < 1:
        raise web.HTTPNotFound(text=f"{source_id!r} has no capture to compare yet.")
    last = view.captures[-1]
    default_from = view.captures[-2] if len(view.captures) > 1 else last
    old = _pick(view, request.query.get("from", str(default_from.seq)), "from")
    new = _pick(view, request.query.get("to", str(last.seq)), "to")
    try:
        old_text = (await context.store.get_blob(old.text_sha256)).decode("utf-8")
        new_text = (await context.store.get_blob(new.text_sha256)).decode("utf-8")
    except BlobMissingError as exc:
        raise web.HTTPNotFound(text=f"A text of these captures is missing: {exc}") from None
    diff = await asyncio.to_thread(diff_texts, old_text, new_text)
    changes = [c.to_data() for c in diff.changes]
    drawn = blocks(changes)
    body = context.render(
        "compare.html",
        head_seq=model.head_seq,
        view=view,
        old=old,
        new=new,
        captures=view.captures,
        summary=diff.summary,
        stats=diff.stats,
        blocks=drawn,
        hidden_blocks=max(0, len(changes) - len(drawn)),
        command=f"monitor diff {source_id} --from {old.seq} --to {new.seq}",
        source_path=f"/sources/{path_part(source_id)}",
    )
    return web.Response(text=body, content_type="text/html", charset="utf-8")

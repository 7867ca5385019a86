"""The read-only web view: HTML pages, Atom feeds, a JSON API, health and metrics.

``create_app`` builds the aiohttp application over an open ``EventStore``;
``serve`` runs it on a host and port until its context exits. This module holds
what applies to every route; the rest is split by job: ``web_model`` (the pure
read model folded from the log), ``web_context`` (what handlers share, and the
follower that keeps the model at the log's head), ``web_views`` and
``web_diff`` (HTML pages), ``web_feeds`` (Atom), ``web_api`` and
``web_openapi`` (JSON), ``web_metrics`` (/healthz, /metrics).

Invariants:

* read only by default: nothing here appends events, sets cursors or writes
  blobs; any method other than GET and HEAD is answered 405 before routing. The
  one exception is the analyst's desk (``monitor.web.desk``): with ``[[user]]`` tables of
  role ``analyst`` configured, POST to a review route appends a review to
  ``$reviews`` — only for a request carrying that user's token (401 without one,
  403 for a viewer) and, from a browser, a valid CSRF token (403 otherwise);
* every page-derived string is escaped by the renderer that emits it (Jinja2
  autoescape for HTML, ElementTree for Atom, ``json`` for the API); stored
  captures are only ever served as downloads (``/blobs``), never as HTML; the
  one inline exception is ``/screenshots/{sha256}.png``, which serves only blobs a
  capture names as its screenshot and whose bytes are a PNG, as ``image/png``;
* with ``[web] token`` set, every route except ``/healthz`` needs it (bearer
  header, ``?token=`` for feed readers, or the cookie a ``?token=`` visit sets
  for browsers) or a ``[[user]]`` token; without a token, ``serve`` refuses a
  non-loopback address;
* secrets (channel URLs, header values, the token) are never rendered: pages
  read the log, which holds none, and settings only for web options.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import ipaddress
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources

import jinja2
from aiohttp import web

from monitor.config.settings import Settings
from monitor.errors import MonitorError
from monitor.store import EventStore
from monitor.text.safe import show_bidi
from monitor.web.api import add_api_routes
from monitor.web.compare import add_compare_routes
from monitor.web.context import (
    CONTEXT,
    USER,
    Health,
    LogFollower,
    WebContext,
    context_of,
    html_time,
    long_time,
    path_part,
    short_time,
)
from monitor.web.desk import WRITE_ROUTE, add_desk_routes, writes_enabled
from monitor.web.discover import add_discover_routes
from monitor.web.feeds import add_feed_routes
from monitor.web.metrics import add_ops_routes
from monitor.web.search import add_search_routes
from monitor.web.stories import add_story_routes
from monitor.web.views import add_view_routes, render_error

log = logging.getLogger(__name__)

__all__ = ["check_exposure", "create_app", "is_loopback", "parse_listen", "serve"]

READ_METHODS = frozenset({"GET", "HEAD"})
PUBLIC_PATHS = frozenset({"/healthz"})
TOKEN_COOKIE = "monitor_token"
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def create_app(
    store: EventStore,
    settings: Settings,
    *,
    health: Health | None = None,
) -> web.Application:
    """The web application over ``store``; ``health`` adds the daemon's liveness to /healthz."""
    context = WebContext(
        store=store,
        settings=settings,
        follower=LogFollower(store),
        templates=_templates(),
        health=health,
        static=_static_files(),
    )
    app = web.Application(middlewares=[_read_only, _errors, _auth])
    app[CONTEXT] = context
    app.on_response_prepare.append(_security_headers)
    app.on_startup.append(_warm_up)
    add_view_routes(app)
    add_feed_routes(app)
    add_api_routes(app)
    add_discover_routes(app)
    add_ops_routes(app)
    add_desk_routes(app)
    add_search_routes(app)
    add_story_routes(app)
    add_compare_routes(app)
    app.router.add_get("/static/{name}", _static)
    return app


@contextlib.asynccontextmanager
async def serve(
    store: EventStore,
    settings: Settings,
    host: str,
    port: int,
    *,
    health: Health | None = None,
) -> AsyncIterator[str]:
    """Serve the web view on ``host:port`` (0 picks a free port); yields its base URL.

    Raises MonitorError before binding when ``host`` is not loopback and no token is
    set, or when the address cannot be bound. Stops accepting and closes open
    connections when the context exits.
    """
    check_exposure(host, settings.web.token)
    app = create_app(store, settings, health=health)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            raise MonitorError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}; "
                "is another process using that port?"
            ) from exc
        bound = runner.addresses[0]
        shown = f"[{host}]" if ":" in host else host
        url = f"http://{shown}:{bound[1]}"
        log.info("web view listening on %s", url)
        yield url
    finally:
        await runner.cleanup()


async def _warm_up(app: web.Application) -> None:
    # Fold the log before the first visitor arrives rather than during their request.
    model = await app[CONTEXT].follower.current()
    log.info("web view read %d events", model.head_seq)


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8080`` for IPv6; ``:8080`` means 127.0.0.1) → (host, port)."""
    value = text.strip()
    if value.startswith("["):
        host, sep, port_text = value[1:].partition("]:")
    else:
        host, sep, port_text = value.rpartition(":")
    if not sep or not port_text.isdigit() or int(port_text) > 65535:
        raise MonitorError(
            f"cannot read the listen address {text!r}: use HOST:PORT, like 127.0.0.1:8080 "
            "or [::1]:8080"
        )
    return host or "127.0.0.1", int(port_text)


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere


def check_exposure(host: str, token: str | None) -> None:
    """Refuse to serve the log beyond this machine without a token."""
    if token or is_loopback(host):
        return
    raise MonitorError(
        f"refusing to serve the web view on {host}, which is reachable from other machines, "
        'without a token: set `token` in the [web] table (e.g. token = "${MONITOR_WEB_TOKEN}") '
        "or listen on 127.0.0.1"
    )


# --------------------------------------------------------------------------- middlewares


@web.middleware
async def _read_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    if (
        request.method == "POST"
        and WRITE_ROUTE.fullmatch(request.path)
        and writes_enabled(context_of(request).settings)
    ):
        return await handler(request)
    if request.method not in READ_METHODS:
        return _plain(405, "this view is read-only: only GET and HEAD", {"Allow": "GET, HEAD"})
    return await handler(request)


@web.middleware
async def _auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    settings = context_of(request).settings
    token = settings.web.token
    offered, from_query = _offered_token(request)
    user = next(
        (u for u in settings.users if offered is not None and _same(offered, u.token)), None
    )
    if user is not None:
        request[USER] = user
    if (not token and user is None) or request.path in PUBLIC_PATHS:
        return await handler(request)
    if user is None and (offered is None or token is None or not _same(offered, token)):
        raise web.HTTPUnauthorized(headers={"WWW-Authenticate": 'Bearer realm="monitor"'})
    response = await handler(request)
    if from_query and offered is not None and isinstance(response, web.Response):
        # A browser that opened a ?token= link keeps working on the plain links of the pages.
        response.set_cookie(
            TOKEN_COOKIE,
            offered,
            httponly=True,
            samesite="Strict",
            secure=request.secure,
            path="/",
        )
    return response


def _offered_token(request: web.Request) -> tuple[str | None, bool]:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip(), False
    if "token" in request.query:
        return request.query["token"], True
    cookie = request.cookies.get(TOKEN_COOKIE)
    return (cookie, False) if cookie else (None, False)


def _same(offered: str, token: str) -> bool:
    # Compare digests so the comparison time depends on neither value's length.
    left = hashlib.sha256(offered.encode("utf-8", "surrogatepass")).digest()
    right = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
    return hmac.compare_digest(left, right)


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return render_error(request, exc.status, exc.reason, _message(exc), dict(exc.headers))
    except MonitorError as exc:
        log.warning("web request %s failed: %s", request.path, exc)
        return render_error(request, 503, "Service Unavailable", str(exc), {})


def _message(exc: web.HTTPException) -> str:
    text = exc.text or ""
    if exc.status == 404 and text.startswith("404"):
        return "There is nothing at this address."
    if exc.status == 401:
        return "This view needs a token: send `Authorization: Bearer TOKEN` or add ?token=TOKEN."
    return text


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", PAGE_CSP)
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    headers["X-Frame-Options"] = "DENY"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers.setdefault("Cache-Control", "no-cache")
    if context_of(request).settings.web.token and not headers["Cache-Control"].startswith(
        "private"
    ):
        # Behind a token nothing may sit in a shared cache; an answer that is already
        # private (content-addressed blobs, screenshots) may stay in the browser's.
        headers["Cache-Control"] = "private, no-cache"


def _plain(status: int, text: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=text + "\n", headers=headers)


# --------------------------------------------------------------------------- assets


def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("monitor.web", "templates"),
        autoescape=True,  # every template, whatever its name: page text is untrusted
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["html_time"] = html_time
    env.filters["short_time"] = short_time
    env.filters["long_time"] = long_time
    env.filters["part"] = path_part
    env.filters["show_bidi"] = show_bidi  # page text in links: U+202E must not reorder a row
    return env


def _static_files() -> dict[str, tuple[bytes, str, str]]:
    files = {}
    for entry in resources.files("monitor.web").joinpath("static").iterdir():
        suffix = "." + entry.name.rpartition(".")[2]
        if entry.is_file() and suffix in STATIC_TYPES:
            body = entry.read_bytes()
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            files[entry.name] = (body, STATIC_TYPES[suffix], etag)
    return files


async def _static(request: web.Request) -> web.Response:
    found = context_of(request).static.get(request.match_info["name"])
    if found is None:
        raise web.HTTPNotFound()
    body, content_type, etag = found
    headers = {"ETag": etag, "Cache-Control": "public, max-age=3600"}
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, headers={"Content-Type": content_type, **headers})

"""One page in the browser: load it, wait for its text, read its DOM, route its requests.

What a check sees of a rendered page is a ``FetchResult`` like a plain fetch's, whose
body is the DOM serialized as UTF-8 (or the bytes of a document the browser does not
build: PDF, JSON, text). Every request the page makes is routed here: schemes other
than http(s) are refused, images, fonts and media are skipped unless a screenshot is
wanted, and the source's headers go only to its own origin.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from monitor.check.browser_proxy import PROXY_HEADER
from monitor.check.fetch import FetchResult
from monitor.check.response import kept_headers
from monitor.config.settings import SourceSettings
from monitor.core.moves import origin
from monitor.errors import FetchError

if TYPE_CHECKING:
    from playwright.async_api import Page, Request, Response, Route

log = logging.getLogger(__name__)

SELECT_RESERVE = 0.2  # share of the timeout kept for serializing and the screenshot
BLOCKED_RESOURCES = frozenset({"image", "font", "media"})
LOCAL_SCHEMES = frozenset({"data", "blob", "about"})  # never touch the network
HTML_TYPES = ("text/html", "application/xhtml+xml")

# True once the selected element exists and holds text (or the selector is not
# one the browser understands: then waiting longer cannot help).
_SELECT_HAS_TEXT = """(selector) => {
  try {
    const el = document.querySelector(selector);
    return el !== null && el.textContent.trim().length > 0;
  } catch (e) {
    return true;
  }
}"""
_BODY_HAS_TEXT = "() => document.body !== null && document.body.innerText.trim().length > 0"


@dataclass(frozen=True, kw_only=True)
class Rendered:
    """A page as the browser showed it: the rendered DOM as a fetch result, and its picture."""

    result: FetchResult
    screenshot: bytes | None = None


@dataclass(eq=False)
class Job:
    """What the page in a slot is doing for the current check."""

    block: bool  # no images, fonts or media
    headers: dict[str, str]  # the source's headers, for its own origin only
    origin: tuple[str, str, int | None]
    documents: list[str] = field(default_factory=list)  # main-frame navigations, hops included
    origins: set[str] = field(default_factory=set)  # every origin requested: cleared afterwards


async def load_page(
    page: Page,
    job: Job,
    source: SourceSettings,
    now: datetime,
    *,
    screenshot: bool,
    started: float,
    deadline: float,
    idle_cap: float,
    max_bytes: int,
    proxy_problem: Callable[[list[str], float], FetchError | None],
) -> Rendered:
    """``source.url`` loaded in ``page`` for ``job``; raises ``FetchError`` for what failed.

    ``proxy_problem`` names what the policy proxy refused or could not reach, if a
    navigation failed because of it. ``deadline`` is monotonic time.
    """
    try:
        response = await page.goto(source.url, wait_until="load", timeout=left_ms(deadline))
    except Exception as exc:
        problem = proxy_problem([source.url, *job.documents], started)
        if problem is not None:
            raise problem from exc
        raise
    if response is None:
        raise FetchError("navigation", f"the browser loaded no document for {source.url}")
    status = response.status
    proxy_kind = await response.header_value(PROXY_HEADER)
    if proxy_kind is not None:
        # The answer is the policy proxy's, not the site's.
        problem = proxy_problem([response.url], started)
        raise problem or FetchError(proxy_kind, f"{response.url}: {await response.text()}")
    if status >= 400:
        raise FetchError(
            "http",
            f"HTTP {status} {response.status_text} from {response.url}".strip(),
            status=status,
        )
    headers = await _kept(response)
    content_type = headers.get("content-type", "")
    if content_type and not content_type.lower().startswith(HTML_TYPES):
        # Not a document the browser builds (PDF, JSON, text): its bytes are the page.
        body = await response.body()
    else:
        await settle(page, source, deadline, idle_cap)
        body = (await _content(page, deadline)).encode("utf-8")
        # The body is the DOM serialized as UTF-8, not the bytes the server sent.
        for name in ("content-length", "content-encoding"):
            headers.pop(name, None)
        headers["content-type"] = "text/html; charset=utf-8"
    if len(body) > max_bytes:
        raise FetchError(
            "too_large",
            f"the rendered page {response.url} has {len(body)} bytes; the cap is {max_bytes}",
        )
    picture = None
    if screenshot:
        picture = await page.screenshot(
            full_page=True, type="png", animations="disabled", timeout=left_ms(deadline)
        )
    result = FetchResult(
        requested_url=source.url,
        final_url=page.url,  # after any redirect made by the page's script
        status=status,
        headers=headers,
        redirects=await _redirects(response),
        body=body,
        fetched_at=now,
        elapsed_ms=int((time.monotonic() - started) * 1000),
    )
    return Rendered(result=result, screenshot=picture)


async def settle(page: Page, source: SourceSettings, deadline: float, idle_cap: float) -> None:
    """Wait until the page has built its text, without ever failing the check for it.

    With a ``select``: until the element exists and holds text (the pipeline
    reports a selector that never matched). Without: until the network is
    quiet and the body holds text, for at most ``idle_cap`` seconds, since some
    pages poll forever.
    """
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    if source.select:
        with contextlib.suppress(PlaywrightTimeout):
            await page.wait_for_function(
                _SELECT_HAS_TEXT,
                arg=source.select,
                timeout=left_ms(deadline, 1 - SELECT_RESERVE),
            )
        return
    cap_ms = idle_cap * 1000
    with contextlib.suppress(PlaywrightTimeout):
        await page.wait_for_load_state(
            "networkidle", timeout=min(cap_ms, left_ms(deadline, 1 - SELECT_RESERVE))
        )
    with contextlib.suppress(PlaywrightTimeout):
        await page.wait_for_function(
            _BODY_HAS_TEXT, timeout=min(cap_ms, left_ms(deadline, 1 - SELECT_RESERVE))
        )


async def route_request(route: Route, request: Request, job: Job | None) -> None:
    """Refuse, continue or give headers to one request the page makes."""
    try:
        url = request.url
        refusal = scheme_refusal(url)
        if refusal is not None:
            log.info("browser request refused: %s", refusal)
            await route.abort("blockedbyclient")
            return
        if job is None:  # between checks: about:blank
            await route.continue_()
            return
        here = origin(url)
        if here[0] in ("http", "https"):
            job.origins.add(_origin_text(here))
        if job.block and request.resource_type in BLOCKED_RESOURCES:
            await route.abort("blockedbyclient")
        elif job.headers and here == job.origin:
            # The source's headers may hold secrets: only its own origin gets them.
            await route.continue_(headers={**request.headers, **job.headers})
        else:
            await route.continue_()
    except Exception as exc:
        # The page may have closed meanwhile (a timeout, a crash): nothing left to route.
        log.debug("browser route for %s ended: %s", request.url, exc)


async def _content(page: Page, deadline: float) -> str:
    """The serialized DOM; waits out a navigation the page's script started meanwhile."""
    from playwright.async_api import Error as PlaywrightError

    for _ in range(3):
        try:
            return await page.content()
        except PlaywrightError as exc:
            if "navigat" not in str(exc) and "context was destroyed" not in str(exc):
                raise
            await page.wait_for_load_state("load", timeout=left_ms(deadline))
    return await page.content()


def _origin_text(origin: tuple[str, str, int | None]) -> str:
    scheme, host, port = origin
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}" + ("" if port in (None, default) else f":{port}")


def left_ms(deadline: float, share: float = 1.0) -> float:
    """Milliseconds left before ``deadline`` (monotonic), scaled by ``share``; at least 1."""
    return max(1.0, (deadline - time.monotonic()) * share * 1000)


async def _kept(response: Response) -> dict[str, str]:
    return kept_headers(await response.all_headers())


async def _redirects(response: Response) -> tuple[tuple[str, int], ...]:
    """The redirect hops before the final document, oldest first, as ``(url, status)``."""
    hops: list[tuple[str, int]] = []
    request = response.request.redirected_from
    while request is not None:
        hop = await request.response()
        hops.append((request.url, hop.status if hop is not None else 0))
        request = request.redirected_from
    hops.reverse()
    return tuple(hops)


def is_main_document(request: Request) -> bool:
    if not request.is_navigation_request():
        return False
    try:
        return request.frame.parent_frame is None
    except Exception:  # requests of service workers have no frame
        return False


def scheme_refusal(url: str) -> FetchError | None:
    """Refusal of a URL the browser must not load at all: anything but http(s) and in-page."""
    scheme = urlsplit(url).scheme.lower()
    if scheme in LOCAL_SCHEMES or scheme in ("http", "https"):
        return None
    return FetchError("redirect_scheme", f"refusing {scheme or 'a relative'} URL {url}")


def first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]

"""Pure: has a source's document moved, and where to? (ARCHITECTURE §3, ``SourceMoved``)

A document moves when the URL we check answers a *permanent* redirect (301 or
308) to another URL, or when the page's ``<link rel="canonical">`` changes to
another URL. A temporary redirect (302, 303, 307) is not a move: the next check
asks the old URL again. Where a permanent redirect leads off the site (another
host, ``www.`` aside) a capture whose text differs is suspect rather than a move
(``off_site_move``, read by ``classify.suspect_reason``); a redirect to a login
or home page is suspect too, and so is never recorded as a move. The pipeline
(``pipeline.with_move``) puts the ``SourceMoved`` in front of a check's events.

No I/O and no imports of ours: a capture is the JSON the pipeline stores, a body
is bytes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

PERMANENT = frozenset({301, 308})
CANONICAL_SCAN_BYTES = 256 * 1024  # <link rel=canonical> belongs in the <head>
_LINK_TAG = re.compile(rb"<link\b[^>]*>", re.IGNORECASE)
_ATTRIBUTE = re.compile(rb"""([a-zA-Z-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""")


def permanent_target(capture: Mapping[str, Any]) -> tuple[str, int] | None:
    """Where the unbroken run of permanent redirects from the requested URL ends.

    ``/old`` →301→ ``/new`` →302→ ``/new?session=1``: the document moved to ``/new``;
    the temporary hop after it says nothing about where it lives. Returns the target
    and the first hop's status, or None when the first hop is not permanent.
    """
    redirects = list(capture.get("redirects") or ())
    target: str | None = None
    status = 0
    for index, hop in enumerate(redirects):
        if int(hop.get("status", 0)) not in PERMANENT:
            break
        status = status or int(hop["status"])
        following = redirects[index + 1]["url"] if index + 1 < len(redirects) else None
        target = str(following or capture.get("final_url") or "")
    if not target or target == capture.get("requested_url"):
        return None
    return target, status


def same_site(first: str, second: str) -> bool:
    """Whether two URLs are on one site: the same host, ``www.`` and letter case aside."""
    try:
        one, two = urlsplit(first).hostname or "", urlsplit(second).hostname or ""
    except ValueError:
        return False
    return bool(one) and one.removeprefix("www.") == two.removeprefix("www.")


_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of ``url``, the default port filled in: what "same origin" compares."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port


def safe_move(current: str, target: str, *, sends_headers: bool) -> bool:
    """Whether checks may follow a move from ``current`` to ``target`` from now on.

    Never from https to plain http (what the page says would travel in the clear, and a
    downgrade is how an interception looks). For a source with its own ``headers``, only
    within its origin: those may be credentials, and a redirect to another origin never
    gets them (``check.fetch``); a move must not hand them over either.
    """
    try:
        before, after = origin(current), origin(target)
    except ValueError:
        return False
    if before[0] == "https" and after[0] != "https":
        return False
    return not (sends_headers and before != after)


def off_site_move(capture: Mapping[str, Any]) -> tuple[str, str] | None:
    """``("moved_off_site", detail)`` when a permanent redirect leads to another site."""
    found = permanent_target(capture)
    if found is None:
        return None
    target, status = found
    requested = str(capture.get("requested_url") or "")
    if same_site(requested, target):
        return None
    return (
        "moved_off_site",
        f"the page answered {status} (moved permanently) to another site, {target}; "
        "the source keeps checking its own URL until its configuration says otherwise",
    )


def canonical_link(body: bytes, base_url: str) -> str | None:
    """The absolute URL of the page's ``<link rel="canonical">``, if it has one."""
    # Every check of an HTML page asks: the <link> tags are found in place (no copy of
    # the page's head, no lowered copy of it), and only those naming "canonical" parsed.
    for tag in _LINK_TAG.finditer(body, 0, CANONICAL_SCAN_BYTES):
        if b"canonical" not in tag.group(0).lower():
            continue
        attributes: dict[bytes, bytes] = {}
        for found in _ATTRIBUTE.finditer(tag.group(0)):
            value = found.group(2) or found.group(3) or found.group(4) or b""
            attributes.setdefault(found.group(1).lower(), value)
        if b"canonical" not in attributes.get(b"rel", b"").lower().split():
            continue
        href = attributes.get(b"href", b"").decode("utf-8", "replace").strip()
        if not href:
            return None
        try:
            absolute = urljoin(base_url, href.replace("&amp;", "&"))
        except ValueError:
            return None
        return absolute if urlsplit(absolute).scheme in ("http", "https") else None
    return None

"""Link targets as they appear in a normalized text (only when a source sets ``watch_links``).

Pure. ``clean_url`` resolves a link against the page's base URL and drops
tracking parameters (``utm_*``, ``fbclid``, ``gclid`` …), so that a campaign tag
or a per-visitor click id in a link is never reported as a change of the page.
The query is filtered piece by piece without decoding and re-encoding, so a URL
without tracking parameters comes back byte for byte as resolved.
"""

from __future__ import annotations

import contextlib
from functools import lru_cache
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

# Parameters that identify a visitor, a click or a campaign, never a document.
TRACKING_PARAMS = frozenset(
    {
        "fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "msclkid", "yclid",
        "twclid", "ttclid", "igshid", "li_fat_id", "mc_cid", "mc_eid", "_ga", "_gl",
        "_hsenc", "_hsmi", "mkt_tok", "vero_id", "oly_enc_id", "oly_anon_id",
        "rb_clickid", "s_cid", "srsltid", "spm", "scm", "ref_src",
    }
)  # fmt: skip
TRACKING_PREFIXES = ("utm_",)

# Targets that are not documents: following them shows nothing that can change.
_SKIPPED_SCHEMES = ("javascript:", "data:", "blob:", "about:")


def _is_tracking(name: str) -> bool:
    key = unquote(name).strip().lower()
    return key in TRACKING_PARAMS or key.startswith(TRACKING_PREFIXES)


def strip_tracking(url: str) -> str:
    """``url`` without tracking query parameters (and without a ``?`` left empty)."""
    if "?" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unbalanced "[" in the host: keep the URL as written
        return url
    if not parts.query:
        return url
    pieces = parts.query.split("&")
    kept = [p for p in pieces if p and not _is_tracking(p.split("=", 1)[0])]
    if len(kept) == len(pieces):
        return url
    return urlunsplit(parts._replace(query="&".join(kept)))


def resolve_base(page_url: str | None, base_href: str | None) -> str | None:
    """The base URL links are resolved against: ``<base href>`` over the page URL."""
    if not base_href:
        return page_url
    href = "".join(base_href.split())
    if not page_url:
        return href
    try:
        return urljoin(page_url, href)
    except ValueError:
        return page_url


# A page's links are resolved again when it changes (its old and new versions are read
# one after the other, and most links are the same): remembering the last few thousand
# answers saves a urljoin and a query filter per link (~10 µs each, ~150 a page).
@lru_cache(maxsize=2048)
def clean_url(href: str, base: str | None) -> str | None:
    """The link target as shown in the text, or None for links that are not documents.

    In-page anchors (``#top``) and ``javascript:``/``data:`` targets give None.
    """
    # Browsers drop ASCII whitespace inside href values; so do we (it is markup noise).
    target = "".join(href.split())
    if not target or target.startswith("#") or target.lower().startswith(_SKIPPED_SCHEMES):
        return None
    if base:
        with contextlib.suppress(ValueError):  # a malformed URL is shown as written
            target = urljoin(base, target)
    return strip_tracking(target)

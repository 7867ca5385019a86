"""Pure and bounded: a sitemap or an index page's bytes → the documents it lists.

The sitemap protocol's own limits are ours: at most ``MAX_URLS`` (50,000) URLs
and ``MAX_UNCOMPRESSED`` (50 MB) of XML per sitemap. A gzip body (``.xml.gz``
served as a file) is inflated in steps of ``INFLATE_STEP`` and refused as soon
as it passes the cap, so a bomb costs at most the cap of memory and the time to
inflate it, never what it claims to hold. XML with a document type declaration
is refused (no entity expansion, no external entities); the parser reads
namespaces loosely, as sites write them (sitemaps with or without the
``sitemaps.org`` namespace, ``news:title`` as a title).

An index page is HTML: every ``<a href>`` inside the ``select`` elements (the
whole page without one), made absolute, fragment dropped, http(s) only, with
its link text.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast
from urllib.parse import urljoin, urlsplit, urlunsplit

from selectolax.lexbor import LexborHTMLParser

from monitor.errors import FetchError

MAX_URLS = 50_000
MAX_UNCOMPRESSED = 50 * 1024 * 1024
INFLATE_STEP = 1024 * 1024
MAX_TITLE = 300
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)


@dataclass(frozen=True, kw_only=True)
class Listed:
    """One document a listing names."""

    url: str
    title: str = ""  # link text (index page) or news/image title (sitemap)
    lastmod: str = ""


@dataclass(frozen=True, kw_only=True)
class Sitemap:
    """A parsed sitemap: its documents, or (a sitemap index) the sitemaps it names."""

    urls: tuple[Listed, ...] = ()
    children: tuple[str, ...] = ()


def inflate(body: bytes, url: str, limit: int = MAX_UNCOMPRESSED) -> bytes:
    """``body`` itself, or its gzip (or zlib) content when it is compressed; bounded."""
    if body[:2] != b"\x1f\x8b":
        if len(body) > limit:
            raise _too_large(url, limit)
        return body
    inflater = zlib.decompressobj(wbits=47)  # 32 + 15: gzip or zlib header, detected
    out = bytearray()
    pending = body
    try:
        while pending and not inflater.eof:
            out += inflater.decompress(pending, INFLATE_STEP)
            if len(out) > limit:
                raise _too_large(url, limit)
            pending = inflater.unconsumed_tail
    except zlib.error as exc:
        raise FetchError("decode", f"{url} is not valid gzip: {exc}") from None
    return bytes(out)


def _too_large(url: str, limit: int) -> FetchError:
    return FetchError(
        "too_large",
        f"sitemap {url} holds more than {limit // (1024 * 1024)} MB of XML uncompressed "
        "(the sitemap protocol's limit); refused",
    )


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].lower()


def parse_sitemap(xml: bytes, url: str) -> Sitemap:
    """The documents (or child sitemaps) of a sitemap; ``FetchError`` when it is unusable."""
    if _DOCTYPE.search(xml[:4096]):
        raise FetchError("decode", f"sitemap {url} declares a document type; refused")
    parser: ET.XMLPullParser = ET.XMLPullParser(events=("end",))  # type: ignore[type-arg,unused-ignore]
    urls: list[Listed] = []
    children: list[str] = []
    try:
        for start in range(0, len(xml), INFLATE_STEP):
            parser.feed(xml[start : start + INFLATE_STEP])
            events = cast("Iterator[tuple[str, object]]", parser.read_events())
            for _, element in events:
                if not isinstance(element, ET.Element):
                    continue
                name = _local(element.tag)
                if name not in ("url", "sitemap"):
                    continue
                values: dict[str, str] = {}
                for child in element.iter():  # news:title sits inside news:news
                    values.setdefault(_local(child.tag), (child.text or "").strip())
                loc = values.get("loc", "")
                element.clear()  # keep memory flat over 50,000 entries
                absolute = _http_url(loc, url)
                if absolute is None:
                    continue
                if name == "sitemap":
                    children.append(absolute)
                else:
                    title = " ".join(values.get("title", "").split())[:MAX_TITLE]
                    urls.append(
                        Listed(url=absolute, title=title, lastmod=values.get("lastmod", "")[:40])
                    )
                if len(urls) + len(children) > MAX_URLS:
                    raise FetchError(
                        "too_large",
                        f"sitemap {url} lists more than {MAX_URLS:,} URLs "
                        "(the sitemap protocol's limit); refused",
                    )
        parser.close()
    except ET.ParseError as exc:
        raise FetchError("decode", f"sitemap {url} is not well-formed XML: {exc}") from None
    return Sitemap(urls=tuple(urls), children=tuple(children))


def parse_index(html: bytes, url: str, select: str | None) -> tuple[Listed, ...]:
    """The links of an index page (inside ``select`` when given), first text of each URL."""
    tree = LexborHTMLParser(html)
    roots = tree.css(select) if select else [tree.body or tree.root]
    seen: dict[str, str] = {}
    for root in roots:
        if root is None:
            continue
        for anchor in root.css("a[href]"):
            absolute = _http_url(str(anchor.attributes.get("href") or ""), url)
            if absolute is None or absolute == url:
                continue
            text = " ".join((anchor.text(deep=True, separator=" ") or "").split())[:MAX_TITLE]
            if not seen.get(absolute):
                seen[absolute] = text
            if len(seen) > MAX_URLS:
                raise FetchError("too_large", f"index page {url} has more than {MAX_URLS:,} links")
    return tuple(Listed(url=link, title=title) for link, title in seen.items())


def _http_url(href: str, base: str) -> str | None:
    href = href.strip()
    if not href:
        return None
    try:
        parts = urlsplit(urljoin(base, href))
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return urlunsplit(parts._replace(fragment=""))

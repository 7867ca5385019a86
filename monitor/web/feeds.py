"""Atom 1.0 feeds of changes: all, per source, per tag, per rule.

Entries are ``ChangeDetected`` events, newest first, without those recorded
``silent`` (quiet classes nothing asked to alert) unless the URL has
``?quiet=1``. Ids are permanent and global: ``urn:uuid:`` of the event's own
id, and a UUID derived from the feed's key for the feed, so a reader never
shows an entry twice however the server is reached. The XML is built with
ElementTree (which escapes text and attributes);
the entry content is HTML rendered by the same autoescaping templates as the
pages, so page text is escaped once as HTML and once more as XML, and a feed
reader shows ``<script>`` as text. Characters XML 1.0 forbids are dropped.
"""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from monitor.events import ChangeDetected
from monitor.web.context import WebContext, context_of, path_part, source_or_404
from monitor.web.diff_view import all_sentences, all_terms, blocks, rule_views
from monitor.web.model import Filters, ReadModel
from monitor.web.records import ChangeRecord
from monitor.web.views import _diff_changes as diff_changes

ATOM = "http://www.w3.org/2005/Atom"
FEED_NAMESPACE = uuid.UUID("3c0f8a52-93b6-4f6e-8d7a-5f1b2e4c9a10")
FEED_ENTRIES = 50
ENTRY_BLOCKS = 20  # changed blocks drawn inside one entry
EPOCH = "1970-01-01T00:00:00Z"
ATOM_TYPE = "application/atom+xml"
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

ET.register_namespace("", ATOM)


routes = web.RouteTableDef()


def add_feed_routes(app: web.Application) -> None:
    app.router.add_routes(routes)


def xml_text(value: object) -> str:
    """``value`` as text XML 1.0 can carry (control characters and lone surrogates dropped)."""
    return _NOT_XML.sub("", str(value))


@dataclass(frozen=True)
class Feed:
    """One Atom feed: its key (the feed id's seed), title, changes and HTML page."""

    key: str
    title: str
    filters: Filters
    html_path: str


Describe = Callable[[web.Request, WebContext, ReadModel], Feed]


def _served_at(path: str) -> Callable[[Describe], Describe]:
    """Serve at ``path`` the feed ``describe`` names (it raises 404 for an unknown name)."""

    def register(describe: Describe) -> Describe:
        async def handler(request: web.Request) -> web.Response:
            context = context_of(request)
            model = await context.follower.current()
            return await _feed(request, context, model, describe(request, context, model))

        routes.get(path)(handler)
        return describe

    return register


@_served_at("/feeds/changes.atom")
def all_changes(request: web.Request, context: WebContext, model: ReadModel) -> Feed:
    return Feed("changes", "All changes", Filters(), "/")


@_served_at("/feeds/sources/{source_id}.atom")
def source_changes(request: web.Request, context: WebContext, model: ReadModel) -> Feed:
    view = source_or_404(model, request.match_info["source_id"])
    title = f"{view.company} · {view.title}" if view.company else view.title
    source_id = view.source_id
    path = f"/sources/{path_part(source_id)}"
    return Feed(f"source:{source_id}", f"Changes of {title}", Filters(source=source_id), path)


@_served_at("/feeds/tags/{tag}.atom")
def tag_changes(request: web.Request, context: WebContext, model: ReadModel) -> Feed:
    tag = request.match_info["tag"]
    if tag not in model.tags():
        raise web.HTTPNotFound(text=f"no source has the tag {tag!r}")
    path = f"/?tag={path_part(tag)}"
    return Feed(f"tag:{tag}", f"Changes of pages tagged {tag}", Filters(tag=tag), path)


@_served_at("/feeds/rules/{rule}.atom")
def rule_changes(request: web.Request, context: WebContext, model: ReadModel) -> Feed:
    rule = request.match_info["rule"]
    known = set(model.rule_ids()) | {r.id for r in context.settings.rules}
    if rule not in known:
        raise web.HTTPNotFound(text=f"no rule {rule!r} in the configuration or the log")
    path = f"/?rule={path_part(rule)}"
    return Feed(f"rule:{rule}", f"Changes matching rule {rule}", Filters(rule=rule), path)


async def _feed(
    request: web.Request, context: WebContext, model: ReadModel, described: Feed
) -> web.Response:
    base = context.base_url(request)
    # Quiet changes (volatile, dated, chrome) that were not alerted stay out of feeds,
    # unless the reader asks for them with ?quiet=1.
    loud_only = request.query.get("quiet", "") not in ("1", "true", "yes")
    changes = model.filter_changes(described.filters, limit=FEED_ENTRIES, loud_only=loud_only)
    feed = ET.Element(f"{{{ATOM}}}feed")
    _sub(feed, "id", f"urn:uuid:{uuid.uuid5(FEED_NAMESPACE, described.key)}")
    _sub(feed, "title", f"policy-monitor: {described.title}", type="text")
    _sub(feed, "updated", changes[0].recorded_at if changes else model.head_recorded_at or EPOCH)
    _sub(feed, "link", rel="self", type=ATOM_TYPE, href=base + request.path)
    _sub(feed, "link", rel="alternate", type="text/html", href=base + described.html_path)
    author = _sub(feed, "author")
    _sub(author, "name", "policy-monitor")
    _sub(feed, "generator", "policy-monitor")
    for change in changes:
        await _entry(feed, context, model, change, base)
    body = ET.tostring(feed, encoding="unicode", xml_declaration=False)
    text = '<?xml version="1.0" encoding="utf-8"?>\n' + body + "\n"
    return web.Response(text=text, content_type=ATOM_TYPE, charset="utf-8")


async def _entry(
    feed: ET.Element, context: WebContext, model: ReadModel, change: ChangeRecord, base: str
) -> None:
    view = model.source(change.source_id)
    title = view.title if view is not None else change.source_id
    company = view.company if view is not None else ""
    change_url = f"{base}/changes/{change.seq}"
    entry = _sub(feed, "entry")
    _sub(entry, "id", f"urn:uuid:{change.event_id}")
    heading = f"{company} · {title}" if company else title
    _sub(entry, "title", f"{heading}: {change.summary or change.classification}", type="text")
    _sub(entry, "updated", change.recorded_at)
    _sub(entry, "published", change.recorded_at)
    _sub(entry, "link", rel="alternate", type="text/html", href=change_url)
    for tag in view.tags if view is not None else ():
        _sub(entry, "category", term=tag, scheme=f"{base}/feeds/tags/", label=f"tag {tag}")
    for rule in change.rules:
        _sub(entry, "category", term=rule, scheme=f"{base}/feeds/rules/", label=f"rule {rule}")
    _sub(entry, "category", term=change.severity, label=f"severity {change.severity}")
    _sub(entry, "summary", change.summary or change.classification, type="text")
    event = await context.store.get_event(change.seq)
    drawn, more, rules = [], 0, []
    if event is not None and isinstance(detected := event.event, ChangeDetected):
        rules = rule_views(detected.rules)
        recorded = list(detected.diff.get("changes") or [])
        if detected.diff.get("truncated"):
            # A shortened record: the entry carries the whole readable diff all the same,
            # recomputed from the texts (and cached) as the change page does.
            recorded, _ = await diff_changes(context, change.seq, detected)
        drawn = blocks(
            recorded, terms=all_terms(rules), sentences=all_sentences(rules), limit=ENTRY_BLOCKS
        )
        more = max(0, len(recorded) - len(drawn))
    html = context.render(
        "feed_entry.html",
        severity=change.severity,
        classification=change.classification,
        title=title,
        company=company,
        summary=change.summary,
        page_url=f"{base}/sources/{path_part(change.source_id)}",
        change_url=change_url,
        rules=rules,
        blocks=drawn,
        more=more,
    )
    _sub(entry, "content", html, type="html")


def _sub(parent: ET.Element, name: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM}}}{name}", {k: xml_text(v) for k, v in attrs.items()})
    if text is not None:
        element.text = xml_text(text)
    return element

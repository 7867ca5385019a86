"""Stories across companies in the web view: ``/stories``, ``/stories/{id}``, an Atom feed.

Stories come from the read model's ``StoryBook`` (``monitor.desk.stories``), the
same fold replay uses. A story's feed entry keeps one id for its whole life
(a UUID of the story id) and its ``updated`` time moves when a company joins, so
a feed reader shows the story once and marks it updated.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET

from aiohttp import web

from monitor.desk.stories import StoryRecord
from monitor.web.context import context_of, path_part
from monitor.web.feeds import ATOM, ATOM_TYPE, EPOCH, FEED_ENTRIES, xml_text

STORY_NAMESPACE = uuid.UUID("6d1b0e7a-2f4c-4c8e-9a51-3b7f0c2d8e64")


routes = web.RouteTableDef()


def add_story_routes(app: web.Application) -> None:
    app.router.add_routes(routes)


def newest_first(stories: dict[str, StoryRecord]) -> list[StoryRecord]:
    return sorted(stories.values(), key=lambda s: -s.seq)


def _html(body: str) -> web.Response:
    return web.Response(text=body, content_type="text/html", charset="utf-8")


@routes.get("/stories")
async def stories_page(request: web.Request) -> web.Response:
    context = context_of(request)
    model = await context.follower.current()
    return _html(
        context.render(
            "stories.html", head_seq=model.head_seq, stories=newest_first(model.stories.stories)
        )
    )


@routes.get("/stories/{story_id}")
async def story_page(request: web.Request) -> web.Response:
    context = context_of(request)
    model = await context.follower.current()
    story_id = request.match_info["story_id"]
    story = model.stories.stories.get(story_id)
    if story is None:
        raise web.HTTPNotFound(text=f"No story {story_id!r} in the log.")
    return _html(
        context.render(
            "story.html",
            head_seq=model.head_seq,
            story=story,
            changes=model.changes,
            sources=model.sources,
        )
    )


@routes.get("/feeds/stories.atom")
async def stories_feed(request: web.Request) -> web.Response:
    context = context_of(request)
    model = await context.follower.current()
    base = context.base_url(request)
    stories = newest_first(model.stories.stories)[:FEED_ENTRIES]
    feed = ET.Element(f"{{{ATOM}}}feed")
    _sub(feed, "id", f"urn:uuid:{uuid.uuid5(STORY_NAMESPACE, 'stories')}")
    _sub(feed, "title", "policy-monitor: stories across companies", type="text")
    _sub(feed, "updated", stories[0].recorded_at if stories else model.head_recorded_at or EPOCH)
    _sub(feed, "link", rel="self", type=ATOM_TYPE, href=base + request.path)
    _sub(feed, "link", rel="alternate", type="text/html", href=base + "/stories")
    author = _sub(feed, "author")
    _sub(author, "name", "policy-monitor")
    for story in stories:
        url = f"{base}/stories/{path_part(story.story_id)}"
        entry = _sub(feed, "entry")
        _sub(entry, "id", f"urn:uuid:{uuid.uuid5(STORY_NAMESPACE, story.story_id)}")
        _sub(entry, "title", story.headline, type="text")
        _sub(entry, "updated", story.recorded_at)
        _sub(entry, "published", story.first_recorded_at)
        _sub(entry, "link", rel="alternate", type="text/html", href=url)
        _sub(entry, "category", term=story.rule_id, label=f"rule {story.rule_id}")
        _sub(entry, "category", term=story.severity, label=f"severity {story.severity}")
        _sub(entry, "summary", story.headline, type="text")
        html = context.render("story_entry.html", story=story, base=base, url=url)
        _sub(entry, "content", html, type="html")
    body = ET.tostring(feed, encoding="unicode", xml_declaration=False)
    text = '<?xml version="1.0" encoding="utf-8"?>\n' + body + "\n"
    return web.Response(text=text, content_type=ATOM_TYPE, charset="utf-8")


def _sub(parent: ET.Element, name: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM}}}{name}", {k: xml_text(v) for k, v in attrs.items()})
    if text is not None:
        element.text = xml_text(text)
    return element

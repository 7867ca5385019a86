"""Stories across companies: the July 2020 founding case, replayed from dated captures.

On 6 and 7 July 2020, within a day or two of Hong Kong's national security law,
platform after platform said it was pausing its review of Hong Kong government
requests for user data. Six such pages, checked on the dates their statements
appeared, must make one story with six members in the order they spoke.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from monitor.check.fetch import Fetcher
from monitor.check.netpolicy import NetworkPolicy
from monitor.check.pipeline import CheckRunner
from monitor.config.parse import parse_config
from monitor.config.settings import Settings
from monitor.desk.stories import fold_stories
from monitor.events import StoredEvent
from monitor.notify.render import SourceInfo, render_alert
from monitor.notify.routing import route
from monitor.store import open_store
from tests.pageserver import PageServer

# (source id, company, when the statement appeared) in the order they spoke.
PLATFORMS = [
    ("telegram-hk", "Telegram", datetime(2020, 7, 6, 4, 0, tzinfo=UTC)),
    ("facebook-hk", "Facebook", datetime(2020, 7, 6, 9, 30, tzinfo=UTC)),
    ("google-hk", "Google", datetime(2020, 7, 6, 14, 0, tzinfo=UTC)),
    ("twitter-hk", "Twitter", datetime(2020, 7, 6, 20, 15, tzinfo=UTC)),
    ("microsoft-hk", "Microsoft", datetime(2020, 7, 7, 2, 0, tzinfo=UTC)),
    ("zoom-hk", "Zoom", datetime(2020, 7, 7, 16, 45, tzinfo=UTC)),
]
BEFORE = "We review government requests for user data from every jurisdiction, including Hong Kong."
PAUSED = (
    "We are pausing the review of any government requests for user data from Hong Kong "
    "authorities pending further assessment of the National Security Law."
)


def html(company: str, *paragraphs: str) -> str:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return f"<html><head><title>{company}</title></head><body><main>{body}</main></body></html>"


def config(server: PageServer, *, extra: str = "") -> str:
    sources = "".join(
        f"""
[[source]]
id = "{sid}"
company = "{company}"
title = "Government requests"
url = "{server.url("/" + sid)}"
tags = ["hong-kong"]
"""
        for sid, company, _ in PLATFORMS
    )
    return f"""
[monitor]
database = "sqlite:///unused.db"
{extra}
[[rule]]
id = "hk-requests-paused"
all = ["Hong Kong"]
any = ["pausing", "paused", "pause"]
on = "added"
severity = "high"

[[channel]]
name = "desk"
url = "json://127.0.0.1:9/"
tags = ["hong-kong"]
{sources}"""


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def replay_july_2020(db: Path, extra: str = "") -> tuple[Settings, str]:
    server = PageServer().start()
    try:
        settings = parse_config(config(server, extra=extra), path="s.toml", environ={})
        for sid, company, _ in PLATFORMS:
            server.set(f"/{sid}", html(company, BEFORE))
        clock = Clock(datetime(2020, 7, 1, tzinfo=UTC))
        url = f"sqlite:///{db}"
        policy = NetworkPolicy.from_strings(allow_private=False)
        async with open_store(url) as store, Fetcher(settings.monitor, policy) as fetcher:
            runner = CheckRunner(store=store, fetcher=fetcher, settings=settings, clock=clock)
            await runner.reconcile()
            for source in settings.sources:
                await runner.check(source)
            by_id = {s.id: s for s in settings.sources}
            for sid, company, when in PLATFORMS:
                clock.now = when
                server.set(f"/{sid}", html(company, PAUSED))
                await runner.check(by_id[sid])
            # Facebook says it again a week later: the story does not count it twice.
            clock.now = datetime(2020, 7, 14, tzinfo=UTC)
            server.set("/facebook-hk", html("Facebook", PAUSED, "We paused Hong Kong requests."))
            await runner.check(by_id["facebook-hk"])
        return settings, url
    finally:
        server.stop()


async def test_six_platforms_pausing_hong_kong_requests_make_one_story(tmp_path: Path) -> None:
    settings, url = await replay_july_2020(tmp_path / "monitor.db")
    async with open_store(url, create=False) as store:
        events = await store.read()
    stories = [e for e in events if e.type == "StoryDetected"]
    assert {e.stream for e in stories} == {"$stories"}
    assert len({e.data["story_id"] for e in stories}) == 1  # one story …
    # … recorded when the second company spoke, and again as each one joined
    assert [len(e.data["members"]) for e in stories] == [2, 3, 4, 5, 6]
    last = stories[-1].data
    assert [m["company"] for m in last["members"]] == [c for _, c, _ in PLATFORMS]
    assert [m["at"][:10] for m in last["members"]] == [w.date().isoformat() for *_, w in PLATFORMS]
    assert last["headline"].startswith("6 companies now say: “We are pausing the review")
    assert last["severity"] == "high" and last["tags"] == ["hong-kong"]
    # the fold of the log (replay) is the story the detector recorded
    book = fold_stories(events, settings.stories)
    (record,) = book.stories.values()
    assert [m["seq"] for m in record.members] == [m["seq"] for m in last["members"]]
    assert record.first_seq == stories[0].seq
    # one alert per record, routed by the members' tags, saying how many companies
    alerts = [
        route(e, settings.channels, source_tags=(), rules=settings.rules, alert_after=3)
        for e in stories
    ]
    assert alerts == [("desk",)] * 5
    message = render_alert(stories[-1], SourceInfo(source_id="$stories"), base_url="http://m")
    assert message.title.startswith("[high] 6 companies now say")
    assert "Zoom" in message.body and "http://m/changes/" in message.body


async def test_fewer_companies_than_min_companies_make_no_story(tmp_path: Path) -> None:
    extra = '\n[stories]\nmin_companies = 7\nwindow = "3d"\n'
    _, url = await replay_july_2020(tmp_path / "monitor.db", extra)
    async with open_store(url, create=False) as store:
        assert await store.read(stream="$stories") == []


async def test_a_short_window_splits_the_story(tmp_path: Path) -> None:
    _, url = await replay_july_2020(tmp_path / "monitor.db", '\n[stories]\nwindow = "12h"\n')
    async with open_store(url, create=False) as store:
        stories = await store.read(stream="$stories")
    latest = {e.data["story_id"]: e.data for e in stories}
    groups = sorted([m["company"] for m in d["members"]] for d in latest.values())
    # Telegram 04:00 .. Google 14:00 is within 12 h of the first; Twitter 20:15 is not
    assert ["Telegram", "Facebook", "Google"] in groups
    assert all(len(g) >= 2 for g in groups)


async def test_the_story_page_and_feed(tmp_path: Path) -> None:
    import feedparser
    from aiohttp.test_utils import TestClient, TestServer

    from monitor.web.app import create_app
    from monitor.web.context import CONTEXT
    from tests.web.htmlcheck import parse

    settings, url = await replay_july_2020(tmp_path / "monitor.db")
    async with open_store(url, create=False) as store:
        events = await store.read()
        app = create_app(store, settings)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            listing = parse(await (await client.get("/stories")).text())
            story_id = "hk-requests-paused:added:"
            links = [str(a.get("href")) for a in listing.elements("a")]
            (link,) = [h for h in links if h.startswith("/stories/hk-requests-paused")]
            page = parse(await (await client.get(link)).text())
            text = " ".join(page.text.split())
            positions = [text.index(company) for _, company, _ in PLATFORMS]
            assert positions == sorted(positions)  # in the order they spoke
            assert "6 companies now say" in text
            assert (await client.get("/stories/nope")).status == 404
            first = parse(await (await client.get(f"/changes/{events_seq(events)}")).text())
            assert "Part of a story: 6 companies now say" in " ".join(first.text.split())
            feed = feedparser.parse(await (await client.get("/feeds/stories.atom")).text())
            assert not feed.bozo
            (entry,) = feed.entries
            assert entry.title.startswith("6 companies now say")
            assert "Zoom" in entry.content[0].value
            live = await app[CONTEXT].follower.current()
    replayed = fold_stories(events)
    assert replayed.stories == live.stories.stories
    assert story_id in next(iter(replayed.stories))


async def test_stories_found_while_catching_up_on_history_are_not_alerted(
    tmp_path: Path,
) -> None:
    from monitor.desk.story_detector import StoryDetector
    from monitor.events import NewEvent
    from monitor.store import MemoryEventStore

    settings, url = await replay_july_2020(tmp_path / "monitor.db")
    async with open_store(url, create=False) as store:
        events = [e for e in await store.read() if not e.stream.startswith("$")]
    # The same log without its stories, as a first run of a new version would find it.
    memory = MemoryEventStore()
    for event in events:
        await memory.append(
            [NewEvent(event_id=event.event_id, stream=event.stream, type=event.type,
                      schema=event.schema, data=event.data)]
        )  # fmt: skip
    detector = StoryDetector(settings.stories)
    later = datetime(2100, 1, 1, tzinfo=UTC)
    recorded = await detector.run(memory, later)
    assert [len(e.data["members"]) for e in recorded] == [2, 3, 4, 5, 6]
    assert all(e.data["catch_up"] is True for e in recorded)
    assert all(
        route(e, settings.channels, source_tags=(), rules=settings.rules, alert_after=3) == ()
        for e in recorded
    )
    assert await detector.run(memory, later) == []  # decided once


def events_seq(events: list[StoredEvent]) -> int:
    """The seq of Telegram's change, the story's first member."""
    return next(e.seq for e in events if e.type == "ChangeDetected" and e.stream == "telegram-hk")
